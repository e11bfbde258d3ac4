package checkout_test

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/sweep"
	"ticketing.dev/payments/checkout"
	"ticketing.dev/payments/httpapi"
	"ticketing.dev/payments/internal/paytest"
	"ticketing.dev/payments/store"
	"ticketing.dev/payments/stripepay"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

// newClock is a test clock at now, to the millisecond (BSON dates are
// milliseconds).
func newClock() *testkit.Clock { return testkit.NewClock(time.Now().Truncate(time.Millisecond)) }

func stripeClient(url string) *stripepay.Client {
	return stripepay.New(stripepay.Config{Key: "sk_test_123", BaseURL: url, Timeout: time.Minute})
}

// wantCharges checks that Stripe saw n charge requests, each one exactly
// attempt 1 of o with tok_visa.
func wantCharges(t *testing.T, stripe *paytest.StripeRecorder, o paytest.Order, n int) {
	t.Helper()
	charges := stripe.Requests("/v1/charges")
	if len(charges) != n {
		t.Fatalf("%d charge requests, want %d: %+v", len(charges), n, charges)
	}
	for _, c := range charges {
		if c.IdempotencyKey != checkout.ChargeKey(o.ID, 1) || c.Form.Get("source") != "tok_visa" ||
			c.Form.Get("amount") != strconv.FormatInt(int64(o.Price), 10) {
			t.Fatalf("charge request %+v is not attempt 1 of order %s", c, o.ID.Hex())
		}
	}
}

// TestSlowChargeKeepsItsClaim: Stripe holds the charge for several leases.
// Its holder renews the lease meanwhile, so neither the sweep nor another
// request takes the claim over (409, one request at Stripe); released, the
// charge ends succeeded.
func TestSlowChargeKeepsItsClaim(t *testing.T) {
	t.Parallel()
	const lease = time.Second
	hold := paytest.NewHold(paytest.StripeMock(t))
	stripe := paytest.RecordStripe(t, hold)
	t.Cleanup(hold.Release)
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL, StripeTimeout: time.Minute, Lease: lease, NoListen: true})
	paid := natskit.Record(t, e.NATS.JS, events.PaymentCreated)
	o := order(t, e, 1999)

	first := make(chan testkit.Response, 1)
	done := make(chan struct{})
	go func() { defer close(done); first <- e.Pay(alice, o.ID, "tok_visa") }()
	t.Cleanup(func() { hold.Release(); <-done })
	<-hold.InFlight
	claim, _ := e.Payment(o.ID)

	// Until the lease has been renewed past several leases from the claim,
	// every sweep pass and every other request finds the claim alive.
	sw := sweeper(t, e)
	testkit.Eventually(t, time.Minute, func() bool {
		if n, err := sw.Once(e.Ctx); n != 0 || err != nil {
			t.Fatalf("a pass while the holder lives repaired %d, %v", n, err)
		}
		// A second payment while the first is at Stripe.
		e.Pay(alice, o.ID, "tok_visa").WantErrors(t, http.StatusConflict, testkit.Msg(httpapi.MsgInProgress))
		p, _ := e.Payment(o.ID)
		if p.State != store.Pending || p.Holder != claim.Holder || p.Attempt != claim.Attempt {
			t.Fatalf("claim %+v changed hands (was %+v)", p, claim)
		}
		return p.LeaseUntil.After(claim.LeaseUntil.Add(3 * lease))
	}, "the holder renews its lease past three leases from its claim")
	wantCharges(t, stripe, o, 1)

	hold.Release()
	if r := <-first; r.Status != http.StatusCreated {
		t.Fatalf("held payment: %d %s", r.Status, r.Body)
	}
	p, _ := e.Payment(o.ID)
	if p.State != store.Succeeded || p.Token != "" {
		t.Fatalf("payment %+v, want succeeded", p)
	}
	if got := paid.WaitFor(t, 1, 10*time.Second); got[0].Data.StripeID != p.StripeID {
		t.Fatalf("payment.created %+v for payment %+v", got[0].Data, p)
	}
	if n, err := sw.Once(e.Ctx); n != 0 || err != nil {
		t.Fatalf("a pass after the charge repaired %d, %v", n, err)
	}
	wantCharges(t, stripe, o, 1)
}

