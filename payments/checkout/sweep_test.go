package checkout_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/sweep"
	"ticketing.dev/payments/checkout"
	"ticketing.dev/payments/internal/paytest"
	"ticketing.dev/payments/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

const alice = "user-alice"

func sweeper(t *testing.T, e *paytest.Env) *sweep.Sweeper {
	return sweep.New(checkout.SweepName, time.Second, testkit.Logger(t), e.Checkout.Reconcile)
}

// order puts a new order of alice into the replica.
func order(t *testing.T, e *paytest.Env, price money.Cents) paytest.Order {
	t.Helper()
	o := paytest.NewOrder(alice, price)
	if err := e.Handlers.OrderCreated(e.Ctx, events.Msg[events.OrderCreatedData]{Data: events.OrderCreatedData{
		ID: o.ID.Hex(), Status: events.StatusCreated, UserID: alice, ExpiresAt: o.ExpiresAt,
		Ticket: events.OrderTicket{ID: bson.NewObjectID().Hex(), Price: o.Price},
	}}); err != nil {
		t.Fatal(err)
	}
	return o
}

// crashedClaim leaves the pending claim of a holder that died before it
// reached Stripe: its lease ran out a while ago.
func crashedClaim(t *testing.T, e *paytest.Env, o paytest.Order) store.Payment {
	t.Helper()
	p, _, err := e.Store.Claim(e.Ctx, store.Claim{
		OrderID: o.ID, UserID: alice, Amount: int64(o.Price), Token: "tok_visa",
		Now: time.Now().Add(-time.Minute), Lease: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSweepResumesAbandonedClaims: a payments process died mid-charge and
// nothing else would resume its claim before the order expires. One pass
// repeats the attempt (same key, token and amount) and records the outcome.
func TestSweepResumesAbandonedClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		stripe    func(t testing.TB) http.Handler
		cancelled bool // the order was cancelled and its event given up on
		want      store.State
		published bool // payment.created
		refunds   int
	}{
		{"open order", paytest.StripeMock, false, store.Succeeded, true, 0},
		{"cancelled order", paytest.StripeMock, true, store.Refunded, true, 1},
		{"card declined", func(testing.TB) http.Handler { return paytest.Decline }, false, store.Failed, false, 0},
		{"card declined, cancelled order", func(testing.TB) http.Handler { return paytest.Decline }, true, store.Void, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stripe := paytest.RecordStripe(t, tc.stripe(t))
			e := paytest.New(t, paytest.Options{StripeURL: stripe.URL, NoListen: true})
			paid := natskit.Record(t, e.NATS.JS, events.PaymentCreated)
			o := order(t, e, 1999)
			claim := crashedClaim(t, e, o)
			if tc.cancelled {
				if _, _, err := e.Store.ApplyStatus(e.Ctx, o.ID, 1, events.StatusCancelled); err != nil {
					t.Fatal(err)
				}
			}

			sw := sweeper(t, e)
			if n, err := sw.Once(e.Ctx); n != 1 || err != nil {
				t.Fatalf("pass repaired %d, %v; want 1", n, err)
			}
			p, _ := e.Payment(o.ID)
			if p.State != tc.want {
				t.Fatalf("payment %+v, want %s", p, tc.want)
			}
			charges := stripe.Requests("/v1/charges")
			if len(charges) != 1 || charges[0].IdempotencyKey != checkout.ChargeKey(o.ID, claim.Attempt) ||
				charges[0].Form.Get("source") != "tok_visa" || charges[0].Form.Get("amount") != "1999" {
				t.Fatalf("charge requests %+v, want one repeat of attempt %d", charges, claim.Attempt)
			}
			if tc.published {
				got := paid.WaitFor(t, 1, 10*time.Second)
				if d := got[0].Data; d.OrderID != o.ID.Hex() || d.ID != p.ID.Hex() || d.StripeID != p.StripeID {
					t.Fatalf("payment.created %+v for payment %+v", d, p)
				}
			}
			if n := len(stripe.Requests("/v1/refunds")); n != tc.refunds {
				t.Fatalf("%d refund requests, want %d", n, tc.refunds)
			}
			if got, _ := e.Store.Order(e.Ctx, o.ID); got.Settled != tc.cancelled {
				t.Fatalf("order %+v: settled %v, want %v", got, got.Settled, tc.cancelled)
			}

			// Nothing is left to repair: the next pass changes nothing.
			if n, err := sw.Once(e.Ctx); n != 0 || err != nil {
				t.Fatalf("second pass repaired %d, %v", n, err)
			}
			if n := len(stripe.Requests("/v1/charges")); n != 1 {
				t.Fatalf("%d charge requests after the second pass", n)
			}
			want := 0
			if tc.published {
				want = 1
			}
			if got := paid.Settled(t, e.Store.Payments()); len(got) != want {
				t.Fatalf("%d payment.created events, want %d", len(got), want)
			}
		})
	}
}

