package testkit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
)

// NATS is an in-process JetStream server for one test.
type NATS struct {
	URL    string
	Server *server.Server
	Conn   *nats.Conn
	JS     jetstream.JetStream
}

// StartNATS starts a JetStream server on a random port with its store in a
// temporary directory, connects to it and creates the stream.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.EnsureStream(context.Background(), js); err != nil {
		t.Fatal(err)
	}
	return &NATS{URL: srv.ClientURL(), Server: srv, Conn: nc, JS: js}
}

// Recorder collects every event published on a subject, from the start of
// the stream, through an ordered consumer.
type Recorder[T any] struct {
	mu   sync.Mutex
	msgs []events.Msg[T]
}

// Record starts recording topic's events.
func Record[T any](t testing.TB, js jetstream.JetStream, topic events.Topic[T]) *Recorder[T] {
	t.Helper()
	rec := &Recorder[T]{}
	cons, err := js.OrderedConsumer(context.Background(), events.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{topic.Subject},
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var msg events.Msg[T]
		msg.ID = m.Headers().Get("Nats-Msg-Id")
		msg.Subject = m.Subject()
		if err := jsonUnmarshal(m.Data(), &msg.Data); err != nil {
			t.Errorf("recorded %s is not valid: %v", topic.Subject, err)
			return
		}
		rec.mu.Lock()
		rec.msgs = append(rec.msgs, msg)
		rec.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return rec
}

// All returns what has been recorded so far.
func (r *Recorder[T]) All() []events.Msg[T] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Msg[T](nil), r.msgs...)
}

// WaitFor waits until at least n events are recorded and returns them all.
func (r *Recorder[T]) WaitFor(t testing.TB, n int, timeout time.Duration) []events.Msg[T] {
	t.Helper()
	Eventually(t, timeout, func() bool { return len(r.All()) >= n }, "want %d events, have %d", n, len(r.All()))
	return r.All()
}

// Quiet waits for d and then returns everything recorded; use it to assert
// that nothing more was published after the system has settled.
func (r *Recorder[T]) Quiet(d time.Duration) []events.Msg[T] {
	time.Sleep(d)
	return r.All()
}
