package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/orders/internal/testenv"
	"ticketing.dev/orders/order"
	"ticketing.dev/orders/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Concurrent changes of one order are each decided on the version they
// apply to: of a cancel and a completion racing, exactly one wins, the
// version goes up by one, and one event is stored.
func TestConcurrentUpdatesOfOneOrder(t *testing.T) {
	t.Parallel()
	ctx := testkit.Context(t)
	db := mongokit.Mongo(t)
	var notified sync.Map
	orders := store.NewOrders(db.Collection("orders"), func(id any, _ ...outbox.Event) { notified.Store(id, true) })
	if err := orders.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	o, created, err := order.New("u1", order.Ticket{ID: bson.NewObjectID(), Title: "t", Price: 100}, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := orders.Create(ctx, o, created); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := orders.Update(ctx, o.ID, func(o *order.Order) (*outbox.Event, error) {
				if i%2 == 0 {
					return o.Complete()
				}
				evt, err := o.Cancel()
				if errors.Is(err, order.ErrCompleted) {
					return nil, nil
				}
				return evt, err
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var doc struct {
		Status  string                  `bson:"status"`
		Version int64                   `bson:"version"`
		Outbox  map[string]outbox.Entry `bson:"outbox"`
		OutboxN int                     `bson:"outboxN"`
	}
	if err := db.Collection("orders").FindOne(ctx, bson.D{{Key: "_id", Value: o.ID}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != 1 || doc.OutboxN != 2 || len(doc.Outbox) != 2 {
		t.Fatalf("version %d, %d/%d pending events; want version 1 and order.created plus one change",
			doc.Version, doc.OutboxN, len(doc.Outbox))
	}
	wantEvent := map[string]string{events.StatusComplete: "order.completed", events.StatusCancelled: "order.cancelled"}[doc.Status]
	if e, ok := doc.Outbox[outbox.ID(wantEvent, o.ID.Hex(), 1)]; !ok || e.Subject != wantEvent {
		t.Fatalf("status %s but pending events %v", doc.Status, doc.Outbox)
	}
	if _, ok := notified.Load(o.ID); !ok {
		t.Fatal("relay not notified")
	}
}

// Cancelling an order releases its ticket: the reservation index holds only
// active orders.
func TestReservationFollowsStatus(t *testing.T) {
	t.Parallel()
	ctx := testkit.Context(t)
	db := mongokit.Mongo(t)
	orders := store.NewOrders(db.Collection("orders"), func(any, ...outbox.Event) {})
	if err := orders.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	ticket := order.Ticket{ID: bson.NewObjectID(), Title: "t", Price: 100}
	create := func() (order.Order, error) {
		o, evt, err := order.New("u1", ticket, time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return o, orders.Create(ctx, o, evt)
	}
	first, err := create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := create(); !errors.Is(err, store.ErrTicketReserved) {
		t.Fatalf("second order: %v, want ErrTicketReserved", err)
	}
	if _, err := orders.Update(ctx, first.ID, func(o *order.Order) (*outbox.Event, error) { return o.Cancel() }); err != nil {
		t.Fatal(err)
	}
	second, err := create()
	if err != nil {
		t.Fatalf("order after cancel: %v", err)
	}
	// Several cancelled orders for one ticket coexist (the index is sparse).
	if _, err := orders.Update(ctx, second.ID, func(o *order.Order) (*outbox.Event, error) { return o.Cancel() }); err != nil {
		t.Fatal(err)
	}
	third, err := create()
	if err != nil {
		t.Fatalf("third order: %v", err)
	}
	// A completed order keeps the ticket.
	if _, err := orders.Update(ctx, third.ID, func(o *order.Order) (*outbox.Event, error) { return o.Complete() }); err != nil {
		t.Fatal(err)
	}
	if _, err := create(); !errors.Is(err, store.ErrTicketReserved) {
		t.Fatalf("order of a sold ticket: %v, want ErrTicketReserved", err)
	}
	if _, err := orders.Get(ctx, bson.NewObjectID()); !errors.Is(err, store.ErrOrderNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
}

// A restart runs EnsureIndexes again on a collection that has its indexes
// and data; that must work (FerretDB once crashed on it, and orders
// crash-looped on every start after the first).
func TestEnsureIndexesOnRestart(t *testing.T) {
	t.Parallel()
	ctx := testkit.Context(t)
	db := mongokit.Mongo(t)
	orders := store.NewOrders(db.Collection("orders"), func(any, ...outbox.Event) {})
	if err := orders.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	o, created, err := order.New("u1", order.Ticket{ID: bson.NewObjectID(), Title: "t", Price: 100}, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := orders.Create(ctx, o, created); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := orders.EnsureIndexes(ctx); err != nil {
			t.Fatalf("second start: %v", err)
		}
	}
}
