package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"ticketing.dev/common/events"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

func TestPublishConsumeRoundTrip(t *testing.T) {
	n := natskit.StartNATS(t)
	ctx := testkit.Context(t)
	pub := events.NewPublisher(n.JS)

	got := make(chan events.Msg[events.TicketCreatedData], 1)
	l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.TicketCreated, "test-ticket-created",
		func(_ context.Context, m events.Msg[events.TicketCreatedData]) error {
			got <- m
			return nil
		}, events.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()

	want := events.TicketCreatedData{ID: "t1", Version: 0, Title: "concert", Price: 1999, UserID: "u1"}
	if err := events.Publish(ctx, pub, events.TicketCreated, "ticket-created-t1-0", want); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Data != want || m.ID != "ticket-created-t1-0" || m.Subject != "ticket.created" || m.Delivery != 1 {
			t.Fatalf("got %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event not delivered")
	}
}

func TestDuplicateMsgIDDeliveredOnce(t *testing.T) {
	n := natskit.StartNATS(t)
	ctx := testkit.Context(t)
	pub := events.NewPublisher(n.JS)
	for range 3 {
		if err := events.Publish(ctx, pub, events.ExpirationComplete, "same-id", events.ExpirationCompleteData{OrderID: "o1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := events.Publish(ctx, pub, events.ExpirationComplete, "other-id", events.ExpirationCompleteData{OrderID: "o2"}); err != nil {
		t.Fatal(err)
	}
	info, err := n.JS.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	si, _ := info.Info(ctx)
	if si.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want 2 (duplicates dropped)", si.State.Msgs)
	}
}

func TestHandlerOutcomes(t *testing.T) {
	tests := []struct {
		name string
		// handler returns this error for each delivery (1-based)
		result         func(delivery uint64) error
		wantDeliveries uint64
		wantAcked      bool
		// wantOutcomes is how events_handled_total{durable="test"} moves.
		wantOutcomes map[string]float64
	}{
		{"success acks at once", func(uint64) error { return nil }, 1, true, outcomes(1, 0, 0, 0)},
		{"transient failure is retried then succeeds", func(d uint64) error {
			if d < 3 {
				return errors.New("store down")
			}
			return nil
		}, 3, true, outcomes(1, 0, 2, 0)},
		{"retry with delay", func(d uint64) error {
			if d == 1 {
				return events.Retry(50*time.Millisecond, errors.New("version gap"))
			}
			return nil
		}, 2, true, outcomes(1, 1, 0, 0)},
		{"permanent failure stops at the bound", func(uint64) error { return errors.New("always") }, 4, false, outcomes(0, 0, 4, 1)},
		{"a deferred event is not bound by the failure limit", func(d uint64) error {
			if d < 7 {
				return events.Retry(10*time.Millisecond, errors.New("version gap"))
			}
			return nil
		}, 7, true, outcomes(1, 6, 0, 0)},
		{"deferrals do not count toward the failure bound", func(d uint64) error {
			if d <= 6 {
				return events.Retry(10*time.Millisecond, errors.New("version gap"))
			}
			return errors.New("store down")
		}, 10, false, outcomes(0, 6, 4, 1)},
		{"deferrals have their own bound", func(uint64) error {
			return events.Retry(10*time.Millisecond, errors.New("version gap"))
		}, 12, false, outcomes(0, 12, 0, 1)},
		{"malformed is terminated at once", func(uint64) error { return events.Malformed(errors.New("bad")) }, 1, false, outcomes(0, 0, 0, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := natskit.StartNATS(t)
			ctx := testkit.Context(t)
			before := handledTotals(t, "test")
			var deliveries atomic.Uint64
			var acked atomic.Bool
			l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.OrderCompleted, "test",
				func(_ context.Context, m events.Msg[events.OrderCompletedData]) error {
					deliveries.Store(m.Delivery)
					err := tt.result(m.Delivery)
					if err == nil {
						acked.Store(true)
					}
					return err
				}, events.ListenerOptions{MaxFailures: 4, MaxDeliveries: 12, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Stop()
			if err := events.Publish(ctx, events.NewPublisher(n.JS), events.OrderCompleted, "e1", events.OrderCompletedData{ID: "o1", Version: 2}); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, 5*time.Second, func() bool { return deliveries.Load() >= tt.wantDeliveries },
				"deliveries %d, want %d", deliveries.Load(), tt.wantDeliveries)
			// Nothing further may arrive: the message is acked or terminated.
			waitNoPending(t, n.JS, "test")
			if got := deliveries.Load(); got != tt.wantDeliveries {
				t.Fatalf("deliveries = %d, want %d", got, tt.wantDeliveries)
			}
			if acked.Load() != tt.wantAcked {
				t.Fatalf("acked = %v, want %v", acked.Load(), tt.wantAcked)
			}
			// An event that is not acked is never dropped: it is dead-lettered.
			letters, err := events.ListDeadLetters(ctx, n.JS)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 0, false: 1}[tt.wantAcked]; len(letters) != want {
				t.Fatalf("%d dead letters, want %d: %+v", len(letters), want, letters)
			}
			after := handledTotals(t, "test")
			for outcome, want := range tt.wantOutcomes {
				if got := after[outcome] - before[outcome]; got != want {
					t.Errorf("events_handled_total{outcome=%q} moved by %v, want %v", outcome, got, want)
				}
			}
		})
	}
}

