package listeners_test

import (
	"net/http"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/outbox"
	"ticketing.dev/orders/internal/testenv"
	"ticketing.dev/orders/listeners"
	"ticketing.dev/orders/order"
	"ticketing.dev/orders/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const user = "aaaaaaaaaaaaaaaaaaaaaaaa"

func publish[T any](t *testing.T, e *testenv.Env, topic events.Topic[T], msgID string, data T) {
	t.Helper()
	if err := events.Publish(testkit.Context(t), e.Pub, topic, msgID, data); err != nil {
		t.Fatal(err)
	}
}

// settled waits until the listener's durable consumer has handled (acked or
// terminated) everything published on its subject so far.
func settled(t *testing.T, e *testenv.Env, subject string) {
	t.Helper()
	e.Handled(t, events.Durable(listeners.QueueGroup, subject))
}

func ticketAt(t *testing.T, e *testenv.Env, id bson.ObjectID) store.Ticket {
	t.Helper()
	tk, err := e.Tickets.Get(testkit.Context(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func updated(id bson.ObjectID, version int64, title string, price money.Cents) events.TicketUpdatedData {
	return events.TicketUpdatedData{ID: id.Hex(), Version: version, Title: title, Price: price, UserID: user}
}

func TestReplicaAppliesVersionsInOrder(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	id := bson.NewObjectID()
	created := events.TicketCreatedData{ID: id.Hex(), Version: 0, Title: "v0", Price: 1000, UserID: user}
	publish(t, e, events.TicketCreated, outbox.ID("ticket.created", id.Hex(), 0), created)
	publish(t, e, events.TicketUpdated, outbox.ID("ticket.updated", id.Hex(), 1), updated(id, 1, "v1", 1100))
	// v3 arrives before v2: it waits for the gap to fill.
	publish(t, e, events.TicketUpdated, outbox.ID("ticket.updated", id.Hex(), 3), updated(id, 3, "v3", 1300))
	testkit.Eventually(t, 5*time.Second, func() bool {
		tk, err := e.Tickets.Get(testkit.Context(t), id)
		return err == nil && tk.Version == 1
	}, "v1 not applied")
	if tk := ticketAt(t, e, id); tk.Title != "v1" {
		t.Fatalf("v3 applied over a gap: %+v", tk)
	}
	publish(t, e, events.TicketUpdated, outbox.ID("ticket.updated", id.Hex(), 2), updated(id, 2, "v2", 1200))
	settled(t, e, events.TicketUpdated.Subject)
	want := store.Ticket{ID: id, Title: "v3", Price: 1300, Version: 3}
	if tk := ticketAt(t, e, id); tk != want {
		t.Fatalf("replica = %+v, want %+v", tk, want)
	}

	// Replays (new message ids, as after a republish) change nothing.
	publish(t, e, events.TicketCreated, "replay-created", events.TicketCreatedData{ID: id.Hex(), Title: "again", Price: 1})
	publish(t, e, events.TicketUpdated, "replay-v2", updated(id, 2, "old v2", 2))
	publish(t, e, events.TicketUpdated, "replay-v3", updated(id, 3, "other v3", 3))
	settled(t, e, events.TicketCreated.Subject)
	settled(t, e, events.TicketUpdated.Subject)
	if tk := ticketAt(t, e, id); tk != want {
		t.Fatalf("after replays replica = %+v, want %+v", tk, want)
	}
}

// An update that overtakes its ticket's creation waits for it.
func TestReplicaUpdateBeforeCreate(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	id := bson.NewObjectID()
	publish(t, e, events.TicketUpdated, outbox.ID("ticket.updated", id.Hex(), 1), updated(id, 1, "v1", 900))
	publish(t, e, events.TicketCreated, outbox.ID("ticket.created", id.Hex(), 0),
		events.TicketCreatedData{ID: id.Hex(), Version: 0, Title: "v0", Price: 800, UserID: user})
	settled(t, e, events.TicketUpdated.Subject)
	if tk := ticketAt(t, e, id); tk.Version != 1 || tk.Title != "v1" || tk.Price != 900 {
		t.Fatalf("replica = %+v, want v1", tk)
	}
}

// deliveries is how many times the listener's durable consumer has handed
// out events on subject, redeliveries included.
func deliveries(t *testing.T, e *testenv.Env, subject string) uint64 {
	t.Helper()
	ctx := testkit.Context(t)
	c, err := e.NATS.JS.Consumer(ctx, events.StreamName, events.Durable(listeners.QueueGroup, subject))
	if err != nil {
		return 0
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0
	}
	return info.Delivered.Consumer
}

func expiresAt(t *testing.T, o testenv.Order) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, o.ExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// On the real clock: an expiration.complete sent long before expiresAt
// cancels the order only once expiresAt + grace has passed.
func TestExpiration(t *testing.T) {
	t.Parallel()
	for _, grace := range []time.Duration{0, time.Second} {
		t.Run("grace "+grace.String(), func(t *testing.T) {
			t.Parallel()
			const window = time.Second
			e := testenv.Start(t, testenv.Options{Window: window, Grace: grace})
			ctx := testkit.Context(t)
			cancelled := natskit.Record(t, e.NATS.JS, events.OrderCancelled)
			cookie := testkit.SessionCookie(t, user, "a@test.dev")

			tk := e.Ticket(t, "expiring", 500)
			o := e.CreateOrder(t, tk.ID, cookie)
			id := mustID(t, o.ID)
			due := expiresAt(t, o).Add(grace)

			// Sent at once, long before expiresAt: it must wait for the grace.
			publish(t, e, events.ExpirationComplete, "expire-early-"+o.ID, events.ExpirationCompleteData{OrderID: o.ID})
			var cancelledSeenAt time.Time
			testkit.Eventually(t, 10*time.Second, func() bool {
				got, err := e.Orders.Get(ctx, id)
				if err == nil && got.Status == events.StatusCancelled {
					cancelledSeenAt = time.Now()
					if got.CancelReason != order.Expired {
						t.Errorf("cancelReason %q, want %q", got.CancelReason, order.Expired)
					}
					return true
				}
				return false
			}, "order never expired")
			if cancelledSeenAt.Before(due) {
				t.Fatalf("cancelled at %s, before expiresAt + grace %s", cancelledSeenAt.Format(time.StampMilli), due.Format(time.StampMilli))
			}
			evts := cancelled.WaitFor(t, 1, 5*time.Second)
			want := events.OrderCancelledData{ID: o.ID, Version: 1, Ticket: events.TicketRef{ID: tk.ID.Hex()}}
			if evts[0].Data != want {
				t.Fatalf("order.cancelled = %+v, want %+v", evts[0].Data, want)
			}
			// The ticket is free again.
			e.CreateOrder(t, tk.ID, cookie)

			// A second expiration of the cancelled order changes nothing.
			publish(t, e, events.ExpirationComplete, "expire-again-"+o.ID, events.ExpirationCompleteData{OrderID: o.ID})
			settled(t, e, events.ExpirationComplete.Subject)
			if got, _ := e.Orders.Get(ctx, id); got.Version != 1 || got.Status != events.StatusCancelled {
				t.Fatalf("after second expiration: %+v", got)
			}
			if n := len(cancelled.Settled(t, e.Outbox())); n != 1 {
				t.Fatalf("%d order.cancelled published, want 1", n)
			}
		})
	}
}

// On a clock the test holds: expiration.complete arriving at expiresAt is
// deferred (and deferred again) while the clock stays within the grace, and
// cancels the order once the clock reaches expiresAt + grace.
func TestExpirationWaitsForTheGrace(t *testing.T) {
	t.Parallel()
	// The grace is short because a deferral waits for real: the event comes
	// back after the time left by the test's clock.
	const grace = 300 * time.Millisecond
	clock := testkit.NewClock(time.Now())
	e := testenv.Start(t, testenv.Options{Window: time.Minute, Grace: grace, Now: clock.Now})
	ctx := testkit.Context(t)
	cancelled := natskit.Record(t, e.NATS.JS, events.OrderCancelled)
	cookie := testkit.SessionCookie(t, user, "a@test.dev")
	o := e.CreateOrder(t, e.Ticket(t, "at the deadline", 500).ID, cookie)
	id := mustID(t, o.ID)

	clock.Set(expiresAt(t, o)) // expiration fires on time
	publish(t, e, events.ExpirationComplete, "expire-"+o.ID, events.ExpirationCompleteData{OrderID: o.ID})
	// A second delivery means the first was answered without an ack: deferred.
	testkit.Eventually(t, 10*time.Second, func() bool {
		return deliveries(t, e, events.ExpirationComplete.Subject) >= 2
	}, "expiration.complete at expiresAt was never deferred")
	if got, _ := e.Orders.Get(ctx, id); got.Status != events.StatusCreated || got.Version != 0 {
		t.Fatalf("order within the grace: %+v, want created at version 0", got)
	}
	if n := len(cancelled.All()); n != 0 {
		t.Fatalf("%d order.cancelled published within the grace", n)
	}

	clock.Set(expiresAt(t, o).Add(grace))
	testkit.Eventually(t, 10*time.Second, func() bool {
		got, err := e.Orders.Get(ctx, id)
		return err == nil && got.Status == events.StatusCancelled
	}, "order not expired once the grace had passed")
	settled(t, e, events.ExpirationComplete.Subject)
	if n := len(cancelled.Settled(t, e.Outbox())); n != 1 {
		t.Fatalf("%d order.cancelled published, want 1", n)
	}
}

// A payment whose payment.created arrives after expiresAt (a charge started
// just before it, or an event redelivered after orders crashed) but within
// the grace completes the order, although expiration.complete came first;
// nothing ever cancels it afterwards.
func TestPaymentWithinTheGraceCompletes(t *testing.T) {
	t.Parallel()
	const grace = time.Minute
	clock := testkit.NewClock(time.Now())
	e := testenv.Start(t, testenv.Options{Window: time.Minute, Grace: grace, Now: clock.Now})
	ctx := testkit.Context(t)
	cancelled := natskit.Record(t, e.NATS.JS, events.OrderCancelled)
	completed := natskit.Record(t, e.NATS.JS, events.OrderCompleted)
	cookie := testkit.SessionCookie(t, user, "a@test.dev")
	o := e.CreateOrder(t, e.Ticket(t, "paid late", 500).ID, cookie)
	id := mustID(t, o.ID)

	// Past expiresAt, 200 ms of grace left (so the deferred event comes back
	// every 200 ms while the clock stands still).
	clock.Set(expiresAt(t, o).Add(grace - 200*time.Millisecond))
	publish(t, e, events.ExpirationComplete, "expire-"+o.ID, events.ExpirationCompleteData{OrderID: o.ID})
	testkit.Eventually(t, 10*time.Second, func() bool {
		return deliveries(t, e, events.ExpirationComplete.Subject) >= 2
	}, "expiration.complete within the grace was never deferred")

	publish(t, e, events.PaymentCreated, "payment-"+o.ID,
		events.PaymentCreatedData{ID: bson.NewObjectID().Hex(), OrderID: o.ID, StripeID: "ch_late"})
	evts := completed.WaitFor(t, 1, 10*time.Second)
	if want := (events.OrderCompletedData{ID: o.ID, Version: 1}); evts[0].Data != want {
		t.Fatalf("order.completed = %+v, want %+v", evts[0].Data, want)
	}

	// The grace ends: the deferred expiration.complete finds the order paid.
	clock.Set(expiresAt(t, o).Add(grace + time.Second))
	settled(t, e, events.ExpirationComplete.Subject)
	settled(t, e, events.PaymentCreated.Subject)
	if got, _ := e.Orders.Get(ctx, id); got.Status != events.StatusComplete || got.Version != 1 {
		t.Fatalf("paid order after the grace: %+v, want complete at version 1", got)
	}
	if n := len(cancelled.Settled(t, e.Outbox())); n != 0 {
		t.Fatalf("%d order.cancelled published for an order paid within the grace", n)
	}
	if n := len(completed.All()); n != 1 {
		t.Fatalf("%d order.completed published, want 1", n)
	}
}

// A paid order never expires, and an order cancelled by its owner is not
// cancelled again.
func TestExpirationOfFinishedOrders(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{Window: time.Millisecond})
	ctx := testkit.Context(t)
	cancelled := natskit.Record(t, e.NATS.JS, events.OrderCancelled)
	completed := natskit.Record(t, e.NATS.JS, events.OrderCompleted)
	cookie := testkit.SessionCookie(t, user, "a@test.dev")

	paid := e.CreateOrder(t, e.Ticket(t, "paid", 500).ID, cookie)
	publish(t, e, events.PaymentCreated, "payment-"+paid.ID,
		events.PaymentCreatedData{ID: bson.NewObjectID().Hex(), OrderID: paid.ID, StripeID: "ch_1"})
	completed.WaitFor(t, 1, 5*time.Second)

	dropped := e.CreateOrder(t, e.Ticket(t, "dropped", 500).ID, cookie)
	if res := testkit.Call(t, e.API, http.MethodDelete, "/api/orders/"+dropped.ID, nil, cookie); res.Status != http.StatusNoContent {
		t.Fatalf("cancel: %d %s", res.Status, res.Body)
	}
	cancelled.WaitFor(t, 1, 5*time.Second)

	for _, o := range []testenv.Order{paid, dropped} {
		publish(t, e, events.ExpirationComplete, "expire-"+o.ID, events.ExpirationCompleteData{OrderID: o.ID})
	}
	settled(t, e, events.ExpirationComplete.Subject)
	if got, _ := e.Orders.Get(ctx, mustID(t, paid.ID)); got.Status != events.StatusComplete || got.Version != 1 {
		t.Fatalf("paid order after expiration: %+v", got)
	}
	if got, _ := e.Orders.Get(ctx, mustID(t, dropped.ID)); got.Status != events.StatusCancelled || got.Version != 1 {
		t.Fatalf("cancelled order after expiration: %+v", got)
	}
	if n := len(cancelled.Settled(t, e.Outbox())); n != 1 {
		t.Fatalf("%d order.cancelled published, want only the owner's 1", n)
	}
}

func TestPaymentCompletesOnce(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	ctx := testkit.Context(t)
	completed := natskit.Record(t, e.NATS.JS, events.OrderCompleted)
	cookie := testkit.SessionCookie(t, user, "a@test.dev")
	o := e.CreateOrder(t, e.Ticket(t, "pay", 500).ID, cookie)

	payment := events.PaymentCreatedData{ID: bson.NewObjectID().Hex(), OrderID: o.ID, StripeID: "ch_1"}
	publish(t, e, events.PaymentCreated, "payment-1", payment)
	evts := completed.WaitFor(t, 1, 5*time.Second)
	if want := (events.OrderCompletedData{ID: o.ID, Version: 1}); evts[0].Data != want || evts[0].ID != "order-completed-"+o.ID+"-1" {
		t.Fatalf("order.completed = %+v (id %s), want %+v", evts[0].Data, evts[0].ID, want)
	}
	// Replayed under another message id: nothing more.
	publish(t, e, events.PaymentCreated, "payment-1-replay", payment)
	settled(t, e, events.PaymentCreated.Subject)
	if got, _ := e.Orders.Get(ctx, mustID(t, o.ID)); got.Status != events.StatusComplete || got.Version != 1 {
		t.Fatalf("after replay: %+v", got)
	}
	if n := len(completed.Settled(t, e.Outbox())); n != 1 {
		t.Fatalf("%d order.completed published, want 1", n)
	}
}

// A payment for a cancelled order leaves it cancelled (payments refunds).
func TestPaymentOfCancelledOrder(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	ctx := testkit.Context(t)
	completed := natskit.Record(t, e.NATS.JS, events.OrderCompleted)
	cookie := testkit.SessionCookie(t, user, "a@test.dev")
	o := e.CreateOrder(t, e.Ticket(t, "late", 500).ID, cookie)
	if res := testkit.Call(t, e.API, http.MethodDelete, "/api/orders/"+o.ID, nil, cookie); res.Status != http.StatusNoContent {
		t.Fatalf("cancel: %d %s", res.Status, res.Body)
	}
	publish(t, e, events.PaymentCreated, "payment-late",
		events.PaymentCreatedData{ID: bson.NewObjectID().Hex(), OrderID: o.ID, StripeID: "ch_2"})
	settled(t, e, events.PaymentCreated.Subject)
	if got, _ := e.Orders.Get(ctx, mustID(t, o.ID)); got.Status != events.StatusCancelled || got.Version != 1 {
		t.Fatalf("after payment: %+v", got)
	}
	if n := len(completed.Settled(t, e.Outbox())); n != 0 {
		t.Fatalf("%d order.completed published for a cancelled order", n)
	}
}

func mustID(t *testing.T, hex string) bson.ObjectID {
	t.Helper()
	id, err := bson.ObjectIDFromHex(hex)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
