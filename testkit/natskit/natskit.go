// Package natskit gives a test a JetStream of its own and ways to watch
// it: a recorder of a subject's events, and waits until the consumers have
// answered everything. It is apart from testkit so that a service that does
// not use NATS (auth) does not depend on nats-server.
package natskit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/natsauth"
	"ticketing.dev/common/outbox"
	"ticketing.dev/testkit"
)

// NATS is an in-process JetStream server for one test.
type NATS struct {
	URL    string
	Server *server.Server // nil when NATS runs in a container
	Conn   *nats.Conn
	JS     jetstream.JetStream
}

// As is a connection to n as a service's own user (its least privilege),
// for the length of the test: what the service's listeners and relay use.
func (n *NATS) As(t testing.TB, service string) jetstream.JetStream {
	t.Helper()
	_, js := ConnectAs(t, n.URL, service)
	return js
}

// StartNATS starts a JetStream server for this test — a container (without
// authentication: users are accepted, permissions not checked) where a
// Docker engine answers, else in process on a random port with its store in
// a temporary directory — connects to it and creates the streams.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	if ok, _ := testkit.Docker(); ok {
		url := "nats://" + testkit.StartContainer(t, testkit.NATSImage, "4222/tcp", "Server is ready", "-js")
		return connectAndEnsure(t, url, nil)
	}
	return StartNATSOn(t, -1)
}

// StartNATSOn starts an in-process JetStream server on 127.0.0.1:port (-1: a
// free one) for this test, with its store in a temporary directory; it
// connects to it and creates the streams.
func StartNATSOn(t testing.TB, port int) *NATS {
	t.Helper()
	srv := StartServer(t, port)
	return connectAndEnsure(t, srv.ClientURL(), srv)
}

// StartServer starts an in-process JetStream server on 127.0.0.1:port (-1: a
// free one) with its store in a temporary directory, and nothing else: no
// connection, no stream. Authentication is on: the users are the
// permission table's (natsauth.Users), each with Password(user), and extra.
func StartServer(t testing.TB, port int, extra ...*server.User) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		Users: append(natsauth.Users(Password), extra...),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return srv
}

func connectAndEnsure(t testing.TB, url string, srv *server.Server) *NATS {
	t.Helper()
	nc, js := Connect(t, url)
	if err := events.EnsureStream(context.Background(), js, 1); err != nil {
		t.Fatal(err)
	}
	return &NATS{URL: url, Server: srv, Conn: nc, JS: js}
}

// Password is a user's password on the test servers (tests only).
func Password(user string) string { return "test-" + user + "-password" }

// Env is what a service needs to connect as its own NATS user:
// NATS_USER and NATS_PASSWORD (add NATS_URL).
func Env(service string) map[string]string {
	return map[string]string{"NATS_USER": service, "NATS_PASSWORD": Password(service)}
}

// WithEnv is env with the service's NATS_USER and NATS_PASSWORD added.
func WithEnv(service string, env map[string]string) map[string]string {
	maps.Copy(env, Env(service))
	return env
}

// Connect connects to the NATS at url as the admin (no restriction) for the
// length of the test.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	return ConnectAs(t, url, events.AdminUser)
}

