package main

import (
	"slices"
	"testing"
	"time"

	"ticketing.dev/common/outbox"
	"ticketing.dev/testkit"
)

// BenchmarkFiringLateness measures how long after expiresAt each of 200
// orders expires (stream time of expiration.complete minus expiresAt), from
// order.created through Redis to the published event:
//
//	go test -run '^$' -bench FiringLateness ./expiration/
//
// spread: expiresAt 10 ms apart over two seconds, so every fraction of a
// second occurs; burst: all 200 orders expire at the same instant.
func BenchmarkFiringLateness(b *testing.B) {
	const orders = 200
	for _, shape := range []struct {
		name string
		step time.Duration
	}{{"spread", 10 * time.Millisecond}, {"dense", 5 * time.Millisecond}, {"burst", 0}} {
		b.Run(shape.name, func(b *testing.B) {
			h := newHarness(b)
			h.start(b)
			fired := recordFirings(b, h.nats.JS)
			var lateness []time.Duration
			for b.Loop() {
				due := map[string]time.Time{}
				first := time.Now().Add(2 * time.Second)
				for i := range orders {
					id := newID()
					due[id] = first.Add(time.Duration(i) * shape.step)
					h.orderCreated(b, id, due[id], outbox.ID("order.created", id, 0))
				}
				testkit.Eventually(b, 20*time.Second, func() bool {
					n := 0
					for _, f := range fired.list() {
						if _, ok := due[f.OrderID]; ok {
							n++
						}
					}
					return n == orders
				}, "not every order expired")
				for _, f := range fired.list() {
					if at, ok := due[f.OrderID]; ok {
						lateness = append(lateness, f.At.Sub(at))
					}
				}
			}
			slices.Sort(lateness)
			if lateness[0] < 0 {
				b.Errorf("an order expired %s before expiresAt", -lateness[0])
			}
			pct := func(p float64) time.Duration { return lateness[int(p*float64(len(lateness)-1))] }
			b.ReportMetric(float64(pct(0.5).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lateness[len(lateness)-1].Microseconds())/1000, "max-ms")
			b.ReportMetric(float64(lateness[0].Microseconds())/1000, "min-ms")
			b.Logf("%d orders: lateness min %s, p50 %s, p99 %s, max %s", len(lateness),
				lateness[0], pct(0.5), pct(0.99), lateness[len(lateness)-1])
		})
	}
}