func outcomes(handled, deferred, failed, terminated float64) map[string]float64 {
	return map[string]float64{"handled": handled, "deferred": deferred, "failed": failed, "terminated": terminated}
}

// handledTotals reads events_handled_total of a durable, by outcome, from
// the process's registry (what /metrics serves).
func handledTotals(t *testing.T, durable string) map[string]float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "events_handled_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["durable"] == durable {
				out[labels["outcome"]] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// waitNoPending waits until the consumer has nothing pending or awaiting ack.
func waitNoPending(t *testing.T, js jetstream.JetStream, durable string, timeout ...time.Duration) {
	t.Helper()
	ctx := context.Background()
	testkit.Eventually(t, append(timeout, 5*time.Second)[0], func() bool {
		c, err := js.Consumer(ctx, events.StreamName, durable)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
	}, "consumer %s still has pending messages", durable)
}

func TestMalformedPayloadTerminated(t *testing.T) {
	n := natskit.StartNATS(t)
	ctx := testkit.Context(t)
	var calls atomic.Int32
	l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.TicketCreated, "test",
		func(context.Context, events.Msg[events.TicketCreatedData]) error {
			calls.Add(1)
			return nil
		}, events.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	pub := events.NewPublisher(n.JS)
	if err := pub.PublishRaw(ctx, "ticket.created", "bad", []byte(`{"id": 12, "price": "abc"`)); err != nil {
		t.Fatal(err)
	}
	if err := events.Publish(ctx, pub, events.TicketCreated, "good", events.TicketCreatedData{ID: "t"}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return calls.Load() == 1 }, "good event not handled")
	waitNoPending(t, n.JS, "test")
	if calls.Load() != 1 {
		t.Fatalf("handler called %d times, want 1 (malformed never reaches it)", calls.Load())
	}
}

func TestListenersOnOneDurableShareMessages(t *testing.T) {
	n := natskit.StartNATS(t)
	ctx := testkit.Context(t)
	const total = 200
	var mu sync.Mutex
	seen := map[string]int{}
	perListener := [2]int{}
	for i := range 2 {
		l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.OrderCompleted, "shared",
			func(_ context.Context, m events.Msg[events.OrderCompletedData]) error {
				mu.Lock()
				seen[m.Data.ID]++
				perListener[i]++
				mu.Unlock()
				time.Sleep(time.Millisecond) // give the other replica a chance
				return nil
			}, events.ListenerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Stop()
	}
	pub := events.NewPublisher(n.JS)
	for i := range total {
		id := string(rune('a'+i%26)) + time.Now().Format("150405.000000000")
		if err := events.Publish(ctx, pub, events.OrderCompleted, id, events.OrderCompletedData{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == total
	}, "not every message handled")
	waitNoPending(t, n.JS, "shared")
	mu.Lock()
	defer mu.Unlock()
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("message %s handled %d times", id, c)
		}
	}
	if perListener[0] == 0 || perListener[1] == 0 {
		t.Fatalf("work not shared: %v", perListener)
	}
}

// After the broker loses the consumer (or the whole stream), the listener
// provisions it again and goes on handling events.
func TestListenerRecoversFromDeletedStream(t *testing.T) {
	n := natskit.StartNATS(t)
	ctx := testkit.Context(t)
	got := make(chan string, 10)
	l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.OrderCompleted, "recover",
		func(_ context.Context, m events.Msg[events.OrderCompletedData]) error {
			got <- m.Data.ID
			return nil
		}, events.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	pub := events.NewPublisher(n.JS)
	if err := events.Publish(ctx, pub, events.OrderCompleted, "before", events.OrderCompletedData{ID: "before"}); err != nil {
		t.Fatal(err)
	}
	if id := <-got; id != "before" {
		t.Fatalf("got %s", id)
	}
	if err := n.JS.DeleteStream(ctx, events.StreamName); err != nil {
		t.Fatal(err)
	}
	// The listener recreates the stream and its consumer; publish until it
	// has (a publish with no stream fails).
	testkit.Eventually(t, 15*time.Second, func() bool {
		return events.Publish(ctx, pub, events.OrderCompleted, "after", events.OrderCompletedData{ID: "after"}) == nil
	}, "stream not recreated")
	receive(t, got, "after", 15*time.Second, "listener did not resume after the stream was deleted")
}

