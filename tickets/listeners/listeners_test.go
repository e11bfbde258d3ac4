package listeners_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
	"ticketing.dev/tickets/internal/testenv"
	"ticketing.dev/tickets/listeners"
	"ticketing.dev/tickets/store"
)

const seller = "5f0000000000000000000a11"

var (
	createdDurable   = events.Durable(listeners.QueueGroup, events.OrderCreated.Subject)
	cancelledDurable = events.Durable(listeners.QueueGroup, events.OrderCancelled.Subject)
	completedDurable = events.Durable(listeners.QueueGroup, events.OrderCompleted.Subject)
)

type world struct {
	*testenv.Env
	t       *testing.T
	ctx     context.Context
	pub     *events.Publisher
	updated *natskit.Recorder[events.TicketUpdatedData]
	ls      *events.Group
	sent    int // events published so far, for unique message ids
}

func start(t *testing.T) *world {
	env := testenv.Start(t, 100*time.Millisecond)
	w := &world{
		Env:     env,
		t:       t,
		ctx:     testkit.Context(t),
		pub:     events.NewPublisher(env.NATS.JS),
		updated: natskit.Record(t, env.NATS.JS, events.TicketUpdated),
	}
	w.listen()
	t.Cleanup(func() { w.ls.Stop() })
	return w
}

func (w *world) listen() {
	ls, err := listeners.Start(w.ctx, w.NATS.As(w.t, "tickets"), w.Log, w.Store)
	if err != nil {
		w.t.Fatal(err)
	}
	w.ls = ls
}

func (w *world) ticket() store.Ticket {
	w.t.Helper()
	tk, err := w.Store.Create(w.ctx, "concert", 2500, seller)
	if err != nil {
		w.t.Fatal(err)
	}
	return tk
}

func (w *world) orderCreated(orderID string, tk store.Ticket) {
	w.t.Helper()
	w.sent++
	err := events.Publish(w.ctx, w.pub, events.OrderCreated, outbox.ID("order.created", orderID, w.sent),
		events.OrderCreatedData{ID: orderID, Version: 0, Status: events.StatusCreated, UserID: "buyer",
			ExpiresAt: time.Now().Add(15 * time.Minute), Ticket: events.OrderTicket{ID: tk.ID.Hex(), Price: tk.Price}})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) orderCancelled(orderID string, tk store.Ticket) {
	w.t.Helper()
	w.sent++
	err := events.Publish(w.ctx, w.pub, events.OrderCancelled, outbox.ID("order.cancelled", orderID, w.sent),
		events.OrderCancelledData{ID: orderID, Version: 1, Ticket: events.TicketRef{ID: tk.ID.Hex()}})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) orderCompleted(orderID string) {
	w.t.Helper()
	w.sent++
	err := events.Publish(w.ctx, w.pub, events.OrderCompleted, outbox.ID("order.completed", orderID, w.sent),
		events.OrderCompletedData{ID: orderID, Version: 1})
	if err != nil {
		w.t.Fatal(err)
	}
}

// settle waits until both listeners have handled every event and the relay
// has published everything they wrote.
func (w *world) settle() {
	w.t.Helper()
	w.Handled(w.t, createdDurable, cancelledDurable)
	testkit.Eventually(w.t, 10*time.Second, func() bool {
		n, err := w.DB.Collection(store.Collection).CountDocuments(w.ctx,
			bson.D{{Key: "outboxN", Value: bson.D{{Key: "$gt", Value: 0}}}})
		return err == nil && n == 0
	}, "events left unpublished")
}

