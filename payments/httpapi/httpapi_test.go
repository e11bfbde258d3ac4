package httpapi_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/payments/checkout"
	"ticketing.dev/payments/httpapi"
	"ticketing.dev/payments/internal/paytest"
	"ticketing.dev/payments/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

const (
	alice = "user-alice"
	bob   = "user-bob"
)

// TestPaymentErrors covers every refusal of the contract, in its check order.
func TestPaymentErrors(t *testing.T) {
	t.Parallel()
	stripe := paytest.RecordStripe(t, paytest.StripeMock(t))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL})

	open := paytest.NewOrder(alice, 1000)
	e.Created(open)
	cancelled := paytest.NewOrder(alice, 1000)
	e.Created(cancelled)
	e.Cancelled(cancelled.ID, 1)
	e.WaitStatus(cancelled.ID, events.StatusCancelled, 1)
	complete := paytest.NewOrder(alice, 1000)
	e.Created(complete)
	e.Completed(complete.ID, 1)
	e.WaitStatus(complete.ID, events.StatusComplete, 1)
	expired := paytest.NewOrder(alice, 1000)
	expired.ExpiresAt = time.Now().Add(-time.Second)
	e.Created(expired)

	body := func(token, orderID string) map[string]string {
		return map[string]string{"token": token, "orderId": orderID}
	}
	tests := []struct {
		name   string
		user   string
		body   any
		status int
		want   []apperr.FieldError
	}{
		{"anonymous", "", body("tok_visa", open.ID.Hex()), 401, []apperr.FieldError{testkit.Msg("Not authorized")}},
		{"anonymous with invalid body", "", `{`, 401, []apperr.FieldError{testkit.Msg("Not authorized")}},
		{"malformed JSON", alice, `{"token":`, 400, []apperr.FieldError{testkit.Msg("Invalid JSON body")}},
		{"empty body", alice, ``, 400, []apperr.FieldError{
			testkit.FieldMsg("token", "Token must be provided"), testkit.FieldMsg("orderId", "OrderId must be provided")}},
		{"blank token", alice, body("   ", open.ID.Hex()), 400, []apperr.FieldError{testkit.FieldMsg("token", "Token must be provided")}},
		{"token not a string", alice, `{"token":12,"orderId":"` + open.ID.Hex() + `"}`, 400,
			[]apperr.FieldError{testkit.FieldMsg("token", "Token must be provided")}},
		{"orderId not an ObjectId", alice, body("tok_visa", "123"), 400,
			[]apperr.FieldError{testkit.FieldMsg("orderId", "OrderId must be provided")}},
		{"unknown order", alice, body("tok_visa", bson.NewObjectID().Hex()), 404, []apperr.FieldError{testkit.Msg("Order not found")}},
		{"not the owner", bob, body("tok_visa", open.ID.Hex()), 401, []apperr.FieldError{testkit.Msg("Not authorized")}},
		{"cancelled order", alice, body("tok_visa", cancelled.ID.Hex()), 400,
			[]apperr.FieldError{testkit.Msg("Cannot pay for an cancelled order")}},
		{"completed order", alice, body("tok_visa", complete.ID.Hex()), 400,
			[]apperr.FieldError{testkit.Msg("Order has already been paid")}},
		{"expired order", alice, body("tok_visa", expired.ID.Hex()), 400, []apperr.FieldError{testkit.Msg("Order has expired")}},
		// The one id rule (mongodb.ParseID), as in paths: either case names
		// the same order; nothing may surround the 24 digits.
		{"upper-case orderId, not the owner", bob, body("tok_visa", strings.ToUpper(open.ID.Hex())), 401,
			[]apperr.FieldError{testkit.Msg("Not authorized")}},
		{"upper-case orderId of a cancelled order", alice, body("tok_visa", strings.ToUpper(cancelled.ID.Hex())), 400,
			[]apperr.FieldError{testkit.Msg("Cannot pay for an cancelled order")}},
		{"orderId with spaces around it", alice, body("tok_visa", " "+open.ID.Hex()+" "), 400,
			[]apperr.FieldError{testkit.FieldMsg("orderId", "OrderId must be provided")}},
		{"orderId of 25 digits", alice, body("tok_visa", open.ID.Hex()+"0"), 400,
			[]apperr.FieldError{testkit.FieldMsg("orderId", "OrderId must be provided")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cookies []*http.Cookie
			if tc.user != "" {
				cookies = append(cookies, testkit.SessionCookie(t, tc.user, tc.user+"@example.com"))
			}
			testkit.Call(t, e.API, http.MethodPost, "/api/payments", tc.body, cookies...).WantErrors(t, tc.status, tc.want...)
		})
	}
	if n := len(stripe.Requests("/v1/charges")); n != 0 {
		t.Fatalf("refused requests reached Stripe %d times", n)
	}

	t.Run("unknown route and method", func(t *testing.T) {
		testkit.Call(t, e.API, http.MethodPost, "/api/payments/x", `{}`, testkit.SessionCookie(t, alice, alice+"@example.com")).
			WantErrors(t, http.StatusNotFound, testkit.Msg("Not Found"))
		testkit.Call(t, e.API, http.MethodGet, "/api/payments", nil).
			WantErrors(t, http.StatusMethodNotAllowed, testkit.Msg("Method Not Allowed"))
	})
}

