package listeners_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"ticketing.dev/payments/checkout"
	"ticketing.dev/payments/internal/paytest"
	"ticketing.dev/payments/listeners"
	"ticketing.dev/payments/store"
	"ticketing.dev/payments/stripepay"
	"ticketing.dev/testkit"
)

// A payment request reads the order (created), then the cancellation is
// applied and settled before the request claims it. Before the fix the
// settle found no payment and was acked, the request then charged, and a
// failed refund was never retried: the customer's money was kept. Now the
// settle voids the order's payment slot, so the request cannot charge.
func TestCancellationBetweenReadAndClaimPreventsTheCharge(t *testing.T) {
	stripe := paytest.RecordStripe(t, paytest.StripeMock(t))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL, NoListen: true})
	o := paytest.NewOrder(alice, 1500)
	if err := e.Handlers.OrderCreated(e.Ctx, created(o)); err != nil {
		t.Fatal(err)
	}

	// The payer's clock is first read right after it has read the order:
	// hold it there while the cancellation is handled.
	pause, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	payerNow := func() time.Time {
		once.Do(func() { close(pause); <-resume })
		return time.Now()
	}
	sc := stripepay.New(stripepay.Config{Key: "sk_test_123", BaseURL: stripe.URL, Timeout: 5 * time.Second})
	payer := checkout.New(e.Store, sc, e.Relay, testkit.Logger(t), checkout.Config{Now: payerNow})
	settler := checkout.New(e.Store, sc, e.Relay, testkit.Logger(t), checkout.Config{})
	h := listeners.New(e.Store, settler, testkit.Logger(t))

	done := make(chan error, 1)
	go func() { _, err := payer.Pay(e.Ctx, alice, o.ID, "tok_visa"); done <- err }()
	<-pause
	if err := h.OrderCancelled(e.Ctx, cancelled(o.ID.Hex(), 1)); err != nil {
		t.Fatalf("cancel handler: %v", err)
	}
	close(resume)

	err := <-done
	if !errors.Is(err, checkout.ErrCancelled) {
		t.Fatalf("pay returned %v, want %v", err, checkout.ErrCancelled)
	}
	if n := len(stripe.Requests("/v1/charges")); n != 0 {
		t.Fatalf("%d charges for a cancelled order", n)
	}
	p, _ := e.Payment(o.ID)
	if p.State != store.Void {
		t.Fatalf("payment state %s, want void", p.State)
	}
}

// The takeover race, "cancelled, paid, never refunded": attempt 1's holder
// died (outcome unknown, lease ran out); the user pays again and the request
// reads the order while it is created; the cancellation handler takes the
// stale claim over, repeats attempt 1 and Stripe declines it. Before the fix
// the handler acked with the slot failed, the paused request claimed it as
// attempt 2 and charged, and its refund (Stripe unreachable) was never
// retried. Now the handler acks only once the slot is final (it voids the
// failed slot again), so the request cannot charge.
func TestCancellationTakeoverLeavesNoSlotToCharge(t *testing.T) {
	mock := paytest.StripeMock(t)
	charges := paytest.Sequence(paytest.Decline, mock) // the repeat of attempt 1 is declined
	stripe := paytest.RecordStripe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/refunds" {
			paytest.HangUp(w, r) // a refund would not get through
			return
		}
		charges.ServeHTTP(w, r)
	}))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL, NoListen: true})
	o := paytest.NewOrder(alice, 1500)
	if err := e.Handlers.OrderCreated(e.Ctx, created(o)); err != nil {
		t.Fatal(err)
	}

	const lease = time.Minute
	clk := testkit.NewClock(time.Now())
	if _, _, err := e.Store.Claim(e.Ctx, store.Claim{
		OrderID: o.ID, UserID: alice, Amount: 1500, Token: "tok_visa", Now: clk.Now(), Lease: lease,
	}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(lease + time.Second) // its holder is gone

	// The payer's clock is first read right after it has read the order:
	// hold it there while the cancellation is handled.
	pause, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	payerNow := func() time.Time {
		once.Do(func() { close(pause); <-resume })
		return clk.Now()
	}
	sc := stripepay.New(stripepay.Config{Key: "sk_test_123", BaseURL: stripe.URL, Timeout: 5 * time.Second})
	payer := checkout.New(e.Store, sc, e.Relay, testkit.Logger(t), checkout.Config{Lease: lease, Now: payerNow})
	settler := checkout.New(e.Store, sc, e.Relay, testkit.Logger(t), checkout.Config{Lease: lease, Now: clk.Now})
	h := listeners.New(e.Store, settler, testkit.Logger(t))

	done := make(chan error, 1)
	go func() { _, err := payer.Pay(e.Ctx, alice, o.ID, "tok_mastercard"); done <- err }()
	<-pause
	if err := h.OrderCancelled(e.Ctx, cancelled(o.ID.Hex(), 1)); err != nil {
		t.Fatalf("cancel handler: %v", err)
	}
	// Acknowledged: from here on the slot must be final.
	p, _ := e.Payment(o.ID)
	if p.State != store.Void {
		t.Fatalf("handler acked with the payment %s, want void", p.State)
	}
	close(resume)

	err := <-done
	if !errors.Is(err, checkout.ErrCancelled) {
		t.Fatalf("pay returned %v, want %v", err, checkout.ErrCancelled)
	}
	if keys := stripe.Keys("/v1/charges"); len(keys) != 1 || keys[0] != checkout.ChargeKey(o.ID, 1) {
		t.Fatalf("charge keys %v: only attempt 1 (declined) may reach Stripe", keys)
	}
	if p, _ := e.Payment(o.ID); p.State != store.Void {
		t.Fatalf("payment state %s, want void", p.State)
	}
	if got, _ := e.Store.Order(e.Ctx, o.ID); !got.Settled {
		t.Fatalf("order %+v not marked settled", got)
	}
}
