package listeners_test

import (
	"sync"
	"testing"
	"time"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/testkit"
	"ticketing.dev/payments/checkout"
	"ticketing.dev/payments/internal/paytest"
	"ticketing.dev/payments/listeners"
	"ticketing.dev/payments/store"
	"ticketing.dev/payments/stripepay"
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
	if !apperr.Is(err, apperr.KindBadRequest) || apperr.From(err).Messages[0].Message != checkout.MsgCancelled {
		t.Fatalf("pay returned %v, want 400 %q", err, checkout.MsgCancelled)
	}
	if n := len(stripe.Requests("/v1/charges")); n != 0 {
		t.Fatalf("%d charges for a cancelled order", n)
	}
	p, _ := e.Payment(o.ID)
	if p.State != store.Void {
		t.Fatalf("payment state %s, want void", p.State)
	}
}
