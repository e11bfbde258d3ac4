package listeners_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/outbox"
	"ticketing.dev/payments/checkout"
	"ticketing.dev/payments/httpapi"
	"ticketing.dev/payments/internal/paytest"
	"ticketing.dev/payments/store"
	"ticketing.dev/testkit"
)

const alice = "user-alice"

func created(o paytest.Order) events.Msg[events.OrderCreatedData] {
	return events.Msg[events.OrderCreatedData]{Data: events.OrderCreatedData{
		ID: o.ID.Hex(), Version: 0, Status: events.StatusCreated, UserID: o.UserID, ExpiresAt: o.ExpiresAt,
		Ticket: events.OrderTicket{ID: bson.NewObjectID().Hex(), Price: o.Price},
	}}
}

func cancelled(id string, version int64) events.Msg[events.OrderCancelledData] {
	return events.Msg[events.OrderCancelledData]{Data: events.OrderCancelledData{ID: id, Version: version}}
}

func completed(id string, version int64) events.Msg[events.OrderCompletedData] {
	return events.Msg[events.OrderCompletedData]{Data: events.OrderCompletedData{ID: id, Version: version}}
}

func isRetry(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "retry in ") }
func isMalformed(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "malformed event")
}

// TestReplicaVersionOrder calls the handlers directly to see each decision.
func TestReplicaVersionOrder(t *testing.T) {
	t.Parallel()
	e := paytest.New(t, paytest.Options{StripeURL: testkit.StripeMockURL(t), NoListen: true})
	h, ctx := e.Handlers, e.Ctx
	o := paytest.NewOrder(alice, 1999)
	id := o.ID.Hex()

	if err := h.OrderCancelled(ctx, cancelled(id, 1)); !isRetry(err) {
		t.Fatalf("cancel of an unknown order: %v, want a retry", err)
	}
	if err := h.OrderCreated(ctx, created(o)); err != nil {
		t.Fatal(err)
	}
	dup := created(o)
	dup.Data.UserID = "someone-else"
	if err := h.OrderCreated(ctx, dup); err != nil {
		t.Fatalf("a repeated order.created must be acknowledged: %v", err)
	}
	got, err := e.Store.Order(ctx, o.ID)
	if err != nil || got.UserID != alice || got.Price != 1999 || got.Status != events.StatusCreated || got.Version != 0 ||
		!got.ExpiresAt.Equal(o.ExpiresAt.Truncate(time.Millisecond)) {
		t.Fatalf("replica %+v, %v", got, err)
	}

	if err := h.OrderCancelled(ctx, cancelled(id, 2)); !isRetry(err) {
		t.Fatalf("version gap: %v, want a retry", err)
	}
	if err := h.OrderCompleted(ctx, completed(id, 2)); !isRetry(err) {
		t.Fatalf("version gap: %v, want a retry", err)
	}
	if got, _ := e.Store.Order(ctx, o.ID); got.Version != 0 || got.Status != events.StatusCreated {
		t.Fatalf("a gap changed the replica: %+v", got)
	}
	if err := h.OrderCompleted(ctx, completed(id, 1)); err != nil {
		t.Fatal(err)
	}
	if err := h.OrderCancelled(ctx, cancelled(id, 1)); err != nil {
		t.Fatalf("an old version must be acknowledged: %v", err)
	}
	if got, _ := e.Store.Order(ctx, o.ID); got.Version != 1 || got.Status != events.StatusComplete {
		t.Fatalf("replica %+v, want complete v1", got)
	}

	if err := h.OrderCancelled(ctx, cancelled("not-an-id", 1)); !isMalformed(err) {
		t.Fatalf("malformed id: %v", err)
	}
	bad := created(paytest.NewOrder("", 1))
	if err := h.OrderCreated(ctx, bad); !isMalformed(err) {
		t.Fatalf("order.created without user: %v", err)
	}
}

// TestReplicaThroughJetStream: a cancellation that overtakes its order's
// creation waits for it, through the real durable consumers.
func TestReplicaThroughJetStream(t *testing.T) {
	t.Parallel()
	stripe := paytest.RecordStripe(t, paytest.StripeMock(t))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL})
	o := paytest.NewOrder(alice, 500)
	e.Cancelled(o.ID, 1)
	e.Created(o)
	e.WaitStatus(o.ID, events.StatusCancelled, 1)

	o2 := paytest.NewOrder(alice, 500)
	e.Created(o2)
	e.Created(o2) // same event id: JetStream drops it; a new id would be acknowledged as a repeat
	e.Completed(o2.ID, 1)
	e.WaitStatus(o2.ID, events.StatusComplete, 1)
	if n := len(stripe.Requests("/v1/refunds")); n != 0 {
		t.Fatalf("%d refunds without payments", n)
	}
}