// TestSweepResumesClaimWhoseHolderDied: a holder renewed its claim and died.
// Nothing renews it any more, and the first pass after the lease (counted
// from the last renewal) runs out resumes it: the claim is resumed within
// Lease + PAYMENTS_SWEEP of the crash.
func TestSweepResumesClaimWhoseHolderDied(t *testing.T) {
	t.Parallel()
	stripe := paytest.RecordStripe(t, paytest.StripeMock(t))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL, NoListen: true})
	paid := natskit.Record(t, e.NATS.JS, events.PaymentCreated)
	o := order(t, e, 1999)
	clk := newClock()
	co := checkout.New(e.Store, stripeClient(stripe.URL), e.Relay, testkit.Logger(t), checkout.Config{Now: clk.Now})
	sw := sweep.New(checkout.SweepName, time.Second, testkit.Logger(t), co.Reconcile)

	claim, _, err := e.Store.Claim(e.Ctx, store.Claim{
		OrderID: o.ID, UserID: alice, Amount: int64(o.Price), Token: "tok_visa", Now: clk.Now(), Lease: checkout.DefaultLease,
	})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(4 * time.Second)
	if ok, err := e.Store.RenewLease(e.Ctx, claim, clk.Now(), checkout.DefaultLease); !ok || err != nil {
		t.Fatalf("the holder's renewal: %v, %v", ok, err)
	}
	// The holder dies here.

	clk.Advance(checkout.DefaultLease - time.Millisecond)
	if n, err := sw.Once(e.Ctx); n != 0 || err != nil {
		t.Fatalf("a pass before the renewed lease ran out repaired %d, %v", n, err)
	}
	wantCharges(t, stripe, o, 0)

	clk.Advance(2 * time.Millisecond)
	if n, err := sw.Once(e.Ctx); n != 1 || err != nil {
		t.Fatalf("the pass after the lease ran out repaired %d, %v; want 1", n, err)
	}
	p, _ := e.Payment(o.ID)
	if p.State != store.Succeeded || p.Attempt != claim.Attempt {
		t.Fatalf("payment %+v, want attempt %d succeeded", p, claim.Attempt)
	}
	wantCharges(t, stripe, o, 1)
	if got := paid.WaitFor(t, 1, 10*time.Second); got[0].Data.StripeID != p.StripeID {
		t.Fatalf("payment.created %+v for payment %+v", got[0].Data, p)
	}
}

// TestOvertakenHolderRepeatsTheSameAttempt: a holder that is alive but whose
// renewals do not extend its lease (here its clock stands still, as if the
// store were out of its reach) is overtaken by the sweep once the lease runs
// out. That is safe: the sweep repeats the same attempt (same key, token and
// amount), so Stripe charges once for both, and the first to record the
// outcome wins; the overtaken holder gets that record back.
func TestOvertakenHolderRepeatsTheSameAttempt(t *testing.T) {
	t.Parallel()
	hold := paytest.NewHold(paytest.StripeMock(t))
	stripe := paytest.RecordStripe(t, hold)
	t.Cleanup(hold.Release)
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL, NoListen: true})
	paid := natskit.Record(t, e.NATS.JS, events.PaymentCreated)
	o := order(t, e, 2500)

	stuck := newClock()
	holder := checkout.New(e.Store, stripeClient(stripe.URL), e.Relay, testkit.Logger(t), checkout.Config{Now: stuck.Now})
	later := testkit.NewClock(stuck.Now().Add(checkout.DefaultLease + time.Millisecond))
	sweeperCo := checkout.New(e.Store, stripeClient(stripe.URL), e.Relay, testkit.Logger(t), checkout.Config{Now: later.Now})

	type result struct {
		r   checkout.Receipt
		err error
	}
	first := make(chan result, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r, err := holder.Pay(e.Ctx, alice, o.ID, "tok_visa")
		first <- result{r, err}
	}()
	t.Cleanup(func() { hold.Release(); <-done })
	<-hold.InFlight
	claim, _ := e.Payment(o.ID)

	if n, err := sweep.New(checkout.SweepName, time.Second, testkit.Logger(t), sweeperCo.Reconcile).Once(e.Ctx); n != 1 || err != nil {
		t.Fatalf("the pass after the lease ran out repaired %d, %v; want 1", n, err)
	}
	p, _ := e.Payment(o.ID)
	if p.State != store.Succeeded || p.Attempt != claim.Attempt || p.Holder == claim.Holder {
		t.Fatalf("payment %+v, want attempt %d taken over from %s and succeeded", p, claim.Attempt, claim.Holder)
	}
	wantCharges(t, stripe, o, 2) // the held one and the repeat: one key

	hold.Release()
	got := <-first
	if got.err != nil || got.r.StripeID != p.StripeID || got.r.ID != p.ID.Hex() {
		t.Fatalf("overtaken holder: %+v, %v; want the recorded payment %+v", got.r, got.err, p)
	}
	// The overtaken holder wrote nothing (so put no second payment.created
	// in the outbox): the sweep's record stands as it was.
	if after, _ := e.Payment(o.ID); !samePayment(after, p) {
		t.Fatalf("payment %+v after the overtaken holder ended, was %+v", after, p)
	}
	if got := paid.WaitFor(t, 1, 10*time.Second); got[0].Data.StripeID != p.StripeID {
		t.Fatalf("payment.created %+v for payment %+v", got[0].Data, p)
	}
}

