package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
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
			n := natskit.StartNATS(t)
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
	n := natskit.StartNATS(t)
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
// until it can: it is never terminated without its copy. (Here another
// stream holds the dead-letter subjects, so the listener can neither store
// the copy nor make the dead-letter stream again.)
func TestDeadLetterWaitsForItsStream(t *testing.T) {
	n := natskit.StartNATS(t)
	ctx := testkit.Context(t)
	if err := n.JS.DeleteStream(ctx, events.DeadLetterStream); err != nil {
		t.Fatal(err)
	}
	if _, err := n.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "SQUATTER", Subjects: []string{"dlq.>"}}); err != nil {
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
	if letters, err := n.JS.Stream(ctx, "SQUATTER"); err != nil {
		t.Fatal(err)
	} else if info, _ := letters.Info(ctx); info.State.Msgs != 0 {
		t.Fatalf("%d copies went to the wrong stream", info.State.Msgs)
	}
	// Once the subjects are free, the listener makes its stream again.
	if err := n.JS.DeleteStream(ctx, "SQUATTER"); err != nil {
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
	n := natskit.StartNATS(t)
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

// A dead letter's id is unique per stored event: after the event stream is
// made again, its sequences start over, and the dead letter of a new event
// at an old sequence must not be dropped as a duplicate.
func TestDeadLettersSurviveAStreamRecreated(t *testing.T) {
	n := natskit.StartNATS(t)
	ctx := testkit.Context(t)
	l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.OrderCompleted, "dlq-again",
		func(context.Context, events.Msg[events.OrderCompletedData]) error {
			return events.Malformed(errors.New("never"))
		}, events.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	pub := events.NewPublisher(n.JS)
	letters := func() int {
		dls, err := events.ListDeadLetters(ctx, n.JS)
		if err != nil {
			return -1
		}
		return len(dls)
	}
	if err := events.Publish(ctx, pub, events.OrderCompleted, "first", events.OrderCompletedData{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return letters() == 1 }, "first event not dead-lettered")
	if err := n.JS.DeleteStream(ctx, events.StreamName); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		return events.Publish(ctx, pub, events.OrderCompleted, "second", events.OrderCompletedData{ID: "o2"}) == nil
	}, "stream not made again")
	testkit.Eventually(t, 20*time.Second, func() bool { return letters() == 2 }, "second event at sequence 1 lost: %d dead letters", letters())
}

// A replayed event keeps its first publication time through the dead-letter
// stream and back, so its age (and the replay's age limit) is the event's.
func TestReplayKeepsThePublicationTime(t *testing.T) {
	n := natskit.StartNATS(t)
	ctx := testkit.Context(t)
	published := make(chan time.Time, 4)
	l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.OrderCompleted, "dlq-age",
		func(_ context.Context, m events.Msg[events.OrderCompletedData]) error {
			published <- m.Published
			return events.Malformed(errors.New("never"))
		}, events.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if err := events.Publish(ctx, events.NewPublisher(n.JS), events.OrderCompleted, "aged", events.OrderCompletedData{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	first := <-published
	var dls []events.DeadLetter
	testkit.Eventually(t, 5*time.Second, func() bool {
		dls, _ = events.ListDeadLetters(ctx, n.JS)
		return len(dls) == 1
	}, "not dead-lettered")
	if _, err := events.ReplayDeadLetter(ctx, n.JS, dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	if again := <-published; !again.Equal(first) {
		t.Fatalf("replayed event published %s, first published %s", again, first)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		dls, _ = events.ListDeadLetters(ctx, n.JS)
		return len(dls) == 1 && dls[0].MsgID == "aged-replay-1"
	}, "replay not dead-lettered again")
	if !dls[0].Published.Equal(first) {
		t.Fatalf("dead letter of the replay says published %s, want %s", dls[0].Published, first)
	}
}

// The broker restarting again and again never leaves a listener behind:
// after each restart the next event is handled.
func TestListenerOutlivesBrokerRestarts(t *testing.T) {
	dir, port := t.TempDir(), testkit.FreePort(t)
	start := func() *server.Server {
		srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
			NoLog: true, NoSigs: true})
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server did not start")
		}
		return srv
	}
	srv := start()
	defer func() { srv.Shutdown() }()
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := testkit.Context(t)
	if err := events.EnsureStream(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	handled := map[string]bool{}
	l, err := events.Listen(ctx, js, testkit.Logger(t), events.OrderCompleted, "restarts",
		func(_ context.Context, m events.Msg[events.OrderCompletedData]) error {
			mu.Lock()
			handled[m.Data.ID] = true
			mu.Unlock()
			return nil
		}, events.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	pub := events.NewPublisher(js)
	for round := range 6 {
		id := fmt.Sprintf("round-%d", round)
		testkit.Eventually(t, 30*time.Second, func() bool {
			return events.Publish(ctx, pub, events.OrderCompleted, id, events.OrderCompletedData{ID: id}) == nil
		}, "publish after restart %d", round)
		testkit.Eventually(t, 30*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return handled[id]
		}, "event %s not handled after restart %d", id, round)
		srv.Shutdown()
		srv.WaitForShutdown()
		srv = start()
	}
}