// ConnectAs connects to the NATS at url as user, with that user's options
// (events.UserOptions: a service's own inbox prefix), for the length of the
// test.
func ConnectAs(t testing.TB, url, user string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, events.UserOptions(user, Password(user))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Recorder collects every event published on a subject, from the start of
// the stream, through an ordered consumer.
type Recorder[T any] struct {
	js      jetstream.JetStream
	subject string

	mu      sync.Mutex
	msgs    []events.Msg[T]
	lastSeq uint64 // stream sequence of the last event recorded
}

// Record starts recording topic's events.
func Record[T any](t testing.TB, js jetstream.JetStream, topic events.Topic[T]) *Recorder[T] {
	t.Helper()
	rec := &Recorder[T]{js: js, subject: topic.Subject}
	cons, err := js.OrderedConsumer(context.Background(), events.StreamOf(topic.Subject), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{topic.Subject},
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var msg events.Msg[T]
		msg.ID = m.Headers().Get("Nats-Msg-Id")
		msg.Subject = m.Subject()
		if err := json.Unmarshal(m.Data(), &msg.Data); err != nil {
			t.Errorf("recorded %s is not valid: %v", topic.Subject, err)
			return
		}
		meta, err := m.Metadata()
		if err == nil {
			msg.Published = meta.Timestamp // when the stream stored it
		}
		rec.mu.Lock()
		rec.msgs = append(rec.msgs, msg)
		if err == nil {
			rec.lastSeq = meta.Sequence.Stream
		}
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
	testkit.Eventually(t, timeout, func() bool { return len(r.All()) >= n }, "want %d events, have %d", n, len(r.All()))
	return r.All()
}

// Settled waits until the system has come to rest and returns everything
// recorded: every durable consumer of the stream has answered every event
// (none pending, none in hand), every outbox given is empty, the stream did
// not grow meanwhile, and the recorder has caught up with it. From then on
// nothing more is published unless a timer fires (a deferred event, a
// sweep), so a count taken now is final. A deferred event keeps its
// consumer from settling: wait for the deferral itself instead.
func (r *Recorder[T]) Settled(t testing.TB, outboxes ...*mongo.Collection) []events.Msg[T] {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var why string
	testkit.Eventually(t, 20*time.Second, func() bool {
		before, err := r.streamLast(ctx)
		if err != nil {
			why = err.Error()
			return false
		}
		if why = consumersBusy(ctx, r.js); why != "" {
			return false
		}
		for _, c := range outboxes {
			n, err := c.CountDocuments(ctx, outbox.PendingFilter)
			if err != nil || n > 0 {
				why = fmt.Sprintf("%s has %d documents with pending events (err %v)", c.Name(), n, err)
				return false
			}
		}
		after, err := r.streamLast(ctx)
		if err != nil || after != before {
			why = "the stream grew meanwhile"
			return false
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.lastSeq < after {
			why = fmt.Sprintf("recorded up to %d, the stream's last %s is %d", r.lastSeq, r.subject, after)
			return false
		}
		return true
	}, "events not settled: %s", lazy(func() string { return why }))
	return r.All()
}

// lazy formats as what f returns when the message is made.
type lazy func() string

func (l lazy) String() string { return l() }

// streamLast is the sequence of the stream's last event on the subject (0:
// none yet).
func (r *Recorder[T]) streamLast(ctx context.Context) (uint64, error) {
	s, err := r.js.Stream(ctx, events.StreamOf(r.subject))
	if err != nil {
		return 0, err
	}
	m, err := s.GetLastMsgForSubject(ctx, r.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return m.Sequence, nil
}

// consumersBusy says which durable consumer still has events to deliver or
// in hand ("" when none).
func consumersBusy(ctx context.Context, js jetstream.JetStream) string {
	s, err := js.Stream(ctx, events.StreamName)
	if err != nil {
		return err.Error()
	}
	infos := s.ListConsumers(ctx)
	for info := range infos.Info() {
		if info.Config.Durable == "" {
			continue // a recorder's ordered consumer
		}
		if why := unanswered(ctx, s, info); why != "" {
			return info.Name + ": " + why
		}
	}
	if err := infos.Err(); err != nil {
		return err.Error()
	}
	return ""
}

// Handled waits until each durable consumer has answered every event on its
// subject: the subject's last event delivered, none pending, none in hand.
func Handled(t testing.TB, js jetstream.JetStream, durables ...string) {
	t.Helper()
	ctx := testkit.Context(t)
	for _, durable := range durables {
		var why string
		testkit.Eventually(t, 10*time.Second, func() bool {
			s, err := js.Stream(ctx, events.StreamName)
			if err != nil {
				why = err.Error()
				return false
			}
			c, err := s.Consumer(ctx, durable)
			if err != nil {
				why = err.Error()
				return false
			}
			info, err := c.Info(ctx)
			if err != nil {
				why = err.Error()
				return false
			}
			why = unanswered(ctx, s, info)
			return why == ""
		}, "%s has unanswered events: %s", durable, lazy(func() string { return why }))
	}
}

// unanswered says what the consumer has still to answer ("" when nothing).
// NumPending alone is not enough: the stream acknowledges a publish before
// its consumers count the new event, so the subject's last event must have
// been delivered too.
func unanswered(ctx context.Context, s jetstream.Stream, info *jetstream.ConsumerInfo) string {
	var last uint64
	switch m, err := s.GetLastMsgForSubject(ctx, info.Config.FilterSubject); {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return err.Error()
	default:
		last = m.Sequence
	}
	if info.Delivered.Stream < last || info.NumPending > 0 || info.NumAckPending > 0 {
		return fmt.Sprintf("delivered up to %d of %d, %d pending, %d in hand",
			info.Delivered.Stream, last, info.NumPending, info.NumAckPending)
	}
	return ""
}
