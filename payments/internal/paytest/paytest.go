// Package paytest assembles the payments service for tests: a real store
// (FerretDB or MONGO_URL), an embedded JetStream, the outbox relay, the
// listeners, the HTTP API, and a recording proxy in front of a Stripe API
// (stripe-mock or a test's own handler).
package paytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/outbox"
	"ticketing.dev/payments/checkout"
	"ticketing.dev/payments/httpapi"
	"ticketing.dev/payments/listeners"
	"ticketing.dev/payments/store"
	"ticketing.dev/payments/stripepay"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
)

// Main runs a package's tests with one embedded FerretDB and one stripe-mock
// shared by all of them (each test still gets its own database), unless
// MONGO_URL and STRIPE_API_BASE name running ones.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("STRIPE_API_BASE") == "" {
		url, stop, err := testkit.StartStripeMock()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer stop()
		os.Setenv("STRIPE_API_BASE", url)
		defer os.Unsetenv("STRIPE_API_BASE")
	}
	return mongokit.Run(m)
}

// StripeRequest is a request the service sent to Stripe.
type StripeRequest struct {
	Method         string
	Path           string
	IdempotencyKey string
	Form           url.Values
}

// StripeRecorder is an HTTP server that records each request and hands it
// to a Stripe API.
type StripeRecorder struct {
	URL  string
	mu   sync.Mutex
	reqs []StripeRequest
}

// Requests returns the recorded requests to path ("/v1/charges").
func (r *StripeRecorder) Requests(path string) []StripeRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []StripeRequest
	for _, q := range r.reqs {
		if q.Path == path {
			out = append(out, q)
		}
	}
	return out
}

// Keys returns the distinct idempotency keys sent to path.
func (r *StripeRecorder) Keys(path string) []string {
	seen := map[string]bool{}
	var out []string
	for _, q := range r.Requests(path) {
		if !seen[q.IdempotencyKey] {
			seen[q.IdempotencyKey] = true
			out = append(out, q.IdempotencyKey)
		}
	}
	return out
}

// RecordStripe starts a recorder in front of next.
func RecordStripe(t testing.TB, next http.Handler) *StripeRecorder {
	t.Helper()
	rec := &StripeRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, StripeRequest{
			Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), Form: form,
		})
		rec.mu.Unlock()
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

// StripeMock is a handler proxying to stripe-mock.
func StripeMock(t testing.TB) http.Handler {
	t.Helper()
	u, err := url.Parse(testkit.StripeMockURL(t))
	if err != nil {
		t.Fatal(err)
	}
	return httputil.NewSingleHostReverseProxy(u)
}

// Decline answers every request the way Stripe answers a declined card.
var Decline = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusPaymentRequired)
	_, _ = io.WriteString(w, `{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline",`+
		`"message":"Your card was declined."}}`)
})

// HangUp drops the connection without answering, like a Stripe that is gone.
var HangUp = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
})

// Hold holds the first charge request until Release, then hands it to next;
// every other request goes to next at once. InFlight receives once the held
// request has arrived.
type Hold struct {
	InFlight chan struct{}
	open     chan struct{}
	release  func()
	held     sync.Once
	next     http.Handler
}

// NewHold returns a Hold in front of next. A test registers Release as a
// cleanup after the recorder in front of it, so that it runs before the
// recorder's server waits for its requests to end.
func NewHold(next http.Handler) *Hold {
	h := &Hold{InFlight: make(chan struct{}, 1), open: make(chan struct{}), next: next}
	h.release = sync.OnceFunc(func() { close(h.open) })
	return h
}

// Release lets the held request through; calling it again does nothing.
func (h *Hold) Release() { h.release() }

func (h *Hold) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/charges" {
		first := false
		h.held.Do(func() { first = true })
		if first {
			h.InFlight <- struct{}{}
			<-h.open
		}
	}
	h.next.ServeHTTP(w, r)
}

// Sequence answers the i-th request with handlers[i], the last one ever after.
func Sequence(handlers ...http.Handler) http.Handler {
	var mu sync.Mutex
	n := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handlers[min(n, len(handlers)-1)]
		n++
		mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// Env is one payments service with its dependencies.
type Env struct {
	T        testing.TB
	Ctx      context.Context
	Store    *store.Store
	NATS     *natskit.NATS
	Pub      *events.Publisher
	Checkout *checkout.Service
	Handlers *listeners.Handlers
	Relay    *outbox.Relay
	API      http.Handler
}

// Options tune New.
type Options struct {
	StripeURL     string        // required: where the service sends Stripe calls
	StripeTimeout time.Duration // per exchange with Stripe (default 5s)
	Lease         time.Duration // claim lease (default: checkout's)
	NoListen      bool          // do not start the listeners (handlers are called directly)
}

// New starts a payments service for the test.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	ctx := testkit.Context(t)
	log := testkit.Logger(t)
	db := mongokit.Mongo(t)
	n := natskit.StartNATS(t)
	st := store.New(db)
	if err := st.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(n.JS)
	relay := outbox.NewRelay(st.Payments(), events.NewPublisher(n.As(t, "payments")), log, 200*time.Millisecond)
	if err := relay.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	rctx, stopRelay := context.WithCancel(ctx)
	go func() { defer close(done); relay.Run(rctx) }()
	t.Cleanup(func() { stopRelay(); <-done })

	if o.StripeTimeout <= 0 {
		o.StripeTimeout = 5 * time.Second
	}
	sc := stripepay.New(stripepay.Config{Key: "sk_test_123", BaseURL: o.StripeURL, Timeout: o.StripeTimeout, Log: log})
	co := checkout.New(st, sc, relay, log, checkout.Config{Lease: o.Lease})
	h := listeners.New(st, co, log)
	if !o.NoListen {
		g, err := listeners.Start(ctx, n.As(t, "payments"), log, st, co)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Stop)
	}
	api := httpapi.New(httpapi.Deps{Log: log, Keys: testkit.Keys(), Checkout: co})
	return &Env{T: t, Ctx: ctx, Store: st, NATS: n, Pub: pub, Checkout: co, Handlers: h, Relay: relay, API: api}
}