// TestRefundOnCancel refunds a succeeded payment once its order is cancelled.
func TestRefundOnCancel(t *testing.T) {
	t.Parallel()
	stripe := paytest.RecordStripe(t, paytest.StripeMock(t))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL})
	o := paytest.NewOrder(alice, 1999)
	e.Created(o)
	if r := e.Pay(alice, o.ID, "tok_visa"); r.Status != http.StatusCreated {
		t.Fatalf("pay: %d %s", r.Status, r.Body)
	}
	e.Cancelled(o.ID, 1)
	waitState(t, e, o.ID, store.Refunded)
	refunds := stripe.Requests("/v1/refunds")
	p, _ := e.Payment(o.ID)
	if len(refunds) != 1 || refunds[0].IdempotencyKey != checkout.RefundKey(o.ID) || refunds[0].Form.Get("charge") != p.StripeID {
		t.Fatalf("refund requests %+v for charge %s", refunds, p.StripeID)
	}
	if p.RefundID == "" {
		t.Fatalf("payment %+v has no refund id", p)
	}
	// A redelivered cancellation changes nothing.
	if err := e.Handlers.OrderCancelled(e.Ctx, cancelled(o.ID.Hex(), 1)); err != nil {
		t.Fatal(err)
	}
	if n := len(stripe.Requests("/v1/refunds")); n != 1 {
		t.Fatalf("%d refund requests after a redelivery", n)
	}
}

func waitState(t *testing.T, e *paytest.Env, orderID bson.ObjectID, want store.State) {
	t.Helper()
	var last store.Payment
	testkit.Eventually(t, 15*time.Second, func() bool {
		last, _ = e.Payment(orderID)
		return last.State == want
	}, "payment of %s becomes %s (is %q)", orderID.Hex(), want, last.State)
}

// gate holds charge requests until opened, so a test can act while one is
// in flight.
type gate struct {
	inFlight chan struct{}
	open     chan struct{}
	next     http.Handler
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/charges" {
		select {
		case g.inFlight <- struct{}{}:
		default:
		}
		<-g.open
	}
	g.next.ServeHTTP(w, r)
}

// TestCancelDuringCharge: order.cancelled lands between the checks and the
// charge; the money is given back and the payer is told the order is cancelled.
func TestCancelDuringCharge(t *testing.T) {
	t.Parallel()
	g := &gate{inFlight: make(chan struct{}, 1), open: make(chan struct{}), next: paytest.StripeMock(t)}
	stripe := paytest.RecordStripe(t, g)
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL})
	o := paytest.NewOrder(alice, 700)
	e.Created(o)

	resp := make(chan testkit.Response, 1)
	go func() { resp <- e.Pay(alice, o.ID, "tok_visa") }()
	<-g.inFlight
	e.Cancelled(o.ID, 1)
	e.WaitStatus(o.ID, events.StatusCancelled, 1)
	close(g.open)

	(<-resp).WantErrors(t, http.StatusBadRequest, testkit.Msg(httpapi.MsgCancelled))
	waitState(t, e, o.ID, store.Refunded)
	if keys := stripe.Keys("/v1/refunds"); len(keys) != 1 || keys[0] != checkout.RefundKey(o.ID) {
		t.Fatalf("refund keys %v", keys)
	}
}

