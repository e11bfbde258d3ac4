package reconcile_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/orders/internal/testenv"
	"ticketing.dev/orders/listeners"
	"ticketing.dev/orders/order"
	"ticketing.dev/orders/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	user   = "aaaaaaaaaaaaaaaaaaaaaaaa"
	window = 10 * time.Minute
	grace  = time.Minute
)

// put stores an order for a fresh ticket that expires at expiresAt, then
// brings it to status the way the service would (a payment, its owner).
func put(t *testing.T, e *testenv.Env, status string, expiresAt time.Time) order.Order {
	t.Helper()
	ctx := testkit.Context(t)
	o, created, err := order.New(user, order.Ticket{ID: bson.NewObjectID(), Title: status, Price: 500},
		expiresAt.Add(-window), window)
	if err != nil {
		t.Fatal(err)
	}
	if status == events.StatusAwaitingPayment {
		o.Status = status
	}
	if err := e.Orders.Create(ctx, o, created); err != nil {
		t.Fatal(err)
	}
	var change store.Change
	switch status {
	case events.StatusComplete:
		change = func(o *order.Order) (*outbox.Event, error) { return o.Complete() }
	case events.StatusCancelled:
		change = func(o *order.Order) (*outbox.Event, error) { return o.Cancel() }
	default:
		return o
	}
	o, err = e.Orders.Update(ctx, o.ID, change)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// byOrder counts recorded events per order id.
func byOrder[T any](msgs []events.Msg[T], id func(T) string) map[string]int {
	n := map[string]int{}
	for _, m := range msgs {
		n[id(m.Data)]++
	}
	return n
}

func cancelledID(d events.OrderCancelledData) string { return d.ID }
func completedID(d events.OrderCompletedData) string { return d.ID }

// With no expiration event at all (Redis lost its jobs, expiration is
// down), the sweep cancels every unpaid order whose expiresAt + grace has
// passed, once, through the outbox, and frees its ticket; it leaves paid,
// cancelled and not yet overdue orders alone.
func TestSweepExpiresOverdueOrders(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Millisecond)
	clock := testkit.NewClock(now)
	e := testenv.Start(t, testenv.Options{Window: window, Grace: grace, Now: clock.Now})
	ctx := testkit.Context(t)
	cancelled := natskit.Record(t, e.NATS.JS, events.OrderCancelled)
	sweeper := e.Sweeper(t, 0)

	tests := []struct {
		name       string
		status     string
		expiresAt  time.Time
		swept      bool // cancelled by the first pass
		sweptLater bool // cancelled once the clock is past its grace
	}{
		{"created, long overdue", events.StatusCreated, now.Add(-time.Hour), true, false},
		{"created, overdue by a second", events.StatusCreated, now.Add(-grace - time.Second), true, false},
		{"created, grace ends now", events.StatusCreated, now.Add(-grace), true, false},
		{"awaiting payment, overdue", events.StatusAwaitingPayment, now.Add(-grace - time.Second), true, false},
		{"created, within the grace", events.StatusCreated, now.Add(-time.Second), false, true},
		{"awaiting payment, within the grace", events.StatusAwaitingPayment, now.Add(-grace + time.Millisecond), false, true},
		{"created, window open", events.StatusCreated, now.Add(5 * time.Minute), false, false},
		{"complete, overdue", events.StatusComplete, now.Add(-time.Hour), false, false},
		{"cancelled by its owner, overdue", events.StatusCancelled, now.Add(-time.Hour), false, false},
	}
	orders := make([]order.Order, len(tests))
	for i, tt := range tests {
		orders[i] = put(t, e, tt.status, tt.expiresAt)
	}
	owners := 1 // the owner's own order.cancelled
	first, later := 0, 0
	for _, tt := range tests {
		if tt.swept {
			first++
		}
		if tt.sweptLater {
			later++
		}
	}

	n, err := sweeper.Once(ctx)
	if err != nil || n != first {
		t.Fatalf("first pass = %d, %v; want %d cancelled", n, err, first)
	}
	if n, err := sweeper.Once(ctx); err != nil || n != 0 {
		t.Fatalf("second pass = %d, %v; want nothing left to do", n, err)
	}
	check := func(afterLater bool) {
		t.Helper()
		counts := byOrder(cancelled.WaitFor(t, owners+first+map[bool]int{false: 0, true: later}[afterLater], 10*time.Second), cancelledID)
		for i, tt := range tests {
			got, err := e.Orders.Get(ctx, orders[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			sweptNow := tt.swept || (afterLater && tt.sweptLater)
			want, wantVersion, wantEvents := tt.status, orders[i].Version, 0
			switch {
			case sweptNow:
				want, wantVersion, wantEvents = events.StatusCancelled, 1, 1
			case tt.status == events.StatusCancelled:
				wantEvents = 1
			}
			if got.Status != want || got.Version != wantVersion {
				t.Errorf("%s: %s at version %d, want %s at version %d", tt.name, got.Status, got.Version, want, wantVersion)
			}
			if c := counts[orders[i].ID.Hex()]; c != wantEvents {
				t.Errorf("%s: %d order.cancelled, want %d", tt.name, c, wantEvents)
			}
			if sweptNow && tt.swept != afterLater {
				// Newly swept: its ticket is free: another order for it is accepted.
				o, created, err := order.New(user, orders[i].Ticket, now, window)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.Orders.Create(ctx, o, created); err != nil {
					t.Errorf("%s: ticket not freed: %v", tt.name, err)
				}
			}
		}
	}
	check(false)

	// Once their grace has passed, the orders that were within it go too;
	// the order whose window is still open stays.
	clock.Set(now.Add(grace))
	if n, err := sweeper.Once(ctx); err != nil || n != later {
		t.Fatalf("pass after the grace = %d, %v; want %d cancelled", n, err, later)
	}
	check(true)
	if n := len(cancelled.Settled(t, e.Outbox())); n != owners+first+later {
		t.Fatalf("%d order.cancelled published, want %d", n, owners+first+later)
	}
}

// A pass handles at most a batch, longest overdue first; the next pass goes on.
func TestSweepBatch(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Millisecond)
	e := testenv.Start(t, testenv.Options{Window: window, Grace: grace, Now: testkit.NewClock(now).Now})
	ctx := testkit.Context(t)
	const overdue, batch = 25, 10
	orders := make([]order.Order, overdue)
	for i := range orders {
		orders[i] = put(t, e, events.StatusCreated, now.Add(-grace-time.Duration(overdue-i)*time.Second))
	}
	sweeper := e.Sweeper(t, batch)
	var passes []int
	for range 4 {
		n, err := sweeper.Once(ctx)
		if err != nil {
			t.Fatal(err)
		}
		passes = append(passes, n)
	}
	if fmt.Sprint(passes) != "[10 10 5 0]" {
		t.Fatalf("passes cancelled %v, want [10 10 5 0]", passes)
	}
	// The first pass took the ten longest overdue.
	for i, o := range orders {
		got, err := e.Orders.Get(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != events.StatusCancelled || got.Version != 1 {
			t.Errorf("order %d: %s at version %d, want cancelled at 1", i, got.Status, got.Version)
		}
	}
}

// Several replicas sweep at once, racing each other and payments that
// arrive late: every order ends cancelled or complete, with exactly one
// event for its outcome, and the sweepers' counts add up to the orders
// cancelled (no order is counted, or cancelled, twice).
//
// The sweepers share the test's one-connection client: on FerretDB that is
// what makes a single-document update atomic as on MongoDB (see testkit).
// Their passes still interleave at every store operation, so a versioned
// update loses to another writer and re-decides.
func TestConcurrentSweepers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sweepers int
		payEvery int // 0: no payments
	}{
		{"two sweepers", 2, 0},
		{"three sweepers and payments", 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := time.Now().UTC().Truncate(time.Millisecond)
			e := testenv.Start(t, testenv.Options{Window: window, Grace: grace, Now: testkit.NewClock(now).Now})
			ctx := testkit.Context(t)
			cancelled := natskit.Record(t, e.NATS.JS, events.OrderCancelled)
			completed := natskit.Record(t, e.NATS.JS, events.OrderCompleted)
			const n = 30
			orders := make([]order.Order, n)
			for i := range orders {
				orders[i] = put(t, e, events.StatusCreated, now.Add(-grace-time.Second))
			}

			var wg sync.WaitGroup
			counts := make(chan int, tt.sweepers)
			errs := make(chan error, tt.sweepers+n)
			for range tt.sweepers {
				s := e.Sweeper(t, 0)
				wg.Go(func() {
					got, err := s.Once(ctx)
					counts <- got
					errs <- err
				})
			}
			if tt.payEvery > 0 {
				for i, o := range orders {
					if i%tt.payEvery != 0 {
						continue
					}
					wg.Go(func() {
						errs <- events.Publish(ctx, e.Pub, events.PaymentCreated, "payment-"+o.ID.Hex(),
							events.PaymentCreatedData{ID: bson.NewObjectID().Hex(), OrderID: o.ID.Hex(), StripeID: "ch_" + o.ID.Hex()})
					})
				}
			}
			wg.Wait()
			close(counts)
			close(errs)
			if err := errors.Join(func() (all []error) {
				for err := range errs {
					all = append(all, err)
				}
				return all
			}()...); err != nil {
				t.Fatal(err)
			}
			swept := 0
			for c := range counts {
				swept += c
			}

			// Let the payments land, then a last pass finishes what they left.
			settledPayments(t, e)
			last, err := e.Sweeper(t, 0).Once(ctx)
			if err != nil {
				t.Fatal(err)
			}
			swept += last

			nCancelled := 0
			for _, o := range orders {
				got, err := e.Orders.Get(ctx, o.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Version != 1 || (got.Status != events.StatusCancelled && got.Status != events.StatusComplete) {
					t.Errorf("order %s: %s at version %d, want cancelled or complete at version 1", o.ID.Hex(), got.Status, got.Version)
				}
				if got.Status == events.StatusCancelled {
					nCancelled++
				}
			}
			if tt.payEvery == 0 && nCancelled != n {
				t.Errorf("%d of %d overdue orders cancelled", nCancelled, n)
			}
			if swept != nCancelled {
				t.Errorf("the sweepers report %d cancellations for %d cancelled orders", swept, nCancelled)
			}
			cancelledBy := byOrder(cancelled.Settled(t, e.Outbox()), cancelledID)
			completedBy := byOrder(completed.Settled(t, e.Outbox()), completedID)
			for _, o := range orders {
				got, _ := e.Orders.Get(ctx, o.ID)
				want := map[string][2]int{events.StatusCancelled: {1, 0}, events.StatusComplete: {0, 1}}[got.Status]
				if have := [2]int{cancelledBy[o.ID.Hex()], completedBy[o.ID.Hex()]}; have != want {
					t.Errorf("order %s (%s): %d order.cancelled and %d order.completed, want %v",
						o.ID.Hex(), got.Status, have[0], have[1], want)
				}
			}
		})
	}
}

// settledPayments waits until the payment.created listener has answered
// every payment published (each Publish returned once the stream had it).
func settledPayments(t *testing.T, e *testenv.Env) {
	t.Helper()
	e.Handled(t, events.Durable(listeners.QueueGroup, events.PaymentCreated.Subject))
}
