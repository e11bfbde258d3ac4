package events

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Outcomes of a delivered event, the outcome label of events_handled_total.
const (
	outcomeHandled    = "handled"    // acknowledged
	outcomeDeferred   = "deferred"   // Retry: waited out, not a failure
	outcomeFailed     = "failed"     // an error: retried with backoff
	outcomeTerminated = "terminated" // dead-lettered, then terminated
)

var eventsHandled = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "events_handled_total",
	Help: "Event deliveries answered by this process's listeners, by durable and outcome (handled, deferred, failed, terminated).",
}, []string{"durable", "outcome"})

var handleDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "events_handle_duration_seconds",
	Help:    "Time a listener's handler took for one delivery, by durable.",
	Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
}, []string{"durable"})

// Consumer lag, read from the broker at each scrape (consumer info of each
// durable a listener of this process uses): events not yet delivered, and
// delivered but not yet answered.
var (
	lagPendingDesc = prometheus.NewDesc("events_consumer_pending",
		"Events in the stream the durable has not been delivered yet.", []string{"durable"}, nil)
	lagAckPendingDesc = prometheus.NewDesc("events_consumer_ack_pending",
		"Events delivered to the durable and not yet answered.", []string{"durable"}, nil)
)

// lag is the collector of the consumer lag of every running listener.
var lag = func() *lagCollector {
	c := &lagCollector{listeners: map[*Listener]struct{}{}}
	prometheus.MustRegister(c)
	return c
}()

type lagCollector struct {
	mu        sync.Mutex
	listeners map[*Listener]struct{}
}

func (c *lagCollector) add(l *Listener) {
	c.mu.Lock()
	c.listeners[l] = struct{}{}
	c.mu.Unlock()
}

func (c *lagCollector) remove(l *Listener) {
	c.mu.Lock()
	delete(c.listeners, l)
	c.mu.Unlock()
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagPendingDesc
	ch <- lagAckPendingDesc
}

// Collect asks the broker about each durable once (replicas of a service in
// one process share one), within two seconds in all; a durable the broker
// does not answer for is left out of this scrape.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	byDurable := map[string]jetstream.JetStream{}
	for l := range c.listeners {
		byDurable[l.config.Durable] = l.js
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for durable, js := range byDurable {
		if !js.Conn().IsConnected() {
			continue
		}
		cons, err := js.Consumer(ctx, StreamName, durable)
		if err != nil {
			continue
		}
		info := cons.CachedInfo()
		ch <- prometheus.MustNewConstMetric(lagPendingDesc, prometheus.GaugeValue, float64(info.NumPending), durable)
		ch <- prometheus.MustNewConstMetric(lagAckPendingDesc, prometheus.GaugeValue, float64(info.NumAckPending), durable)
	}
}
