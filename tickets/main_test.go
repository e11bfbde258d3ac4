package main

import (
	"context"
	"net/http"
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
	svc := testkit.Serve(t, name, loadConfig, run, map[string]string{
		"MONGO_URI": mongoURI, "NATS_URL": n.URL, "JWT_KEY": testkit.JWTKey, "TICKETS_SWEEP": "100ms",
	})
	ctx := testkit.Context(t)

	req, _ := http.NewRequest(http.MethodPost, svc.URL+"/api/tickets", strings.NewReader(`{"title":"concert","price":10}`))
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

	svc.Stop() // fails the test unless run returns nil promptly
}
