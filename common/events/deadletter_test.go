package events_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// A buffered event must not age past AckWait behind a slow one: with the
// client's default prefetch, 40 events of 100 ms with a 1 s AckWait were
// handled 88 times.
func TestSlowHandlerHandlesEachEventOnce(t *testing.T) {
	tests := []struct {
		name   string
		events int
		work   time.Duration
	}{
		{"many events, each a tenth of AckWait", 40, 100 * time.Millisecond},
		{"one event, three times AckWait", 1, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testkit.StartNATS(t)
			ctx := testkit.Context(t)
			var mu sync.Mutex
			runs := map[string]int{}
			l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.OrderCompleted, "slow",
				func(ctx context.Context, m events.Msg[events.OrderCompletedData]) error {
					mu.Lock()
					runs[m.Data.ID]++
					mu.Unlock()
					select {
					case <-time.After(tt.work):
					case <-ctx.Done():
						return ctx.Err()
					}
					return nil
				}, events.ListenerOptions{AckWait: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Stop()
			pub := events.NewPublisher(n.JS)
			for i := range tt.events {
				id := string(rune('a'+i%26)) + string(rune('a'+i/26))
				if err := events.Publish(ctx, pub, events.OrderCompleted, id, events.OrderCompletedData{ID: id}); err != nil {
					t.Fatal(err)
				}
			}
			waitNoPending(t, n.JS, "slow", time.Duration(tt.events)*tt.work+10*time.Second)
			mu.Lock()
			defer mu.Unlock()
			if len(runs) != tt.events {
				t.Fatalf("%d events handled, want %d", len(runs), tt.events)
			}
			for id, c := range runs {
				if c != 1 {
					t.Errorf("event %s handled %d times, want once", id, c)
				}
			}
		})
	}
}

// A malformed event is copied, with why and where from, to the dead-letter
// stream; replayed, it reaches the handler again and leaves the stream.
func TestDeadLetterListAndReplay(t *testing.T) {
	n := testkit.StartNATS(t)
	ctx := testkit.Context(t)
	var accept atomic.Bool
	handled := make(chan string, 10)
	l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.OrderCompleted, "dlq-test",
		func(_ context.Context, m events.Msg[events.OrderCompletedData]) error {
			if !accept.Load() {
				return events.Malformed(errors.New("cannot handle this yet"))
			}
			handled <- m.Data.ID
			return nil
		}, events.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	msg := nats.NewMsg("order.completed")
	msg.Data = []byte(`{"id":"o1","version":1}`)
	msg.Header.Set("traceparent", traceparent)
	if _, err := n.JS.PublishMsg(ctx, msg, jetstream.WithMsgID("evt-1")); err != nil {
		t.Fatal(err)
	}
	var letters []events.DeadLetter
	testkit.Eventually(t, 5*time.Second, func() bool {
		letters, err = events.ListDeadLetters(ctx, n.JS)
		return err == nil && len(letters) == 1
	}, "no dead letter (err %v)", err)
	dl := letters[0]
	if dl.Subject != "order.completed" || dl.Durable != "dlq-test" || dl.MsgID != "evt-1" || dl.Deliveries != 1 ||
		dl.StreamSeq != 1 || dl.Reason == "" || dl.Published.IsZero() || dl.Header.Get("traceparent") != traceparent {
		t.Fatalf("dead letter lacks its origin: %+v", dl)
	}
	waitNoPending(t, n.JS, "dlq-test", 5*time.Second)

	accept.Store(true)
	if _, err := events.ReplayDeadLetter(ctx, n.JS, dl.Seq); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-handled:
		if id != "o1" {
			t.Fatalf("replayed %q, want o1", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("replayed event not handled")
	}
	if letters, err := events.ListDeadLetters(ctx, n.JS); err != nil || len(letters) != 0 {
		t.Fatalf("after replay: %d dead letters (err %v), want none", len(letters), err)
	}
	if _, err := events.ReplayDeadLetter(ctx, n.JS, dl.Seq); err == nil {
		t.Fatal("a replayed dead letter was replayed again")
	}
}

// When the dead letter cannot be stored, the event is kept and redelivered
// until it can: it is never terminated without its copy.
func TestDeadLetterWaitsForItsStream(t *testing.T) {
	n := testkit.StartNATS(t)
	ctx := testkit.Context(t)
	if err := n.JS.DeleteStream(ctx, events.DeadLetterStream); err != nil {
		t.Fatal(err)
	}
	var deliveries atomic.Int32
	l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.OrderCompleted, "dlq-wait",
		func(context.Context, events.Msg[events.OrderCompletedData]) error {
			deliveries.Add(1)
			return events.Malformed(errors.New("never"))
		}, events.ListenerOptions{MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if err := events.Publish(ctx, events.NewPublisher(n.JS), events.OrderCompleted, "evt-1",
		events.OrderCompletedData{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return deliveries.Load() >= 3 },
		"the event was not kept while the dead-letter stream was missing")
	if err := events.EnsureStream(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		letters, err := events.ListDeadLetters(ctx, n.JS)
		return err == nil && len(letters) == 1
	}, "event not dead-lettered once its stream exists")
	waitNoPending(t, n.JS, "dlq-wait", 5*time.Second)
}

// A dead letter older than the stream's retention is not replayed: services
// may have forgotten what guards them against it.
func TestReplayRefusesEventsOlderThanTheStream(t *testing.T) {
	n := testkit.StartNATS(t)
	ctx := testkit.Context(t)
	msg := nats.NewMsg("dlq.old-test")
	msg.Data = []byte(`{"id":"o1","version":1}`)
	msg.Header.Set(events.HeaderDLQSubject, "order.completed")
	msg.Header.Set(events.HeaderDLQMsgID, "ancient")
	msg.Header.Set(events.HeaderDLQPublished, time.Now().Add(-events.MaxAge-time.Hour).UTC().Format(time.RFC3339Nano))
	ack, err := n.JS.PublishMsg(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.ReplayDeadLetter(ctx, n.JS, ack.Sequence); err == nil {
		t.Fatal("an event older than the stream's retention was replayed")
	}
	if letters, err := events.ListDeadLetters(ctx, n.JS); err != nil || len(letters) != 1 {
		t.Fatalf("the refused dead letter must stay: %d (err %v)", len(letters), err)
	}
}
