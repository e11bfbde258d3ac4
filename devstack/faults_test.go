package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/devstack/stores"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

// TestPaymentSurvivesCrashes kills orders while it holds payment.created,
// and payments in the middle of a charge. Each time the buyer's order ends
// complete, with one charge and no cancellation (so no refund).
func TestPaymentSurvivesCrashes(t *testing.T) {
	requirePlatform(t)
	t.Parallel()
	stripe := startStripeProxy(t)
	const window = 20 * time.Second
	p := startPlatform(t, t.TempDir(),
		"ORDER_EXPIRATION_WINDOW=20s", "ORDER_EXPIRATION_GRACE=30s",
		"STRIPE_API_BASE="+stripe.URL, "STRIPE_TIMEOUT=2s", "PAYMENTS_SWEEP=1s")

	seller, buyer := signUp(t, p.URL, "seller"), signUp(t, p.URL, "buyer")
	// newOrder orders a new ticket and returns once order.created is in the
	// stream (orders' relay publishes it just after the 201), so that
	// freezing orders next cannot keep it from payments.
	newOrder := func(title string) order {
		var tk ticket
		seller.must(201, "POST", "/api/tickets", map[string]any{"title": title, "price": 12.5}, &tk)
		o := buyer.order(tk.ID)
		testkit.Eventually(t, 10*time.Second, func() bool { return countEvents(t, p.State.NATS, "order.created", "id", o.ID) == 1 },
			"order.created of %s published", o.ID)
		return o
	}
	// pidOf is the running service's pid; 0 would signal the whole group.
	pidOf := func(t *testing.T, svc string) int {
		pid := p.pidOf(svc)
		if pid == 0 {
			t.Fatalf("%s is not running", svc)
		}
		return pid
	}
	// completeOnce checks the invariant after a crash: the order ends
	// complete before its window and grace are over, and stays so; the
	// stream has one payment.created and no order.cancelled for it; Stripe
	// saw one charge (one idempotency key, answered) for it.
	completeOnce := func(t *testing.T, o order) {
		t.Helper()
		testkit.Eventually(t, window+30*time.Second, func() bool {
			var now order
			status, _, _ := buyer.do("GET", "/api/orders/"+o.ID, nil, &now)
			return status == 200 && now.Status == "complete"
		}, "order %s complete", o.ID)
		if n := countEvents(t, p.State.NATS, "payment.created", "orderId", o.ID); n != 1 {
			t.Errorf("%d payment.created for order %s, want 1", n, o.ID)
		}
		if n := countEvents(t, p.State.NATS, "order.cancelled", "id", o.ID); n != 0 {
			t.Errorf("order %s was cancelled (its payment refunded)", o.ID)
		}
		if keys := stripe.chargedKeys(o.ID); len(keys) != 1 {
			t.Errorf("order %s charged under %d keys %v, want one", o.ID, len(keys), keys)
		}
	}

	js := jetStream(t, p.State.NATS)

	t.Run("orders killed holding payment.created", func(t *testing.T) {
		o := newOrder("Held event")
		orders := pidOf(t, "orders")
		// Frozen, orders still has its fetch for payment.created open: the
		// event is delivered to it and never answered.
		if err := syscall.Kill(orders, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		if status := buyer.pay(o.ID); status != 201 {
			t.Fatalf("paying order %s: %d, want 201", o.ID, status)
		}
		// Its fetch may just have expired (one in a hundred): then the event
		// waits in the stream instead, which the kill must not lose either.
		held := false
		for deadline := time.Now().Add(6 * time.Second); !held && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			info := consumerInfo(js, "orders-service-payment-created")
			held = info != nil && info.NumAckPending > 0
		}
		t.Logf("payment.created in the frozen orders' hands: %v", held)
		if err := syscall.Kill(orders, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		t.Logf("SIGKILL orders (pid %d) holding payment.created", orders)
		completeOnce(t, o)
	})

	t.Run("payments killed mid-charge", func(t *testing.T) {
		o := newOrder("Interrupted charge")
		stripe.hold()
		paid := make(chan int, 1)
		go func() { paid <- buyer.pay(o.ID) }()
		stripe.waitHeld(t, o.ID)
		payments := pidOf(t, "payments")
		if err := syscall.Kill(payments, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		t.Logf("SIGKILL payments (pid %d) while Stripe held its charge", payments)
		stripe.release()
		if status := <-paid; status == 201 {
			t.Fatalf("the payment answered 201 though payments died before the charge")
		}
		completeOnce(t, o)
	})
	p.stop()
}

// TestRecoveryWithoutExpiration runs the platform without the expiration
// service: orders' own sweep cancels an unpaid order and tickets frees its
// ticket. A malformed event is dead-lettered by every listener of its
// subject, listed by the dlq command and replayed by it.
func TestRecoveryWithoutExpiration(t *testing.T) {
	requirePlatform(t)
	t.Parallel()
	const window, grace, sweep = 5 * time.Second, 2 * time.Second, time.Second
	p := startPlatform(t, t.TempDir(), "DEVSTACK_SKIP=client,expiration,traces",
		"ORDER_EXPIRATION_WINDOW=5s", "ORDER_EXPIRATION_GRACE=2s", "ORDER_SWEEP=1s")
	seller, buyer := signUp(t, p.URL, "seller"), signUp(t, p.URL, "buyer")

	t.Run("unpaid order cancelled by the sweep", func(t *testing.T) {
		var tk ticket
		seller.must(201, "POST", "/api/tickets", map[string]any{"title": "Nobody expires me", "price": 3}, &tk)
		o := buyer.order(tk.ID)
		// Window + grace + one sweep interval, and room for the events to
		// travel on a busy machine.
		testkit.Eventually(t, window+grace+sweep+15*time.Second, func() bool {
			var now order
			var t2 ticket
			s1, _, _ := buyer.do("GET", "/api/orders/"+o.ID, nil, &now)
			s2, _, _ := seller.do("GET", "/api/tickets/"+tk.ID, nil, &t2)
			return s1 == 200 && now.Status == "cancelled" && s2 == 200 && t2.OrderID == ""
		}, "order %s cancelled and ticket %s free without the expiration service", o.ID, tk.ID)
	})

	t.Run("malformed event dead-lettered and replayed", func(t *testing.T) {
		js := jetStream(t, p.State.NATS)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		msgID := fmt.Sprintf("broken-%d", time.Now().UnixNano())
		if _, err := js.Publish(ctx, "order.created", []byte(`{"id": 12, "ticket":`), jetstream.WithMsgID(msgID)); err != nil {
			t.Fatal(err)
		}
		dlq := binary(t, "./common/cmd/dlq")
		cmd := func(args ...string) string {
			out, err := exec.Command(dlq, append([]string{"-nats", p.State.NATS}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("dlq %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		durables := []string{"tickets-service-order-created", "payments-service-order-created"}
		testkit.Eventually(t, 20*time.Second, func() bool {
			out := cmd("list")
			for _, d := range durables {
				if !strings.Contains(out, d) {
					return false
				}
			}
			return strings.Contains(out, msgID)
		}, "the malformed event dead-lettered by %v", durables)
		out := cmd("replay", "-all")
		if !strings.Contains(out, "2 of 2 replayed") {
			t.Fatalf("replay: %s", out)
		}
		// Still malformed, each copy comes back under its replay id: it went
		// through the listeners again, and nothing was dropped on the way.
		testkit.Eventually(t, 20*time.Second, func() bool {
			return strings.Count(cmd("list"), msgID+"-replay-") >= 4
		}, "replayed events back in the dead-letter stream")
	})
	p.stop()
}

// countEvents counts the events on subject whose JSON field equals value.
func countEvents(t *testing.T, natsURL, subject, field, value string) int {
	n := 0
	for _, data := range readSubject(t, natsURL, subject) {
		var ev map[string]any
		if err := json.Unmarshal(data, &ev); err == nil && ev[field] == value {
			n++
		}
	}
	return n
}

// jetStream connects to the platform's NATS for the length of the test.
func jetStream(t *testing.T, natsURL string) jetstream.JetStream {
	t.Helper()
	_, js := natskit.Connect(t, natsURL)
	return js
}

// consumerInfo is the state of a durable consumer, nil while it is unknown.
func consumerInfo(js jetstream.JetStream, durable string) *jetstream.ConsumerInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, "TICKETING", durable)
	if err != nil {
		return nil
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil
	}
	return info
}

// deadLetterCount is how many events the platform's listeners dead-lettered.
func deadLetterCount(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "TICKETING_DLQ")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// stripeProxy stands between payments and a stripe-mock of its own: it can
// hold charge requests (a Stripe that is slow to answer), and it records
// the idempotency keys of the charges stripe-mock answered.
type stripeProxy struct {
	URL string

	mu      sync.Mutex
	holding chan struct{} // closed to let held requests through; nil when not holding
	held    map[string]bool
	charged map[string]map[string]bool // order id → idempotency keys answered 2xx
}

func startStripeProxy(t *testing.T) *stripeProxy {
	t.Helper()
	port, err := stores.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	command, err := stores.StripeMockCommand(port)
	if err != nil {
		t.Fatal(err)
	}
	mock := command()
	mock.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := mock.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mock.Process.Kill(); _ = mock.Wait() })
	target, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(port))
	testkit.Eventually(t, 30*time.Second, func() bool {
		res, err := http.Get(target.String() + "/v1/charges")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	}, "stripe-mock answering")

	sp := &stripeProxy{held: map[string]bool{}, charged: map[string]map[string]bool{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	// A held request whose caller died ends here: nothing to report.
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	rp.ModifyResponse = func(res *http.Response) error {
		req := res.Request
		if req.Method == http.MethodPost && req.URL.Path == "/v1/charges" && res.StatusCode < 300 {
			order := orderOfKey(req.Header.Get("Idempotency-Key"))
			sp.mu.Lock()
			if sp.charged[order] == nil {
				sp.charged[order] = map[string]bool{}
			}
			sp.charged[order][req.Header.Get("Idempotency-Key")] = true
			sp.mu.Unlock()
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/charges" {
			sp.mu.Lock()
			gate := sp.holding
			if gate != nil {
				sp.held[orderOfKey(r.Header.Get("Idempotency-Key"))] = true
			}
			sp.mu.Unlock()
			if gate != nil {
				select {
				case <-gate:
				case <-r.Context().Done():
					return // the caller died waiting: Stripe never saw it
				}
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	sp.URL = srv.URL
	return sp
}

// orderOfKey reads the order id out of a charge key "charge-<order>-<n>".
func orderOfKey(key string) string {
	parts := strings.Split(key, "-")
	if len(parts) == 3 {
		return parts[1]
	}
	return key
}

func (sp *stripeProxy) hold() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.holding = make(chan struct{})
}

func (sp *stripeProxy) release() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.holding != nil {
		close(sp.holding)
		sp.holding = nil
	}
}

func (sp *stripeProxy) waitHeld(t *testing.T, orderID string) {
	t.Helper()
	testkit.Eventually(t, 15*time.Second, func() bool {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		return sp.held[orderID]
	}, "a charge of order %s held at the Stripe proxy", orderID)
}

func (sp *stripeProxy) chargedKeys(orderID string) []string {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var keys []string
	for k := range sp.charged[orderID] {
		keys = append(keys, k)
	}
	return keys
}