// renewLog counts the holder's "lease not renewed" log records.
type renewLog struct {
	mu       sync.Mutex
	notRenew int
	next     slog.Handler
}

func (h *renewLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *renewLog) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "payment claim's lease not renewed") {
		h.mu.Lock()
		h.notRenew++
		h.mu.Unlock()
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}
func (h *renewLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *renewLog) WithGroup(string) slog.Handler      { return h }

func (h *renewLog) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.notRenew
}

// TestRenewalLeavesARecordedClaimAlone: while the holder's charge is at
// Stripe, its claim is recorded by another holder of the same attempt. The
// holder's renewals go on ticking and never touch the recorded payment.
func TestRenewalLeavesARecordedClaimAlone(t *testing.T) {
	t.Parallel()
	const lease = 300 * time.Millisecond
	hold := paytest.NewHold(paytest.StripeMock(t))
	stripe := paytest.RecordStripe(t, hold)
	t.Cleanup(hold.Release)
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL, NoListen: true})
	o := order(t, e, 1500)
	logs := &renewLog{next: testkit.Logger(t).Handler()}
	holder := checkout.New(e.Store, stripeClient(stripe.URL), e.Relay, slog.New(logs), checkout.Config{Lease: lease})

	first := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := holder.Pay(e.Ctx, alice, o.ID, "tok_visa")
		first <- err
	}()
	t.Cleanup(func() { hold.Release(); <-done })
	<-hold.InFlight
	claim, _ := e.Payment(o.ID)
	testkit.Eventually(t, 30*time.Second, func() bool {
		p, _ := e.Payment(o.ID)
		return p.LeaseUntil.After(claim.LeaseUntil)
	}, "the holder renews its lease")

	claim, _ = e.Payment(o.ID)
	evt, err := outbox.New(events.PaymentCreated, outbox.ID(events.PaymentCreated.Subject, claim.ID.Hex()), claim.Attempt,
		events.PaymentCreatedData{ID: claim.ID.Hex(), OrderID: o.ID.Hex(), StripeID: "ch_recorded"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.MarkSucceeded(e.Ctx, claim, "ch_recorded", time.Now(), evt); err != nil {
		t.Fatal(err)
	}
	recorded, _ := e.Payment(o.ID)
	from := logs.count()
	testkit.Eventually(t, 30*time.Second, func() bool { return logs.count() >= from+3 },
		"three renewals find the claim recorded")
	if p, _ := e.Payment(o.ID); !samePayment(p, recorded) {
		t.Fatalf("renewals changed the recorded payment: %+v, was %+v", p, recorded)
	}

	hold.Release()
	if err := <-first; err != nil {
		t.Fatalf("holder: %v", err)
	}
	if p, _ := e.Payment(o.ID); !samePayment(p, recorded) || p.StripeID != "ch_recorded" {
		t.Fatalf("payment %+v after the holder ended, was %+v", p, recorded)
	}
}

func samePayment(a, b store.Payment) bool {
	return a.State == b.State && a.Attempt == b.Attempt && a.Holder == b.Holder && a.StripeID == b.StripeID &&
		a.LeaseUntil.Equal(b.LeaseUntil) && a.UpdatedAt.Equal(b.UpdatedAt)
}
