package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/testkit"
)

// TestSIGKILLUnderLoadLosesNoEvent kills orders and then tickets with
// SIGKILL while orders are being placed. The supervisor restarts each, and
// once the load stops every order that exists reaches tickets (its
// consumers are settled, nothing dead-lettered), expiration (it fired for
// the order, which got cancelled), and payments (its replica knows the
// order: paying answers 400, not 404); and every ticket is free again.
func TestSIGKILLUnderLoadLosesNoEvent(t *testing.T) {
	requirePlatform(t)
	t.Parallel()
	const tickets = 60
	p := startPlatform(t, t.TempDir(), "ORDER_EXPIRATION_WINDOW=10s")

	seller, buyer := signUp(t, p.URL, "seller"), signUp(t, p.URL, "buyer")
	ids := make([]string, tickets)
	for i := range ids {
		var tk ticket
		seller.must(201, "POST", "/api/tickets", map[string]any{"title": fmt.Sprintf("Kill test %d", i), "price": 10 + i}, &tk)
		ids[i] = tk.ID
	}

	// Load: workers order every ticket, retrying through the kills (a 404
	// while the replica catches up, 502 while a service restarts). A 400
	// "already reserved" after a lost response means the order exists.
	var placed atomic.Int32
	work := make(chan string)
	var wg sync.WaitGroup
	deadline := time.Now().Add(2 * time.Minute)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				time.Sleep(150 * time.Millisecond) // spread the load over the kills
				for time.Now().Before(deadline) {
					status, _, _ := buyer.do("POST", "/api/orders", map[string]string{"ticketId": id}, nil)
					if status == 201 || status == 400 {
						placed.Add(1)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	go func() {
		for _, id := range ids {
			work <- id
		}
		close(work)
	}()
	kill := func(svc string, after int32) {
		testkit.Eventually(t, time.Minute, func() bool { return placed.Load() >= after }, "%d orders placed before killing %s", after, svc)
		pid := p.pidOf(svc)
		if pid == 0 {
			t.Fatalf("%s is not running", svc)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		t.Logf("SIGKILL %s (pid %d) after %d orders", svc, pid, placed.Load())
		testkit.Eventually(t, 30*time.Second, func() bool { n := p.pidOf(svc); return n != 0 && n != pid }, "%s restarted", svc)
		p.snapshot()
		testkit.Eventually(t, 30*time.Second, func() bool {
			status, _, _ := buyer.do("GET", "http://"+p.State.Components[svc]+"/readyz", nil, nil)
			return status == 200
		}, "%s ready again after its restart", svc)
		t.Logf("%s ready again; %d orders placed", svc, placed.Load())
	}
	kill("orders", 10)
	kill("tickets", 30)
	wg.Wait()
	if n := placed.Load(); n != tickets {
		t.Fatalf("only %d of %d tickets could be ordered", n, tickets)
	}

	// The source of truth: the orders that exist.
	var orders []order
	buyer.must(200, "GET", "/api/orders", nil, &orders)
	byTicket := map[string]string{}
	for _, o := range orders {
		if prev, dup := byTicket[o.Ticket.ID]; dup {
			t.Fatalf("ticket %s has two orders: %s and %s", o.Ticket.ID, prev, o.ID)
		}
		byTicket[o.Ticket.ID] = o.ID
	}
	if len(byTicket) != tickets {
		t.Fatalf("%d orders for %d tickets", len(byTicket), tickets)
	}

	// Expiration fired for every order and orders cancelled it.
	testkit.Eventually(t, 90*time.Second, func() bool {
		var now []order
		if status, _, _ := buyer.do("GET", "/api/orders", nil, &now); status != 200 {
			return false
		}
		for _, o := range now {
			if o.Status != "cancelled" {
				return false
			}
		}
		return len(now) == len(orders)
	}, "every order cancelled by expiration")

	// Expiration fired for every order.
	expired := expirations(t, p.State.NATS)
	for _, orderID := range byTicket {
		if !expired[orderID] {
			t.Errorf("no expiration.complete for order %s", orderID)
		}
	}
	// Tickets handled every order event: its consumers have nothing left
	// to deliver or in hand, and nothing was dead-lettered. (Whether a
	// ticket was reserved on the way depends on the interleaving: an
	// order.created that comes back after its order was cancelled, because
	// tickets died holding it, rightly reserves nothing.)
	js := jetStream(t, p.State.NATS)
	for _, durable := range []string{"tickets-service-order-created", "tickets-service-order-cancelled"} {
		testkit.Eventually(t, 30*time.Second, func() bool {
			info := consumerInfo(js, durable)
			return info != nil && info.NumPending == 0 && info.NumAckPending == 0
		}, "consumer %s settled", durable)
	}
	if n := deadLetterCount(t, js); n != 0 {
		t.Errorf("%d events dead-lettered", n)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		for ticketID := range byTicket {
			var tk ticket
			if status, _, _ := seller.do("GET", "/api/tickets/"+ticketID, nil, &tk); status != 200 || tk.OrderID != "" {
				return false
			}
		}
		return true
	}, "every ticket free again (tickets got every order.cancelled)")

	// Payments has every order, and knows it is cancelled.
	for _, orderID := range byTicket {
		status, body, err := buyer.do("POST", "/api/payments", map[string]string{"token": "tok_visa", "orderId": orderID}, nil)
		if err != nil || status != 400 {
			t.Errorf("paying cancelled order %s: %d %s %v (want 400: payments missed its events?)", orderID, status, body, err)
		}
	}
	p.stop()
}

func expirations(t *testing.T, natsURL string) map[string]bool {
	out := map[string]bool{}
	for _, data := range readSubject(t, natsURL, "expiration.complete") {
		var ev struct {
			OrderID string `json:"orderId"`
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		out[ev.OrderID] = true
	}
	return out
}

// readSubject returns the payloads of every message on subject in the
// platform's stream, read with an ordered (ephemeral) consumer.
func readSubject(t *testing.T, natsURL, subject string) [][]byte {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, "TICKETING", jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		// Everything is in the stream already: read until a fetch comes
		// back empty.
		batch, err := cons.FetchNoWait(200)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			out = append(out, m.Data())
			n++
		}
		if batch.Error() != nil {
			t.Fatal(batch.Error())
		}
		if n == 0 {
			return out
		}
	}
}