// receive waits for the next id the handler saw and checks it is want.
func receive(t *testing.T, got <-chan string, want string, timeout time.Duration, missing string) {
	t.Helper()
	select {
	case id := <-got:
		if id != want {
			t.Fatalf("got %s, want %s", id, want)
		}
	case <-time.After(timeout):
		t.Fatal(missing)
	}
}

// A service starts before its broker: Connect returns at once, a listener
// waits for the broker, and once a server listens the streams are made (by
// Connect's keeper) and the listener handles what is published.
func TestConnectAndListenBeforeTheBroker(t *testing.T) {
	ctx := testkit.Context(t)
	port := testkit.FreePort(t)
	nc, js, err := events.Connect(ctx, fmt.Sprintf("nats://127.0.0.1:%d", port), "early", 1, testkit.Logger(t),
		events.UserOptions(events.AdminUser, natskit.Password(events.AdminUser))...)
	if err != nil {
		t.Fatalf("Connect without a server: %v", err)
	}
	defer nc.Close()
	got := make(chan string, 1)
	l, err := events.Listen(ctx, js, testkit.Logger(t), events.OrderCompleted, "early",
		func(_ context.Context, m events.Msg[events.OrderCompletedData]) error {
			got <- m.Data.ID
			return nil
		}, events.ListenerOptions{})
	if err != nil {
		t.Fatalf("Listen without a server: %v", err)
	}
	defer l.Stop()
	pub := events.NewPublisher(js)
	if err := events.Publish(ctx, pub, events.OrderCompleted, "too-early", events.OrderCompletedData{ID: "x"}); err == nil {
		t.Fatal("a publish without a server was confirmed")
	}

	natskit.StartServer(t, port)
	testkit.Eventually(t, 20*time.Second, func() bool {
		return events.Publish(ctx, pub, events.OrderCompleted, "o1", events.OrderCompletedData{ID: "o1"}) == nil
	}, "no stream once the server is up")
	// The first confirmed publish means the event stream exists, and the
	// dead-letter stream is made before it: both are there now.
	for _, name := range []string{events.StreamName, events.DeadLetterStream} {
		if _, err := js.Stream(ctx, name); err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
	}
	receive(t, got, "o1", 20*time.Second, "the listener did not start once the broker was up")
}

// A broker that answers and refuses the consumer is reported at once: here
// a durable of the same name exists with a delivery policy the broker does
// not let change.
func TestListenReportsARefusedConsumer(t *testing.T) {
	n := natskit.StartNATS(t)
	ctx := testkit.Context(t)
	if _, err := n.JS.CreateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{
		Durable: "refused", FilterSubject: events.OrderCompleted.Subject,
		AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverNewPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	_, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.OrderCompleted, "refused",
		func(context.Context, events.Msg[events.OrderCompletedData]) error { return nil }, events.ListenerOptions{})
	if err == nil {
		t.Fatal("a consumer the broker refuses was accepted")
	}
}

// EnsureStream writes a stream only when it differs from what the service
// asks for: a start finds the streams as they are and updates none (each
// update also raced nats-server's consumer creation on that stream), and a
// stream someone changed is put back.
func TestEnsureStreamUpdatesOnlyWhatDiffers(t *testing.T) {
	n := natskit.StartNATS(t)
	ctx := testkit.Context(t)
	updates, err := n.Conn.SubscribeSync("$JS.API.STREAM.UPDATE.>")
	if err != nil {
		t.Fatal(err)
	}
	// drain is the update requests sent on n's own connection, which also
	// carries the subscription: every one sent so far is in hand once the
	// connection is flushed.
	drain := func() []string {
		t.Helper()
		if err := n.Conn.Flush(); err != nil {
			t.Fatal(err)
		}
		var subjects []string
		for {
			m, err := updates.NextMsg(0)
			if err != nil {
				return subjects
			}
			subjects = append(subjects, m.Subject)
		}
	}
	ensure := func() []string {
		t.Helper()
		if err := events.EnsureStream(ctx, n.JS, 1); err != nil {
			t.Fatal(err)
		}
		return drain()
	}
	if got := ensure(); len(got) != 0 {
		t.Fatalf("streams as made were updated: %v", got)
	}
	s, err := n.JS.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	changed := s.CachedInfo().Config
	changed.MaxAge = 2 * events.MaxAge
	if _, err := n.JS.UpdateStream(ctx, changed); err != nil {
		t.Fatal(err)
	}
	drain() // the test's own update
	if got := ensure(); len(got) != 1 || got[0] != "$JS.API.STREAM.UPDATE."+events.StreamName {
		t.Fatalf("a changed stream: updates %v, want the one of %s", got, events.StreamName)
	}
	if got := ensure(); len(got) != 0 {
		t.Fatalf("after putting it back, updated again: %v", got)
	}
	if s, err = n.JS.Stream(ctx, events.StreamName); err != nil || s.CachedInfo().Config.MaxAge != events.MaxAge {
		t.Fatalf("MaxAge %v (%v), want it put back to %v", s.CachedInfo().Config.MaxAge, err, events.MaxAge)
	}
}