// TestSweepRefundsOnceStripeAnswers: the payment of a cancelled order could
// not be refunded (Stripe unreachable) and the cancellation event was given
// up on. The sweep retries the refund at every pass until it is confirmed.
func TestSweepRefundsOnceStripeAnswers(t *testing.T) {
	t.Parallel()
	var up atomic.Bool
	mock := paytest.StripeMock(t)
	stripe := paytest.RecordStripe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/refunds" && !up.Load() {
			paytest.HangUp(w, r)
			return
		}
		mock.ServeHTTP(w, r)
	}))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL, NoListen: true})
	o := order(t, e, 2500)
	if r := e.Pay(alice, o.ID, "tok_visa"); r.Status != http.StatusCreated {
		t.Fatalf("pay: %d %s", r.Status, r.Body)
	}
	cancel := events.Msg[events.OrderCancelledData]{Data: events.OrderCancelledData{ID: o.ID.Hex(), Version: 1}}
	if err := e.Handlers.OrderCancelled(e.Ctx, cancel); err == nil {
		t.Fatal("cancellation handler acked although the refund failed")
	}

	sw := sweeper(t, e)
	if n, err := sw.Once(e.Ctx); n != 0 || err == nil {
		t.Fatalf("pass with Stripe down repaired %d, %v; want 0 and an error", n, err)
	}
	if p, _ := e.Payment(o.ID); p.State != store.Succeeded {
		t.Fatalf("payment %s while Stripe is down", p.State)
	}

	up.Store(true)
	if n, err := sw.Once(e.Ctx); n != 1 || err != nil {
		t.Fatalf("pass with Stripe back repaired %d, %v; want 1", n, err)
	}
	p, _ := e.Payment(o.ID)
	if p.State != store.Refunded || p.RefundID == "" {
		t.Fatalf("payment %+v, want refunded", p)
	}
	refunds := stripe.Requests("/v1/refunds")
	last := refunds[len(refunds)-1]
	if last.IdempotencyKey != checkout.RefundKey(o.ID) || last.Form.Get("charge") != p.StripeID {
		t.Fatalf("refund request %+v for charge %s", last, p.StripeID)
	}
	if got, _ := e.Store.Order(e.Ctx, o.ID); !got.Settled {
		t.Fatalf("order %+v not marked settled", got)
	}
	if n, err := sw.Once(e.Ctx); n != 0 || err != nil {
		t.Fatalf("pass after the refund repaired %d, %v", n, err)
	}
	if n := len(stripe.Requests("/v1/refunds")); n != len(refunds) {
		t.Fatalf("a settled order was refunded again: %d refund requests, then %d", len(refunds), n)
	}
	// A redelivered cancellation is acked now and asks for nothing.
	if err := e.Handlers.OrderCancelled(e.Ctx, cancel); err != nil {
		t.Fatal(err)
	}
}
