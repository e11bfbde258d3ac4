package events_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"ticketing.dev/common/events"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

// gauge reads a gauge of a durable from the process's registry (-1: absent).
func gauge(t *testing.T, name, durable string) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "durable" && l.GetValue() == durable {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// The consumer lag of a running listener is read from the broker at each
// scrape: with one event in hand and the others waiting, both show; once
// they are handled, both are 0; a stopped listener's durable is gone.
func TestConsumerLagMetrics(t *testing.T) {
	n := natskit.StartNATS(t)
	ctx := testkit.Context(t)
	release := make(chan struct{})
	l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.OrderCompleted, "lag",
		func(ctx context.Context, _ events.Msg[events.OrderCompletedData]) error {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}, events.ListenerOptions{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(n.JS)
	for i := range 5 {
		if err := events.Publish(ctx, pub, events.OrderCompleted, fmt.Sprint("lag-", i), events.OrderCompletedData{ID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		return gauge(t, "events_consumer_ack_pending", "lag") == 1 && gauge(t, "events_consumer_pending", "lag") == 4
	}, "lag: pending %v, ack pending %v, want 4 and 1",
		gauge(t, "events_consumer_pending", "lag"), gauge(t, "events_consumer_ack_pending", "lag"))
	close(release)
	testkit.Eventually(t, 10*time.Second, func() bool {
		return gauge(t, "events_consumer_ack_pending", "lag") == 0 && gauge(t, "events_consumer_pending", "lag") == 0
	}, "lag after handling: pending %v, ack pending %v",
		gauge(t, "events_consumer_pending", "lag"), gauge(t, "events_consumer_ack_pending", "lag"))
	l.Stop()
	if v := gauge(t, "events_consumer_pending", "lag"); v != -1 {
		t.Fatalf("a stopped listener's lag is still reported: %v", v)
	}
}
