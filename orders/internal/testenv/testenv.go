// Package testenv wires the service the way main does, on a fresh database
// and an embedded JetStream, for the tests of every package. Main starts one
// FerretDB per test binary (testkit.Main); every test gets a database of its
// own on it, through the driver's normal pool (FerretDB's front keeps each
// single-document update atomic: see testkit/mongokit.Front).
package testenv

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/sweep"
	"ticketing.dev/orders/httpapi"
	"ticketing.dev/orders/listeners"
	"ticketing.dev/orders/reconcile"
	"ticketing.dev/orders/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
)

// Env is one running orders service.
type Env struct {
	NATS    *natskit.NATS
	Pub     *events.Publisher
	Orders  *store.Orders
	Tickets *store.Tickets
	API     http.Handler // the HTTP API, for testkit.Call
	// Now is the clock every part of the service reads.
	Now    func() time.Time
	grace  time.Duration
	orders *mongo.Collection
}

// Outbox is the collection whose documents hold the relay's pending events
// (the orders): what Recorder.Settled must see empty.
func (e *Env) Outbox() *mongo.Collection { return e.orders }

// PendingEvents counts the orders whose outbox still holds events.
func (e *Env) PendingEvents(ctx context.Context) (int64, error) {
	return e.orders.CountDocuments(ctx, outbox.PendingFilter)
}

// Main runs the tests of a package against one embedded FerretDB (see
// testkit.Main).
func Main(m *testing.M) { mongokit.Main(m) }

// Options tune an Env.
type Options struct {
	Window time.Duration    // expiration window (default 15m)
	Grace  time.Duration    // expiration grace (default 0: expire at expiresAt)
	Now    func() time.Time // the clock of the API, listeners and sweeps (default time.Now)
	DB     *mongo.Database  // the store (default mongokit.Mongo(t))
	// ActiveLimit is the API's limit of active orders per user (default 0:
	// none, so tests may order freely).
	ActiveLimit int
}

// Start runs the store, the relay, the listeners and the HTTP handler; all
// stop when the test ends.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	if opts.Window == 0 {
		opts.Window = 15 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx := testkit.Context(t)
	log := testkit.Logger(t)
	db := opts.DB
	if db == nil {
		db = mongokit.Mongo(t)
	}
	n := natskit.StartNATS(t)
	pub := events.NewPublisher(n.JS)

	coll := db.Collection("orders")
	relay := outbox.NewRelay(coll, events.NewPublisher(n.As(t, "orders")), log, 200*time.Millisecond)
	orders := store.NewOrders(coll, relay.Notify)
	tickets := store.NewTickets(db.Collection("tickets"))
	if err := relay.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if err := orders.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	// Stopped before the store and JetStream go away (cleanups run last first).
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		relay.Run(relayCtx)
	}()
	t.Cleanup(func() {
		stopRelay()
		<-relayDone
	})

	ls, err := listeners.Start(ctx, n.As(t, "orders"), listeners.Deps{
		Log: log, Orders: orders, Tickets: tickets, Now: opts.Now, Grace: opts.Grace,
		WaitDelay: 50 * time.Millisecond, MaxWaitDelay: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ls.Stop)

	return &Env{
		NATS:    n,
		Pub:     pub,
		Orders:  orders,
		Tickets: tickets,
		API: httpapi.New(httpapi.Deps{
			Log: log, Keys: testkit.Keys(), Orders: orders, Tickets: tickets, Window: opts.Window, Now: opts.Now,
			ActiveLimit: opts.ActiveLimit,
		}),
		Now:    opts.Now,
		grace:  opts.Grace,
		orders: coll,
	}
}

// Sweeper returns the overdue-orders sweep as main wires it, on this Env's
// store, grace and clock, with at most batch orders a pass (0: the
// default). It is not started: tests run its passes with Once.
func (e *Env) Sweeper(t testing.TB, batch int) *sweep.Sweeper {
	log := testkit.Logger(t)
	return sweep.New(reconcile.Name, time.Second, log,
		reconcile.Overdue{Log: log, Orders: e.Orders, Grace: e.grace, Now: e.Now, Batch: batch}.Pass)
}

// Ticket puts a ticket into the replica directly, as if its ticket.created
// had been handled.
func (e *Env) Ticket(t testing.TB, title string, price money.Cents) store.Ticket {
	t.Helper()
	tk := store.Ticket{ID: bson.NewObjectID(), Title: title, Price: price}
	if _, err := e.Tickets.Insert(testkit.Context(t), tk); err != nil {
		t.Fatal(err)
	}
	return tk
}

// Order is an order as the API returns it.
type Order struct {
	ID        string `json:"id"`
	UserID    string `json:"userId"`
	Status    string `json:"status"`
	ExpiresAt string `json:"expiresAt"`
	Version   int64  `json:"version"`
	Ticket    struct {
		ID      string      `json:"id"`
		Title   string      `json:"title"`
		Price   money.Cents `json:"price"`
		Version int64       `json:"version"`
	} `json:"ticket"`
	CreatedAt    string `json:"createdAt"`
	CancelReason string `json:"cancelReason,omitempty"`
}

// CreateOrder orders ticket as the cookie's user and fails the test unless
// the answer is 201.
func (e *Env) CreateOrder(t testing.TB, ticket bson.ObjectID, cookie *http.Cookie) Order {
	t.Helper()
	var o Order
	testkit.Call(t, e.API, http.MethodPost, "/api/orders", map[string]string{"ticketId": ticket.Hex()}, cookie).
		Want(t, http.StatusCreated).Decode(t, &o)
	return o
}

// Handled waits until each named durable consumer has answered every event
// the stream holds on its subject: the last one delivered, none in hand.
// The consumer's pending count alone is not enough: JetStream acknowledges
// a publish before it tells the consumers, so right after Publish returns a
// consumer may still report nothing pending.
func (e *Env) Handled(t testing.TB, durables ...string) {
	t.Helper()
	natskit.Handled(t, e.NATS.JS, durables...)
}
