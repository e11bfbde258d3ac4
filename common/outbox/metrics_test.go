package outbox_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
)

// gauges reads the outbox gauges of one collection from the process's
// registry (what /metrics serves); absent: -1.
func gauges(t *testing.T, collection string) (pending, age float64) {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	pending, age = -1, -1
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "collection" || l.GetValue() != collection {
					continue
				}
				switch f.GetName() {
				case "outbox_pending_documents":
					pending = m.GetGauge().GetValue()
				case "outbox_oldest_pending_age_seconds":
					age = m.GetGauge().GetValue()
				}
			}
		}
	}
	return pending, age
}

// While the broker is away the backlog shows on /metrics, with the age of
// its oldest event; once published, it is 0 and 0; a stopped relay's
// collection is gone from the scrape.
func TestBacklogMetrics(t *testing.T) {
	ctx := testkit.Context(t)
	coll := mongokit.Mongo(t).Collection(testkit.RandomName("backlog_"))
	n := natskit.StartNATS(t)
	nc, js := natskit.Connect(t, n.URL)

	id := bson.NewObjectID()
	d := doc{ID: id, Title: "a"}
	d.Add(ctx, ticketEvent(t, id, 0, "a"))
	if _, err := coll.InsertOne(ctx, d); err != nil {
		t.Fatal(err)
	}
	nc.Close() // the relay's publisher cannot reach the broker
	relay := outbox.NewRelay(coll, events.NewPublisher(js), testkit.Logger(t), 100*time.Millisecond)
	stop := relay.Start()
	testkit.Eventually(t, 10*time.Second, func() bool {
		pending, age := gauges(t, coll.Name())
		return pending == 1 && age > 0
	}, "backlog not reported")

	stop()
	if pending, _ := gauges(t, coll.Name()); pending != -1 {
		t.Fatalf("a stopped relay still reports %v pending", pending)
	}
	relay = outbox.NewRelay(coll, events.NewPublisher(n.JS), testkit.Logger(t), 100*time.Millisecond)
	defer relay.Start()()
	testkit.Eventually(t, 10*time.Second, func() bool {
		pending, age := gauges(t, coll.Name())
		return pending == 0 && age == 0
	}, "backlog after publishing")
}