// Order describes an order to put into the replica.
type Order struct {
	ID        bson.ObjectID
	UserID    string
	Price     money.Cents
	ExpiresAt time.Time
}

// NewOrder returns an order of user for price, expiring in 15 minutes.
func NewOrder(userID string, price money.Cents) Order {
	return Order{ID: bson.NewObjectID(), UserID: userID, Price: price, ExpiresAt: time.Now().Add(15 * time.Minute)}
}

// Publish publishes an event as the orders service would.
func Publish[T any](e *Env, topic events.Topic[T], id string, data T) {
	e.T.Helper()
	if err := events.Publish(e.Ctx, e.Pub, topic, id, data); err != nil {
		e.T.Fatal(err)
	}
}

// Created publishes order.created for o and waits until the replica has it.
func (e *Env) Created(o Order) {
	e.T.Helper()
	Publish(e, events.OrderCreated, outbox.ID(events.OrderCreated.Subject, o.ID.Hex(), 0), events.OrderCreatedData{
		ID: o.ID.Hex(), Version: 0, Status: events.StatusCreated, UserID: o.UserID, ExpiresAt: o.ExpiresAt,
		Ticket: events.OrderTicket{ID: bson.NewObjectID().Hex(), Price: o.Price},
	})
	testkit.Eventually(e.T, 10*time.Second, func() bool {
		_, err := e.Store.Order(e.Ctx, o.ID)
		return err == nil
	}, "order %s reaches the replica", o.ID.Hex())
}

// Cancelled publishes order.cancelled at version.
func (e *Env) Cancelled(id bson.ObjectID, version int64) {
	e.T.Helper()
	Publish(e, events.OrderCancelled, outbox.ID(events.OrderCancelled.Subject, id.Hex(), version),
		events.OrderCancelledData{ID: id.Hex(), Version: version, Ticket: events.TicketRef{ID: bson.NewObjectID().Hex()}})
}

// Completed publishes order.completed at version.
func (e *Env) Completed(id bson.ObjectID, version int64) {
	e.T.Helper()
	Publish(e, events.OrderCompleted, outbox.ID(events.OrderCompleted.Subject, id.Hex(), version),
		events.OrderCompletedData{ID: id.Hex(), Version: version})
}

// WaitStatus waits until the replica holds the order at status and version.
func (e *Env) WaitStatus(id bson.ObjectID, status string, version int64) {
	e.T.Helper()
	var last store.Order
	testkit.Eventually(e.T, 10*time.Second, func() bool {
		o, err := e.Store.Order(e.Ctx, id)
		last = o
		return err == nil && o.Status == status && o.Version == version
	}, "order %s at %s v%d (have %s v%d)", id.Hex(), status, version, last.Status, last.Version)
}

// Pay posts a payment of order with token, signed in as userID unless it
// is empty.
func (e *Env) Pay(userID string, orderID bson.ObjectID, token string) testkit.Response {
	e.T.Helper()
	var cookies []*http.Cookie
	if userID != "" {
		cookies = append(cookies, testkit.SessionCookie(e.T, userID, userID+"@example.com"))
	}
	return testkit.Call(e.T, e.API, http.MethodPost, "/api/payments",
		map[string]string{"token": token, "orderId": orderID.Hex()}, cookies...)
}

// Payment returns the order's payment document.
func (e *Env) Payment(orderID bson.ObjectID) (store.Payment, bool) {
	e.T.Helper()
	p, found, err := e.Store.PaymentByOrder(e.Ctx, orderID)
	if err != nil {
		e.T.Fatal(err)
	}
	return p, found
}

// PaymentCount counts the payment documents of an order.
func (e *Env) PaymentCount(orderID bson.ObjectID) int64 {
	e.T.Helper()
	n, err := e.Store.Payments().CountDocuments(e.Ctx, bson.D{{Key: "orderId", Value: orderID}})
	if err != nil {
		e.T.Fatal(err)
	}
	return n
}