// TestCancelAfterCrashedPayment: the holder of a claim died mid-charge. The
// cancellation handler repeats the attempt (same key, so Stripe returns the
// original charge if there was one) and refunds it.
func TestCancelAfterCrashedPayment(t *testing.T) {
	t.Parallel()
	stripe := paytest.RecordStripe(t, paytest.StripeMock(t))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL})
	o := paytest.NewOrder(alice, 1999)
	e.Created(o)
	claim, _, err := e.Store.Claim(e.Ctx, store.Claim{
		OrderID: o.ID, UserID: alice, Amount: 1999, Token: "tok_visa", Now: time.Now().Add(-time.Minute), Lease: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Cancelled(o.ID, 1)
	waitState(t, e, o.ID, store.Refunded)
	charges := stripe.Requests("/v1/charges")
	if len(charges) != 1 || charges[0].IdempotencyKey != checkout.ChargeKey(o.ID, claim.Attempt) ||
		charges[0].Form.Get("source") != "tok_visa" || charges[0].Form.Get("amount") != "1999" {
		t.Fatalf("charge requests %+v", charges)
	}
	if n := len(stripe.Requests("/v1/refunds")); n != 1 {
		t.Fatalf("%d refund requests", n)
	}
}

// fakeOrders plays the orders service's part in the race: a payment
// completes the order unless it is cancelled; a cancellation (expiry) wins
// unless the order is complete.
type fakeOrders struct {
	e      *paytest.Env
	mu     sync.Mutex
	status map[bson.ObjectID]string
}

func (f *fakeOrders) onPayment(ctx context.Context, msg events.Msg[events.PaymentCreatedData]) error {
	id, _ := bson.ObjectIDFromHex(msg.Data.OrderID)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status[id] != events.StatusCreated {
		return nil
	}
	f.status[id] = events.StatusComplete
	return events.Publish(ctx, f.e.Pub, events.OrderCompleted, outbox.ID(events.OrderCompleted.Subject, id.Hex(), 1),
		events.OrderCompletedData{ID: id.Hex(), Version: 1})
}

func (f *fakeOrders) cancel(id bson.ObjectID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status[id] != events.StatusCreated {
		return
	}
	f.status[id] = events.StatusCancelled
	f.e.Cancelled(id, 1)
}

// TestPaymentRacesCancellation: whichever wins, an order ends complete with
// no refund, or cancelled with its money back (or never taken). The checks
// are the invariants, not one interleaving: the cancellation may void the
// order's payment slot before, while or after the payment reads the order.
func TestPaymentRacesCancellation(t *testing.T) {
	t.Parallel()
	stripe := paytest.RecordStripe(t, paytest.StripeMock(t))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL})
	f := &fakeOrders{e: e, status: map[bson.ObjectID]string{}}
	l, err := events.Listen(e.Ctx, e.NATS.JS, testkit.Logger(t), events.PaymentCreated, "fake-orders", f.onPayment,
		events.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)

	const rounds = 12
	outcomes := map[string]int{}
	for i := range rounds {
		o := paytest.NewOrder(alice, money.Cents(1000+i))
		f.mu.Lock()
		f.status[o.ID] = events.StatusCreated
		f.mu.Unlock()
		e.Created(o)

		var wg sync.WaitGroup
		var r testkit.Response
		wg.Go(func() { r = e.Pay(alice, o.ID, "tok_visa") })
		wg.Go(func() {
			time.Sleep(time.Duration(rand.IntN(120)) * time.Millisecond)
			f.cancel(o.ID)
		})
		wg.Wait()
		if r.Status != http.StatusCreated && r.Status != http.StatusBadRequest {
			t.Fatalf("round %d: pay %d %s", i, r.Status, r.Body)
		}

		f.mu.Lock()
		final := f.status[o.ID]
		f.mu.Unlock()
		e.WaitStatus(o.ID, final, 1)
		outcome, err := moneyInvariant(e, stripe, o.ID, final)
		if err != nil {
			t.Fatalf("round %d (pay answered %d): %v", i, r.Status, err)
		}
		if r.Status == http.StatusCreated && outcome == "cancelled, never charged" {
			t.Fatalf("round %d: pay answered 201 and nothing was charged", i)
		}
		outcomes[outcome]++
	}
	t.Logf("outcomes over %d rounds: %v", rounds, outcomes)
}

func countKey(s *paytest.StripeRecorder, path, key string) int {
	n := 0
	for _, q := range s.Requests(path) {
		if q.IdempotencyKey == key {
			n++
		}
	}
	return n
}

// moneyInvariant checks what must hold for an order at rest, whatever the
// interleaving, and names the outcome (or what is wrong):
//   - every payment record is void (never charged) or has its charge at
//     Stripe under its own key; there is one charge attempt at most (this
//     Stripe never declines);
//   - a complete order keeps its payment and is not refunded;
//   - a cancelled order keeps no money: its payment slot ends final (void,
//     or refunded under the refund key).
func moneyInvariant(e *paytest.Env, stripe *paytest.StripeRecorder, id bson.ObjectID, status string) (string, error) {
	e.T.Helper()
	var p store.Payment
	var found bool
	final := map[string][]store.State{
		events.StatusComplete:  {store.Succeeded},
		events.StatusCancelled: {store.Void, store.Refunded},
	}[status]
	if final == nil {
		return "", fmt.Errorf("order ended %q", status)
	}
	testkit.Eventually(e.T, 15*time.Second, func() bool {
		p, found = e.Payment(id)
		return found && slices.Contains(final, p.State)
	}, "payment of %s %s ends in %v (is %q)", status, id.Hex(), final, p.State)

	var keys []string
	for _, k := range stripe.Keys("/v1/charges") {
		if strings.HasPrefix(k, "charge-"+id.Hex()+"-") {
			keys = append(keys, k)
		}
	}
	refunds := countKey(stripe, "/v1/refunds", checkout.RefundKey(id))
	switch {
	case p.State == store.Void && len(keys) != 0:
		return "", fmt.Errorf("a void payment was charged under %v", keys)
	case p.State == store.Void:
		return "cancelled, never charged", nil
	case len(keys) != 1 || keys[0] != checkout.ChargeKey(id, p.Attempt):
		return "", fmt.Errorf("a %s payment of attempt %d with charge keys %v", p.State, p.Attempt, keys)
	case p.State == store.Succeeded && refunds != 0:
		return "", errors.New("a completed order was refunded")
	case p.State == store.Succeeded:
		return "complete", nil
	case refunds == 0:
		return "", errors.New("refunded without a refund request")
	default:
		// Both the payer's re-read and the cancellation handler may ask;
		// they share the refund's idempotency key, so Stripe refunds once.
		return "cancelled, refunded", nil
	}
}