// TestPaymentSucceeds charges 19.99 as 1999 cents, answers 201 and
// publishes payment.created; a second payment is refused without a charge.
func TestPaymentSucceeds(t *testing.T) {
	t.Parallel()
	stripe := paytest.RecordStripe(t, paytest.StripeMock(t))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL})
	created := natskit.Record(t, e.NATS.JS, events.PaymentCreated)

	price, err := money.Parse("19.99")
	if err != nil {
		t.Fatal(err)
	}
	o := paytest.NewOrder(alice, price)
	e.Created(o)

	var receipt map[string]any
	e.Pay(alice, o.ID, "tok_visa").Want(t, http.StatusCreated).Decode(t, &receipt)
	if len(receipt) != 3 || receipt["orderId"] != o.ID.Hex() || !strings.HasPrefix(receipt["stripeId"].(string), "ch_") {
		t.Fatalf("receipt %v", receipt)
	}
	if _, ok := bson.ObjectIDFromHex(receipt["id"].(string)); ok != nil {
		t.Fatalf("receipt id %v is not an ObjectId", receipt["id"])
	}

	charges := stripe.Requests("/v1/charges")
	if len(charges) != 1 {
		t.Fatalf("%d charge requests, want 1", len(charges))
	}
	c := charges[0]
	if c.Form.Get("amount") != "1999" || c.Form.Get("currency") != "usd" || c.Form.Get("source") != "tok_visa" {
		t.Fatalf("charge form %v", c.Form)
	}
	if want := checkout.ChargeKey(o.ID, 1); c.IdempotencyKey != want {
		t.Fatalf("Idempotency-Key %q, want %q", c.IdempotencyKey, want)
	}

	evts := created.WaitFor(t, 1, 10*time.Second)
	if d := evts[0].Data; d.ID != receipt["id"] || d.OrderID != o.ID.Hex() || d.StripeID != receipt["stripeId"] {
		t.Fatalf("payment.created %+v, receipt %v", d, receipt)
	}
	p, _ := e.Payment(o.ID)
	if p.State != store.Succeeded || p.Amount != 1999 || p.Token != "" || p.StripeID != receipt["stripeId"] {
		t.Fatalf("payment %+v", p)
	}

	e.Pay(alice, o.ID, "tok_visa").WantErrors(t, http.StatusBadRequest, testkit.Msg("Order has already been paid"))
	if n := len(stripe.Requests("/v1/charges")); n != 1 {
		t.Fatalf("a repeated payment reached Stripe: %d charge requests", n)
	}
	// Once paid, the order stays "already paid" even past its expiry and
	// before order.completed arrives: the payment is checked first.
	if got := created.Settled(t, e.Store.Payments()); len(got) != 1 {
		t.Fatalf("%d payment.created events, want 1", len(got))
	}
}

