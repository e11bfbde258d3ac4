package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/service"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
	"ticketing.dev/tickets/store"
)

// run wires the real service: it becomes ready, sells a ticket, publishes
// its event, reserves it on order.created, runs the reconciliation sweep
// (which frees a reservation whose cancellation a dead handler left
// unsettled), and stops cleanly when its context ends.
func TestRun(t *testing.T) {
	n := natskit.StartNATS(t)
	port := testkit.FreePort(t)
	mongoURI := testkit.MongoURI(t)
	t.Setenv("MONGO_URI", mongoURI)
	t.Setenv("NATS_URL", n.URL)
	t.Setenv("JWT_KEY", testkit.JWTKey)
	t.Setenv("PORT", fmt.Sprint(port))
	t.Setenv("TICKETS_SWEEP", "100ms")
	created := natskit.Record(t, n.JS, events.TicketCreated)
	updated := natskit.Record(t, n.JS, events.TicketUpdated)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, testkit.Logger(t), name, loadConfig, run) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testkit.Eventually(t, 10*time.Second, func() bool {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, "not ready")

	req, _ := http.NewRequest(http.MethodPost, base+"/api/tickets", strings.NewReader(`{"title":"concert","price":10}`))
	req.AddCookie(testkit.SessionCookie(t, "5f0000000000000000000a11", "a@test.dev"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", res.StatusCode)
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
	client, db, err := mongodb.Connect(ctx, mongoURI, "tickets")
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

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
}
