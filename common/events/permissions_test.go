package events_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

// startAuthServer runs a nats-server with the permission table's users
// (natsauth.Users) and a "client" that may do nothing, as a browser-facing
// process that got hold of the broker would be.
func startAuthServer(t *testing.T) *server.Server {
	t.Helper()
	deny := &server.SubjectPermission{Deny: []string{">"}}
	return natskit.StartServer(t, -1, &server.User{Username: "client", Password: "client-pw",
		Permissions: &server.Permissions{Publish: deny, Subscribe: deny}})
}

func connectAs(t *testing.T, url, user string) jetstream.JetStream {
	t.Helper()
	nc, js, err := events.Connect(testkit.Context(t), url, user, 1, testkit.Logger(t),
		events.UserOptions(user, natskit.Password(user))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	testkit.Eventually(t, 10*time.Second, nc.IsConnected, "%s not connected", user)
	return js
}

func publishQuickly(js jetstream.JetStream, subject string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return events.NewPublisher(js).PublishRaw(ctx, subject, fmt.Sprintf("%s-%d", subject, time.Now().UnixNano()), []byte(`{}`))
}

// A service publishes only the events it owns and consumes only through its
// own durables; a client with no permissions can do neither, and a user
// that is not in the table cannot even connect.
func TestPermissionsRefuse(t *testing.T) {
	srv := startAuthServer(t)
	url := srv.ClientURL()
	_, admin := natskit.Connect(t, url)
	if err := events.EnsureStream(testkit.Context(t), admin, 1); err != nil {
		t.Fatal(err)
	}

	tickets := connectAs(t, url, "tickets")
	if err := publishQuickly(tickets, events.TicketCreated.Subject); err != nil {
		t.Fatalf("tickets publishing its own ticket.created: %v", err)
	}
	for _, subject := range []string{events.PaymentCreated.Subject, events.OrderCreated.Subject, events.SessionRevoked.Subject, "dlq.orders-service-ticket-created"} {
		if err := publishQuickly(tickets, subject); err == nil {
			t.Errorf("tickets published %s: the broker confirmed it", subject)
		}
	}
	ctx, cancel := context.WithTimeout(testkit.Context(t), 2*time.Second)
	defer cancel()
	if _, err := tickets.CreateOrUpdateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{
		Durable: "orders-service-ticket-created", FilterSubject: events.TicketCreated.Subject,
		AckPolicy: jetstream.AckExplicitPolicy,
	}); err == nil {
		t.Error("tickets created orders' consumer")
	}
	if err := tickets.DeleteStream(ctx, events.StreamName); err == nil {
		t.Error("tickets deleted the stream")
	}
	// The subscription to another service's replies is refused too.
	violations := make(chan error, 10)
	nc, err := nats.Connect(url, nats.UserInfo("tickets", natskit.Password("tickets")),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.SubscribeSync(events.InboxPrefix("orders") + ".>"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-violations:
		if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(err.Error(), "Permissions Violation") {
			t.Errorf("subscribing to orders' inbox: %v, want a permissions violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("tickets subscribed to orders' inbox without a permissions violation")
	}

	client, err := nats.Connect(url, nats.UserInfo("client", "client-pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cjs, _ := jetstream.New(client)
	if err := publishQuickly(cjs, events.TicketCreated.Subject); err == nil {
		t.Error("the client published ticket.created")
	}
	if _, err := cjs.CreateOrUpdateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{
		Durable: "client", AckPolicy: jetstream.AckExplicitPolicy,
	}); err == nil {
		t.Error("the client created a consumer")
	}
	if _, err := cjs.OrderedConsumer(ctx, events.SessionStream, jetstream.OrderedConsumerConfig{}); err == nil {
		t.Error("the client read the session stream")
	}
	// A follower's permissions reach the session stream only: tickets'
	// credentials cannot read another stream through an ordered consumer.
	if _, err := tickets.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{}); err == nil {
		t.Error("tickets made an ordered consumer on the event stream")
	}

	if nc, err := nats.Connect(url, nats.UserInfo("stranger", "pw")); err == nil {
		nc.Close()
		t.Error("a user outside the table connected")
	}
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Error("a connection without credentials was accepted")
	}
}

// Each service works with exactly its permissions: its connection's keeper
// makes the streams on an empty server, its listeners provision their
// durables and consume, a malformed event is dead-lettered, and it publishes
// every event it owns.
func TestPermissionsSuffice(t *testing.T) {
	for _, svc := range slices.Sorted(func(yield func(string) bool) {
		for s := range events.Services {
			if !yield(s) {
				return
			}
		}
	}) {
		t.Run(svc, func(t *testing.T) {
			srv := startAuthServer(t)
			url := srv.ClientURL()
			js := connectAs(t, url, svc)
			_, admin := natskit.Connect(t, url)
			// Every stream EnsureStream makes (the dead-letter stream first).
			testkit.Eventually(t, 10*time.Second, func() bool {
				for _, name := range []string{events.DeadLetterStream, events.StreamName, events.SessionStream} {
					if _, err := admin.Stream(testkit.Context(t), name); err != nil {
						return false
					}
				}
				return true
			}, "%s's keeper did not make the streams", svc)

			access := events.Services[svc]
			var mu sync.Mutex
			handled := map[string]bool{}
			g := events.NewGroup(js, testkit.Logger(t), events.QueueGroup(svc))
			defer g.Stop()
			for _, subject := range access.Listens {
				err := events.Subscribe(testkit.Context(t), g, events.Topic[map[string]string]{Subject: subject},
					func(_ context.Context, m events.Msg[map[string]string]) error {
						if m.Data["bad"] != "" {
							return events.Malformed(errors.New("bad"))
						}
						mu.Lock()
						handled[m.Subject] = true
						mu.Unlock()
						return nil
					}, events.ListenerOptions{AckWait: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				pub := events.NewPublisher(admin)
				ctx := testkit.Context(t)
				if err := pub.PublishRaw(ctx, subject, subject+"-good", []byte(`{"id":"1"}`)); err != nil {
					t.Fatal(err)
				}
				if err := pub.PublishRaw(ctx, subject, subject+"-bad", []byte(`{"bad":"yes"}`)); err != nil {
					t.Fatal(err)
				}
			}
			testkit.Eventually(t, 20*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(handled) == len(access.Listens)
			}, "%s handled %v of %v", svc, handled, access.Listens)
			var dead []events.DeadLetter
			testkit.Eventually(t, 20*time.Second, func() bool {
				dead, _ = events.ListDeadLetters(testkit.Context(t), admin)
				return len(dead) == len(access.Listens)
			}, "%s dead-lettered %d of %d", svc, len(dead), len(access.Listens))
			for _, subject := range access.Publishes {
				if err := publishQuickly(js, subject); err != nil {
					t.Errorf("%s publishing %s: %v", svc, subject, err)
				}
			}
			// It follows what it follows: what the stream held before, and
			// what comes after.
			for _, subject := range access.Follows {
				pub := events.NewPublisher(admin)
				if err := pub.PublishRaw(testkit.Context(t), subject, "before", []byte(`{"n":"before"}`)); err != nil {
					t.Fatal(err)
				}
				seen := make(chan string, 10)
				f := events.Follow(js, testkit.Logger(t), events.Topic[map[string]string]{Subject: subject},
					func(m map[string]string) { seen <- m["n"] })
				defer f.Stop()
				if err := pub.PublishRaw(testkit.Context(t), subject, "after", []byte(`{"n":"after"}`)); err != nil {
					t.Fatal(err)
				}
				// (The stream also holds what the service published above.)
				var got []string
				for !slices.Contains(got, "before") || !slices.Contains(got, "after") {
					select {
					case n := <-seen:
						got = append(got, n)
					case <-time.After(20 * time.Second):
						t.Fatalf("%s following %s saw %v", svc, subject, got)
					}
				}
				if err := f.Loaded(testkit.Context(t)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// A service's listener on a subject its permissions leave out fails at
// once, naming the table.
func TestSubscribeOutsideTheTable(t *testing.T) {
	n := natskit.StartNATS(t)
	g := events.NewGroup(n.JS, testkit.Logger(t), events.QueueGroup("tickets"))
	defer g.Stop()
	err := events.Subscribe(testkit.Context(t), g, events.TicketCreated,
		func(context.Context, events.Msg[events.TicketCreatedData]) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "events.Services") {
		t.Fatalf("tickets listening to ticket.created: %v, want refused by the table", err)
	}
}