// TestCardDeclined answers 402 with Stripe's message, releases the order
// and lets another card pay with a new idempotency key.
func TestCardDeclined(t *testing.T) {
	t.Parallel()
	stripe := paytest.RecordStripe(t, paytest.Sequence(paytest.Decline, paytest.StripeMock(t)))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL})
	o := paytest.NewOrder(alice, 2500)
	e.Created(o)

	e.Pay(alice, o.ID, "tok_chargeDeclined").WantErrors(t, http.StatusPaymentRequired, testkit.Msg("Your card was declined."))
	charges := stripe.Requests("/v1/charges")
	if len(charges) != 1 || charges[0].IdempotencyKey != "charge-"+o.ID.Hex()+"-1" ||
		charges[0].Form.Get("amount") != "2500" || charges[0].Form.Get("source") != "tok_chargeDeclined" {
		t.Fatalf("charge requests %+v", charges)
	}
	if p, _ := e.Payment(o.ID); p.State != store.Failed || p.Token != "" {
		t.Fatalf("payment after decline %+v", p)
	}

	// Stripe keeps the declined answer under its key, so another card needs
	// another key: the attempt number.
	e.Pay(alice, o.ID, "tok_visa").Want(t, http.StatusCreated)
	charges = stripe.Requests("/v1/charges")
	if len(charges) != 2 || charges[1].IdempotencyKey != "charge-"+o.ID.Hex()+"-2" || charges[1].Form.Get("source") != "tok_visa" {
		t.Fatalf("charge requests %+v", charges)
	}
	if n := e.PaymentCount(o.ID); n != 1 {
		t.Fatalf("%d payment documents, want 1", n)
	}
}

// TestStripeUnreachable answers 502 when nothing listens at Stripe's address.
func TestStripeUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	e := paytest.New(t, paytest.Options{StripeURL: "http://" + addr})
	o := paytest.NewOrder(alice, 1000)
	e.Created(o)

	e.Pay(alice, o.ID, "tok_visa").WantErrors(t, http.StatusBadGateway, testkit.Msg("Payment provider unavailable, try again"))
	p, _ := e.Payment(o.ID)
	if p.State != store.Pending || p.LeaseUntil.After(time.Now()) || p.Token != "tok_visa" {
		t.Fatalf("payment after 502 %+v: want pending, lease released, token kept", p)
	}
}

// TestRetryAfterUnknownOutcome repeats the first attempt exactly (key, token,
// amount) when the answer to it was lost, so it can never charge twice.
func TestRetryAfterUnknownOutcome(t *testing.T) {
	t.Parallel()
	stripe := paytest.RecordStripe(t, paytest.Sequence(paytest.HangUp, paytest.StripeMock(t)))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL})
	o := paytest.NewOrder(alice, 1234)
	e.Created(o)

	e.Pay(alice, o.ID, "tok_visa").Want(t, http.StatusBadGateway)
	e.Pay(alice, o.ID, "tok_mastercard").Want(t, http.StatusCreated)
	charges := stripe.Requests("/v1/charges")
	if len(charges) != 2 {
		t.Fatalf("%d charge requests", len(charges))
	}
	for _, c := range charges {
		if c.IdempotencyKey != checkout.ChargeKey(o.ID, 1) || c.Form.Get("source") != "tok_visa" || c.Form.Get("amount") != "1234" {
			t.Fatalf("charge request %+v differs from the first attempt", c)
		}
	}
}