// expect checks the stored ticket's reservation and version.
func (w *world) expect(tk store.Ticket, orderID string, version int64) {
	w.t.Helper()
	got, err := w.Store.Get(w.ctx, tk.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	if got.OrderID != orderID || got.Version != version {
		w.t.Fatalf("ticket reserved by %q at version %d, want %q at %d", got.OrderID, got.Version, orderID, version)
	}
}

// expectMarkers checks the cancelled-order markers: order id → settled.
func (w *world) expectMarkers(want map[string]bool) {
	w.t.Helper()
	cur, err := w.DB.Collection(store.CancelledCollection).Find(w.ctx, bson.D{})
	if err != nil {
		w.t.Fatal(err)
	}
	var markers []store.Cancelled
	if err := cur.All(w.ctx, &markers); err != nil {
		w.t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range markers {
		got[m.OrderID] = m.Settled
	}
	if !maps.Equal(got, want) {
		w.t.Fatalf("markers (order → settled) %v, want %v", got, want)
	}
}

// replay makes both listeners read the whole stream again, as after their
// durables were lost.
func (w *world) replay() {
	w.t.Helper()
	w.ls.Stop()
	for _, durable := range []string{createdDurable, cancelledDurable, completedDurable} {
		if err := w.NATS.JS.DeleteConsumer(w.ctx, events.StreamName, durable); err != nil {
			w.t.Fatal(err)
		}
	}
	w.listen()
	w.settle()
}

func TestReserveReleaseAndReplay(t *testing.T) {
	t.Parallel()
	w := start(t)
	tk := w.ticket()
	orderA, orderB, orderC := bson.NewObjectID().Hex(), bson.NewObjectID().Hex(), bson.NewObjectID().Hex()

	steps := []struct {
		name    string
		do      func()
		orderID string // reservation afterwards
		version int64
	}{
		{"order.created reserves", func() { w.orderCreated(orderA, tk) }, orderA, 1},
		{"a redelivered order.created changes nothing", func() { w.orderCreated(orderA, tk) }, orderA, 1},
		{"order.cancelled releases", func() { w.orderCancelled(orderA, tk) }, "", 2},
		{"a newer order reserves", func() { w.orderCreated(orderB, tk) }, orderB, 3},
		{"a stale order.cancelled leaves the newer reservation alone", func() { w.orderCancelled(orderA, tk) }, orderB, 3},
		{"a late order.created of the cancelled order does not reserve", func() { w.orderCreated(orderA, tk) }, orderB, 3},
		{"an order for a ticket another order holds waits for that order's cancellation", func() {
			w.orderCreated(orderC, tk)
			w.orderCancelled(orderB, tk)
		}, orderC, 5},
	}
	for _, s := range steps {
		s.do()
		w.settle()
		t.Logf("%s", s.name)
		w.expect(tk, s.orderID, s.version)
	}

	want := []events.TicketUpdatedData{
		{ID: tk.ID.Hex(), Version: 1, Title: "concert", Price: 2500, UserID: seller, OrderID: orderA},
		{ID: tk.ID.Hex(), Version: 2, Title: "concert", Price: 2500, UserID: seller},
		{ID: tk.ID.Hex(), Version: 3, Title: "concert", Price: 2500, UserID: seller, OrderID: orderB},
		{ID: tk.ID.Hex(), Version: 4, Title: "concert", Price: 2500, UserID: seller},
		{ID: tk.ID.Hex(), Version: 5, Title: "concert", Price: 2500, UserID: seller, OrderID: orderC},
	}
	checkUpdates := func() {
		t.Helper()
		got := w.updated.Settled(t, w.Outbox())
		if len(got) != len(want) {
			t.Fatalf("%d ticket.updated events, want %d: %+v", len(got), len(want), got)
		}
		for i, m := range got {
			if m.Data != want[i] || m.ID != outbox.ID("ticket.updated", tk.ID.Hex(), want[i].Version) {
				t.Fatalf("event %d: %s %+v, want %+v", i, m.ID, m.Data, want[i])
			}
		}
	}
	checkUpdates()

	for range 2 {
		w.replay()
		w.expect(tk, orderC, 5)
	}
	checkUpdates()
	w.expectMarkers(map[string]bool{orderA: true, orderB: true})
}

// The next order's order.created can overtake the previous order's
// order.cancelled (separate consumers): the reservation must end with the
// next order, not be dropped.
func TestNextOrderCreatedBeforePreviousCancelled(t *testing.T) {
	t.Parallel()
	w := start(t)
	tk := w.ticket()
	orderA, orderB := bson.NewObjectID().Hex(), bson.NewObjectID().Hex()
	w.orderCreated(orderA, tk)
	w.settle()
	w.orderCreated(orderB, tk)
	w.orderCancelled(orderA, tk)
	w.settle()
	w.expect(tk, orderB, 3)
}

// When order.cancelled overtakes its order.created (they travel on separate
// consumers), the late order.created must not reserve the ticket. The
// cancellation is remembered by its marker, so the ticket itself does not
// change and nothing is published.
func TestCancelledBeforeCreated(t *testing.T) {
	t.Parallel()
	w := start(t)
	tk := w.ticket()
	order := bson.NewObjectID().Hex()

	w.orderCancelled(order, tk)
	w.settle()
	w.expect(tk, "", 0)
	w.orderCreated(order, tk)
	w.settle()
	w.expect(tk, "", 0)
	w.replay()
	w.expect(tk, "", 0)
	if got := w.updated.Settled(t, w.Outbox()); len(got) != 0 {
		t.Fatalf("ticket.updated events %+v, want none", got)
	}
	w.expectMarkers(map[string]bool{order: true})
}

// Events whose ids are not ObjectIds can never be handled: they are
// terminated at once instead of being redelivered.
func TestMalformedEventsAreTerminated(t *testing.T) {
	t.Parallel()
	w := start(t)
	tk := w.ticket()
	w.orderCreated("not-an-id", tk)
	err := events.Publish(w.ctx, w.pub, events.OrderCancelled, "bad-ticket-id",
		events.OrderCancelledData{ID: bson.NewObjectID().Hex(), Version: 1, Ticket: events.TicketRef{ID: "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	w.settle()
	w.expect(tk, "", 0)
}

// order.completed marks the ticket its order holds as sold, without a new
// version or a ticket.updated (orders has no use for it). When it overtakes
// the order.created (another consumer), it waits for the reservation.
func TestCompletedMarksTheTicketSold(t *testing.T) {
	t.Parallel()
	w := start(t)
	state := func(tk store.Ticket) string {
		got, err := w.Store.Get(w.ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.State()
	}
	soon := func(tk store.Ticket, want string) {
		t.Helper()
		testkit.Eventually(t, 10*time.Second, func() bool { return state(tk) == want }, "ticket %s not %s", tk.ID.Hex(), want)
	}

	t.Run("in order", func(t *testing.T) {
		tk, order := w.ticket(), bson.NewObjectID().Hex()
		w.orderCreated(order, tk)
		w.settle()
		if got := state(tk); got != store.StateReserved {
			t.Fatalf("state %s, want reserved", got)
		}
		w.orderCompleted(order)
		soon(tk, store.StateSold)
		w.expect(tk, order, 1)
	})
	t.Run("completed before created", func(t *testing.T) {
		tk, order := w.ticket(), bson.NewObjectID().Hex()
		w.orderCompleted(order)
		w.orderCreated(order, tk)
		soon(tk, store.StateSold)
		w.settle()
		w.expect(tk, order, 1)
	})
	t.Run("another order's completion leaves the reservation alone", func(t *testing.T) {
		tk, other := w.ticket(), w.ticket()
		order, otherOrder := bson.NewObjectID().Hex(), bson.NewObjectID().Hex()
		w.orderCreated(order, tk)
		w.orderCreated(otherOrder, other)
		w.settle()
		w.orderCompleted(otherOrder)
		soon(other, store.StateSold)
		if got := state(tk); got != store.StateReserved {
			t.Fatalf("state %s, want reserved", got)
		}
	})
	t.Run("malformed order id", func(t *testing.T) {
		w.orderCompleted("not-an-id")
	})
	t.Run("replay changes nothing", func(t *testing.T) {
		before := len(w.updated.Settled(t, w.Outbox()))
		w.replay()
		if got := len(w.updated.Settled(t, w.Outbox())); got != before {
			t.Fatalf("%d ticket.updated after the replay, %d before", got, before)
		}
	})
}
