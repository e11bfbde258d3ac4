package events_test

import (
	"context"
	"strconv"
	"testing"

	"ticketing.dev/common/events"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

// BenchmarkPublishConsume measures a confirmed publish through the typed
// publisher and its delivery to a typed listener (ack included).
func BenchmarkPublishConsume(b *testing.B) {
	n := natskit.StartNATS(b)
	ctx := testkit.Context(b)
	pub := events.NewPublisher(n.JS)
	done := make(chan struct{}, 1024)
	l, err := events.Listen(ctx, n.JS, testkit.Logger(b), events.OrderCompleted, "bench",
		func(context.Context, events.Msg[events.OrderCompletedData]) error {
			done <- struct{}{}
			return nil
		}, events.ListenerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Stop()
	b.ResetTimer()
	go func() {
		for i := range b.N {
			id := strconv.Itoa(i)
			if err := events.Publish(ctx, pub, events.OrderCompleted, id, events.OrderCompletedData{ID: id, Version: 1}); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	for range b.N {
		<-done
	}
}