// TestConcurrentPayments: of 20 simultaneous payments of one order exactly
// one is charged; the rest are told it is paid, or in progress if they
// looked while the winner's charge was in flight.
func TestConcurrentPayments(t *testing.T) {
	t.Parallel()
	stripe := paytest.RecordStripe(t, paytest.StripeMock(t))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL})
	created := natskit.Record(t, e.NATS.JS, events.PaymentCreated)
	o := paytest.NewOrder(alice, 4200)
	e.Created(o)

	const n = 20
	statuses := make([]testkit.Response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			statuses[i] = e.Pay(alice, o.ID, "tok_visa")
		})
	}
	close(start)
	wg.Wait()

	count := map[int]int{}
	for _, r := range statuses {
		count[r.Status]++
		switch r.Status {
		case http.StatusBadRequest:
			r.WantErrors(t, http.StatusBadRequest, testkit.Msg("Order has already been paid"))
		case http.StatusConflict:
			r.WantErrors(t, http.StatusConflict, testkit.Msg("Payment in progress, try again shortly"))
		}
	}
	if count[201] != 1 || count[400]+count[409] != n-1 {
		t.Fatalf("statuses %v, want one 201 and %d 400 or 409", count, n-1)
	}
	if keys := stripe.Keys("/v1/charges"); len(keys) != 1 || len(stripe.Requests("/v1/charges")) != 1 {
		t.Fatalf("charge keys %v", keys)
	}
	if c := e.PaymentCount(o.ID); c != 1 {
		t.Fatalf("%d payment documents", c)
	}
	if got := created.Settled(t, e.Store.Payments()); len(got) != 1 {
		t.Fatalf("%d payment.created events", len(got))
	}
}

// TestPaymentInProgress: a request that finds another one's live claim is
// told to try again shortly (409), not that the order is paid; once the
// charge is recorded it is "already paid".
func TestPaymentInProgress(t *testing.T) {
	t.Parallel()
	inFlight, open := make(chan struct{}, 1), make(chan struct{})
	mock := paytest.StripeMock(t)
	stripe := paytest.RecordStripe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/charges" {
			inFlight <- struct{}{}
			<-open
		}
		mock.ServeHTTP(w, r)
	}))
	release := sync.OnceFunc(func() { close(open) })
	t.Cleanup(release) // before the recorder closes, so a failed check does not hang it
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL})
	o := paytest.NewOrder(alice, 1000)
	e.Created(o)

	first := make(chan testkit.Response, 1)
	go func() { first <- e.Pay(alice, o.ID, "tok_visa") }()
	<-inFlight
	e.Pay(alice, o.ID, "tok_visa").WantErrors(t, http.StatusConflict, testkit.Msg(httpapi.MsgInProgress))
	release()
	(<-first).Want(t, http.StatusCreated)
	e.Pay(alice, o.ID, "tok_visa").WantErrors(t, http.StatusBadRequest, testkit.Msg(httpapi.MsgAlreadyPaid))
	if n := len(stripe.Requests("/v1/charges")); n != 1 {
		t.Fatalf("%d charge requests", n)
	}
}

// keyReused answers charges the way Stripe answers a key it saw before with
// other parameters.
var keyReused = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = io.WriteString(w, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used `+
		`with the same parameters they were first used with. Try using a key other than 'k' if you meant to execute a different request."}}`)
})

// TestIdempotencyErrorKeepsTheClaim: Stripe's idempotency_error says the key
// was used before, so a charge may exist under it. The claim stays pending
// with its token and the next request repeats the same attempt; a new
// attempt (another key) could charge twice.
func TestIdempotencyErrorKeepsTheClaim(t *testing.T) {
	t.Parallel()
	stripe := paytest.RecordStripe(t, paytest.Sequence(keyReused, paytest.StripeMock(t)))
	e := paytest.New(t, paytest.Options{StripeURL: stripe.URL})
	o := paytest.NewOrder(alice, 1500)
	e.Created(o)

	e.Pay(alice, o.ID, "tok_visa").Want(t, http.StatusBadGateway)
	if p, _ := e.Payment(o.ID); p.State != store.Pending || p.Attempt != 1 || p.Token != "tok_visa" {
		t.Fatalf("payment after idempotency_error %+v: want pending attempt 1 with its token", p)
	}
	e.Pay(alice, o.ID, "tok_mastercard").Want(t, http.StatusCreated)
	for _, c := range stripe.Requests("/v1/charges") {
		if c.IdempotencyKey != checkout.ChargeKey(o.ID, 1) || c.Form.Get("source") != "tok_visa" {
			t.Fatalf("charge request %+v is not a repeat of attempt 1", c)
		}
	}
}
