package outbox

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The outbox backlog of each relayed collection, read from the store at
// each scrape: how many documents hold events not yet published, and how
// long the oldest of those events has waited. A backlog that grows, or an
// age beyond a few seconds, is a relay that cannot publish (NATS away).
var (
	pendingDesc = prometheus.NewDesc("outbox_pending_documents",
		"Documents holding events the relay has not published yet.", []string{"collection"}, nil)
	oldestDesc = prometheus.NewDesc("outbox_oldest_pending_age_seconds",
		"Age of the oldest event not yet published (0: none).", []string{"collection"}, nil)
)

// backlogScan bounds the documents read to find the oldest event: past it,
// the age is a lower bound, and the count says enough.
const backlogScan = 1000

var backlog = func() *backlogCollector {
	c := &backlogCollector{relays: map[*Relay]struct{}{}}
	prometheus.MustRegister(c)
	return c
}()

type backlogCollector struct {
	mu     sync.Mutex
	relays map[*Relay]struct{}
}

func (c *backlogCollector) add(r *Relay) {
	c.mu.Lock()
	c.relays[r] = struct{}{}
	c.mu.Unlock()
}

func (c *backlogCollector) remove(r *Relay) {
	c.mu.Lock()
	delete(c.relays, r)
	c.mu.Unlock()
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- oldestDesc
}

// Collect reads each collection once (replicas of a service in one process
// share it), within two seconds; a store that does not answer leaves the
// collection out of this scrape.
func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	byName := map[string]*Relay{}
	for r := range c.relays {
		byName[r.coll.Name()] = r
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for name, r := range byName {
		n, oldest, err := r.backlog(ctx)
		if err != nil {
			continue
		}
		age := 0.0
		if !oldest.IsZero() {
			age = max(time.Since(oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(n), name)
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age, name)
	}
}

// backlog counts the documents with pending events and finds the oldest
// event among the first backlogScan of them.
func (r *Relay) backlog(ctx context.Context) (int64, time.Time, error) {
	n, err := r.coll.CountDocuments(ctx, PendingFilter)
	if err != nil || n == 0 {
		return n, time.Time{}, err
	}
	cur, err := r.coll.Find(ctx, PendingFilter,
		options.Find().SetProjection(bson.D{{Key: "outbox", Value: 1}}).SetLimit(backlogScan))
	if err != nil {
		return 0, time.Time{}, err
	}
	var docs []pendingDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, time.Time{}, err
	}
	var oldest time.Time
	for _, d := range docs {
		for _, e := range d.Outbox {
			if oldest.IsZero() || e.At.Before(oldest) {
				oldest = e.At
			}
		}
	}
	return n, oldest, nil
}
