package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
	"ticketing.dev/tickets/store"
)

// run wires the real service: it becomes ready, sells a ticket, publishes
// its event, reserves it on order.created, runs the reconciliation sweep
// (which frees a reservation whose cancellation a dead handler left
// unsettled), and stops cleanly when its context ends.
func TestRun(t *testing.T) {
	n := natskit.StartNATS(t)
	mongoURI := mongokit.MongoURI(t)
	created := natskit.Record(t, n.JS, events.TicketCreated)
	updated := natskit.Record(t, n.JS, events.TicketUpdated)
	svc := testkit.Serve(t, name, loadConfig, run, natskit.WithEnv(name, map[string]string{
		"MONGO_URI": mongoURI, "NATS_URL": n.URL, "JWT_KEY": testkit.JWTKey, "TICKETS_SWEEP": "100ms",
	}))
	ctx := testkit.Context(t)

	if code := sell(t, svc.URL, `{"title":"concert","price":10}`); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	tk := created.WaitFor(t, 1, 5*time.Second)[0].Data

	order := bson.NewObjectID().Hex()
	if err := events.Publish(ctx, events.NewPublisher(n.JS), events.OrderCreated, "order-created-"+order,
		events.OrderCreatedData{ID: order, Status: events.StatusCreated, UserID: "buyer", ExpiresAt: time.Now().Add(time.Hour),
			Ticket: events.OrderTicket{ID: tk.ID, Price: tk.Price}}); err != nil {
		t.Fatal(err)
	}
	if u := updated.WaitFor(t, 1, 10*time.Second)[0].Data; u.Version != 1 || u.OrderID != order {
		t.Fatalf("ticket.updated %+v, want version 1 reserved by %s", u, order)
	}
	// the order's cancellation was seen a minute ago by a handler that died
	// before releasing the ticket
	client, db, err := mongodb.Connect(mongoURI, "tickets")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	ticketID, _ := mongodb.ParseID(tk.ID)
	if _, err := db.Collection(store.CancelledCollection).InsertOne(ctx,
		store.Cancelled{OrderID: order, TicketID: ticketID, At: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if u := updated.WaitFor(t, 2, 10*time.Second)[1].Data; u.Version != 2 || u.OrderID != "" {
		t.Fatalf("ticket.updated %+v, want version 2 released by the sweep", u)
	}

	svc.Stop() // fails the test unless run returns nil promptly
}

// The service starts before its store and its broker exist: it answers
// /healthz at once and /readyz 503 while it waits for MongoDB (never
// exiting for it), is ready once MongoDB answers although NATS is still
// missing (its events wait in the outbox), and publishes them once NATS
// is up.
func TestStartsBeforeItsStoreAndBroker(t *testing.T) {
	store, err := url.Parse(mongokit.MongoURI(t))
	if err != nil {
		t.Fatal(err)
	}
	mongoPort, natsPort := testkit.FreePort(t), testkit.FreePort(t)
	svc := testkit.Start(t, name, loadConfig, run, natskit.WithEnv(name, map[string]string{
		"MONGO_URI":    fmt.Sprintf("mongodb://127.0.0.1:%d/tickets", mongoPort),
		"NATS_URL":     fmt.Sprintf("nats://127.0.0.1:%d", natsPort),
		"JWT_KEY":      testkit.JWTKey,
		"OUTBOX_SWEEP": "100ms",
	}))
	status := func(path string) (int, string) {
		res, err := http.Get(svc.URL + path)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		code, body := status("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "waiting for mongodb")
	}, "/readyz does not say it waits for mongodb")
	for _, tt := range []struct {
		path string
		want int
	}{{"/healthz", http.StatusOK}, {"/api/tickets", http.StatusServiceUnavailable}} {
		if code, body := status(tt.path); code != tt.want {
			t.Fatalf("while starting, %s: %d %s, want %d", tt.path, code, body, tt.want)
		}
	}

	// The store appears: the test's store, reached from now on at the port
	// the service was given.
	forward(t, fmt.Sprintf("127.0.0.1:%d", mongoPort), store.Host)
	svc.WaitReady(30 * time.Second)
	if code, body := status("/readyz"); !strings.Contains(body, `"degraded"`) || !strings.Contains(body, "nats") {
		t.Fatalf("/readyz without NATS: %d %s, want 200 naming nats as degraded", code, body)
	}

	if code := sell(t, svc.URL, `{"title":"early","price":5}`); code != http.StatusCreated {
		t.Fatalf("create without NATS: %d, want 201 (the event waits in the outbox)", code)
	}

	n := natskit.StartNATSOn(t, natsPort)
	created := natskit.Record(t, n.JS, events.TicketCreated)
	if got := created.WaitFor(t, 1, 20*time.Second)[0].Data; got.Title != "early" {
		t.Fatalf("ticket.created %+v", got)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		code, body := status("/readyz")
		return code == http.StatusOK && !strings.Contains(body, "degraded")
	}, "not fully ready once NATS is up")
	svc.Ended()
	svc.Stop()
}

// forward listens on addr from now on and relays each connection to target.
func forward(t *testing.T, addr, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer b.Close()
				go func() { _, _ = io.Copy(b, c); _ = b.Close() }()
				_, _ = io.Copy(c, b)
			}()
		}
	}()
}

// sell posts a ticket to the service at base as a signed-in user and
// returns the status.
func sell(t *testing.T, base, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/tickets", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(testkit.SessionCookie(t, "5f0000000000000000000a11", "a@test.dev"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
