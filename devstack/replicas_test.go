package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/devstack/platform"
	"ticketing.dev/testkit"
)

// TestReplicas runs two replicas of every service (REPLICAS=2) on the same
// stores and durables. `devstack ps` lists each; the whole flow passes
// through them; and buyers racing for many tickets while one replica of
// orders and one of tickets are killed with SIGKILL lose no event and sell
// no ticket twice.
func TestReplicas(t *testing.T) {
	requirePlatform(t)
	t.Parallel()
	// No order expires during the test: every order created keeps its
	// ticket reserved, which the end state then shows.
	p := startPlatform(t, t.TempDir(), "REPLICAS=2", "ORDER_EXPIRATION_WINDOW=10m")

	t.Run("ps lists every replica", func(t *testing.T) {
		cmd := exec.Command(devstackBinary(t), "ps")
		cmd.Env = append(os.Environ(), "DATA_DIR="+p.dataDir)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("devstack ps: %v", err)
		}
		seen := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if f := strings.Fields(line); len(f) == 2 {
				seen[f[1]]++
			}
		}
		want := []string{"redis", "stripe-mock"}
		for _, svc := range platform.Services {
			want = append(want, svc+"-1", svc+"-2")
		}
		for _, name := range want {
			if seen[name] != 1 {
				t.Errorf("devstack ps lists %s %d times, want once:\n%s", name, seen[name], out)
			}
		}
	})

	t.Run("the whole flow", func(t *testing.T) {
		seller, buyer := signUp(t, p.URL, "seller"), signUp(t, p.URL, "buyer")
		// Each replica of auth verifies the session the other signed.
		for range 4 {
			var me struct {
				CurrentUser struct {
					Email string `json:"email"`
				} `json:"currentUser"`
			}
			buyer.must(200, "GET", "/api/users/currentuser", nil, &me)
			if me.CurrentUser.Email != buyer.email {
				t.Fatalf("current user %q, want %q", me.CurrentUser.Email, buyer.email)
			}
		}
		var tk ticket
		seller.must(201, "POST", "/api/tickets", map[string]any{"title": "Two of everything", "price": 20.5}, &tk)
		o := buyer.order(tk.ID)
		testkit.Eventually(t, 30*time.Second, func() bool {
			var now ticket
			status, _, _ := seller.do("GET", "/api/tickets/"+tk.ID, nil, &now)
			return status == 200 && now.OrderID == o.ID
		}, "ticket %s reserved by order %s", tk.ID, o.ID)
		if status := buyer.pay(o.ID); status != 201 {
			t.Fatalf("paying order %s: %d, want 201", o.ID, status)
		}
		testkit.Eventually(t, 30*time.Second, func() bool {
			var now order
			status, _, _ := buyer.do("GET", "/api/orders/"+o.ID, nil, &now)
			return status == 200 && now.Status == "complete"
		}, "order %s complete", o.ID)
	})

	t.Run("SIGKILL of a replica of orders and of tickets under load", func(t *testing.T) {
		sigkillUnderLoad(t, p)
	})
	p.stop()
}

// sigkillUnderLoad has buyers race for every one of many tickets while
// orders-1 and then tickets-2 are killed. Requests that reached a killed
// replica may fail; the end state must be whole all the same.
func sigkillUnderLoad(t *testing.T, p *running) {
	const tickets, buyers = 40, 4
	seller := signUp(t, p.URL, "seller")
	ids := make([]string, tickets)
	for i := range ids {
		var tk ticket
		seller.must(201, "POST", "/api/tickets", map[string]any{"title": fmt.Sprintf("Replicated %d", i), "price": 5 + i}, &tk)
		ids[i] = tk.ID
	}
	dbs := map[string]*mongo.Database{}
	for _, svc := range platform.Stores {
		dbs[svc] = mongoDatabase(t, p.State.Mongo[svc])
	}
	// orders' replicas share one store: once it holds every ticket, no
	// order is refused for a ticket orders has not heard of.
	testkit.Eventually(t, 30*time.Second, func() bool {
		known, err := readAll[ticketDoc](dbs["orders"].Collection("tickets"))
		return err == nil && len(byTicketID(known, ids)) == tickets
	}, "orders' replica of tickets holds all %d tickets", tickets)

	// The load: every buyer tries every ticket, each in its own order.
	var (
		mu       sync.Mutex
		created  []order         // every order the API said it created
		failures = map[int]int{} // status (0: no answer) → count
		placed   atomic.Int32
	)
	killOrders, killTickets := make(chan struct{}), make(chan struct{})
	// buy orders a ticket: 201 is a sale, 400 a ticket already reserved (by
	// another buyer, or by an order whose answer was lost); anything else is
	// tried again, a few times, and counted.
	buy := func(buyer *user, ticketID string) {
		for range 20 {
			var o order
			status, _, err := buyer.do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, &o)
			switch {
			case err == nil && status == 201:
				mu.Lock()
				created = append(created, o)
				mu.Unlock()
				switch placed.Add(1) {
				case tickets / 4:
					close(killOrders)
				case tickets / 2:
					close(killTickets)
				}
				return
			case err == nil && status == 400:
				return
			}
			mu.Lock()
			failures[status]++
			mu.Unlock()
		}
	}
	loadDone := make(chan struct{})
	var load sync.WaitGroup
	for b := range buyers {
		buyer := signUp(t, p.URL, fmt.Sprintf("buyer%d", b))
		load.Add(1)
		go func() {
			defer load.Done()
			for _, i := range rand.New(rand.NewPCG(uint64(b), 1)).Perm(tickets) {
				buy(buyer, ids[i])
			}
		}()
	}
	go func() { load.Wait(); close(loadDone) }()

	// The kills, each as soon as its share of orders is placed, while the
	// buyers go on.
	killed := map[string]int{} // replica → pid killed
	var kills sync.WaitGroup
	kill := func(name string, when <-chan struct{}) {
		defer kills.Done()
		select {
		case <-when:
		case <-loadDone:
			t.Errorf("the load ended before %s was killed", name)
			return
		}
		pid := p.pidOf(name)
		if pid == 0 {
			t.Errorf("%s is not running", name)
			return
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Errorf("kill %s: %v", name, err)
			return
		}
		mu.Lock()
		killed[name] = pid
		mu.Unlock()
		t.Logf("SIGKILL %s (pid %d) after %d orders", name, pid, placed.Load())
	}
	kills.Add(2)
	go kill("orders-1", killOrders)
	go kill("tickets-2", killTickets)
	kills.Wait()
	<-loadDone
	t.Logf("%d orders placed; failed requests by status (0: no answer): %v", placed.Load(), failures)
	for status := range failures {
		if status != 0 && status < 500 {
			t.Errorf("%d requests answered %d: only a request cut by a kill may fail (5xx or no answer)", failures[status], status)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The supervisor restarted each killed replica, and it is ready again.
	for name, pid := range killed {
		testkit.Eventually(t, 30*time.Second, func() bool { n := p.pidOf(name); return n != 0 && n != pid }, "%s restarted", name)
		testkit.Eventually(t, 30*time.Second, func() bool {
			status, _, _ := seller.do("GET", "http://"+p.State.Components[name]+"/readyz", nil, nil)
			return status == 200
		}, "%s ready again after its restart", name)
	}
	p.snapshot()
	// The gateway spread the requests over both replicas of each.
	served := map[string]bool{}
	for _, line := range strings.Split(p.out.String(), "\n") {
		if name, rest, ok := strings.Cut(strings.TrimPrefix(line, "["), "] "); ok &&
			strings.Contains(rest, `"msg":"request"`) && strings.Contains(rest, `"path":"/api/`) {
			served[name] = true
		}
	}
	for _, name := range []string{"orders-1", "orders-2", "tickets-1", "tickets-2"} {
		if !served[name] {
			t.Errorf("no request served by %s", name)
		}
	}

	// Safety, in every interleaving: no ticket has two live orders, and
	// every order the API created is stored, live, for its ticket.
	orders, err := readAll[orderDoc](dbs["orders"].Collection("orders"))
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]orderDoc{} // ticket → its live order
	for _, o := range orders {
		if o.Status == "cancelled" {
			continue
		}
		if prev, dup := live[o.Ticket.ID.Hex()]; dup {
			t.Errorf("ticket %s sold twice: orders %s and %s", o.Ticket.ID.Hex(), prev.ID.Hex(), o.ID.Hex())
		}
		live[o.Ticket.ID.Hex()] = o
	}
	for _, o := range created {
		if got, ok := live[o.Ticket.ID]; !ok || got.ID.Hex() != o.ID {
			t.Errorf("order %s for ticket %s was created (201) but the ticket's live order is %+v", o.ID, o.Ticket.ID, got)
		}
	}

	// Liveness: once every event is handled, each store agrees with the
	// others. Every outbox drained, every consumer settled, nothing
	// dead-lettered; every live order has its ticket reserved and every
	// reserved ticket a live order; orders' replica of each ticket and
	// payments' replica of each order are at the owner's version.
	js := jetStream(t, p.State.NATS)
	why := &reason{}
	testkit.Eventually(t, 2*time.Minute, func() bool {
		return settled(js, dbs, ids, why)
	}, "every store consistent and every event handled: %v", why)
	if n := deadLetterCount(t, js); n != 0 {
		t.Errorf("%d events dead-lettered", n)
	}
	sold := 0
	for _, id := range ids {
		if _, ok := live[id]; ok {
			sold++
		}
	}
	t.Logf("%d of %d tickets sold", sold, tickets)
}

// settled tells whether the platform is at rest and its stores agree;
// otherwise why says what is not yet so.
func settled(js jetstream.JetStream, dbs map[string]*mongo.Database, ids []string, why *reason) bool {
	if doc, err := pendingOutbox(dbs); err != nil || doc != "" {
		why.set("pending events in %s (%v)", doc, err)
		return false
	}
	if durable, err := busyConsumer(js); err != nil || durable != "" {
		why.set("consumer %s has events pending (%v)", durable, err)
		return false
	}
	orders, err1 := readAll[orderDoc](dbs["orders"].Collection("orders"))
	tickets, err2 := readAll[ticketDoc](dbs["tickets"].Collection("tickets"))
	ordersTickets, err3 := readAll[ticketDoc](dbs["orders"].Collection("tickets"))
	paymentsOrders, err4 := readAll[ticketDoc](dbs["payments"].Collection("orders"))
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			why.set("reading the stores: %v", err)
			return false
		}
	}
	liveOrder := map[string]string{} // ticket → live order
	for _, o := range orders {
		if o.Status != "cancelled" {
			liveOrder[o.Ticket.ID.Hex()] = o.ID.Hex()
		}
	}
	owned := byTicketID(tickets, ids)
	replica := byTicketID(ordersTickets, ids)
	for _, id := range ids {
		tk := owned[id]
		if tk.OrderID != liveOrder[id] {
			why.set("ticket %s reserved by %q, its live order is %q", id, tk.OrderID, liveOrder[id])
			return false
		}
		if replica[id].Version != tk.Version {
			why.set("orders has ticket %s at version %d, tickets at %d", id, replica[id].Version, tk.Version)
			return false
		}
	}
	paid := map[string]int64{}
	for _, o := range paymentsOrders {
		paid[o.ID.Hex()] = o.Version
	}
	for _, o := range orders {
		if _, ours := owned[o.Ticket.ID.Hex()]; !ours {
			continue // the whole flow's order: payments keeps what it needs of a paid one
		}
		if v, ok := paid[o.ID.Hex()]; !ok || v != o.Version {
			why.set("payments has order %s at version %d (known: %v), orders at %d", o.ID.Hex(), v, ok, o.Version)
			return false
		}
	}
	return true
}

// reason is what a condition last found missing, printed when it times out.
type reason struct{ s string }

func (r *reason) set(format string, args ...any) { r.s = fmt.Sprintf(format, args...) }
func (r *reason) String() string                 { return r.s }

type orderDoc struct {
	ID      bson.ObjectID `bson:"_id"`
	Status  string        `bson:"status"`
	Version int64         `bson:"version"`
	Ticket  struct {
		ID bson.ObjectID `bson:"id"`
	} `bson:"ticket"`
}

// ticketDoc reads a ticket (tickets', or orders' replica of it) or
// payments' replica of an order: an id, a version and, for tickets, the
// order holding it.
type ticketDoc struct {
	ID      bson.ObjectID `bson:"_id"`
	Version int64         `bson:"version"`
	OrderID string        `bson:"orderId"`
}

func byTicketID(docs []ticketDoc, ids []string) map[string]ticketDoc {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	out := map[string]ticketDoc{}
	for _, d := range docs {
		if want[d.ID.Hex()] {
			out[d.ID.Hex()] = d
		}
	}
	return out
}

// pendingOutbox names a document of any collection of any store that still
// holds events to publish ("" when none does).
func pendingOutbox(dbs map[string]*mongo.Database) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := make([]string, 0, len(dbs))
	for svc := range dbs {
		names = append(names, svc)
	}
	sort.Strings(names)
	for _, svc := range names {
		colls, err := dbs[svc].ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return "", err
		}
		for _, coll := range colls {
			docs, err := readAll[struct {
				ID      any                 `bson:"_id"`
				Outbox  map[string]bson.Raw `bson:"outbox"`
				OutboxN int                 `bson:"outboxN"`
			}](dbs[svc].Collection(coll))
			if err != nil {
				return "", err
			}
			for _, d := range docs {
				if len(d.Outbox) > 0 || d.OutboxN > 0 {
					return fmt.Sprintf("%s.%s %v", svc, coll, d.ID), nil
				}
			}
		}
	}
	return "", nil
}

// busyConsumer names a consumer of the event stream with events not yet
// delivered or not yet acknowledged ("" when all are settled).
func busyConsumer(js jetstream.JetStream) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "TICKETING")
	if err != nil {
		return "", err
	}
	list := s.ListConsumers(ctx)
	busy := ""
	for info := range list.Info() {
		if info.NumPending > 0 || info.NumAckPending > 0 {
			busy = info.Name
		}
	}
	return busy, list.Err()
}

// mongoDatabase connects to a store of the platform (the database is the
// URI's path) for the length of the test.
func mongoDatabase(t *testing.T, uri string) *mongo.Database {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database(uri[strings.LastIndex(uri, "/")+1:])
}

func readAll[T any](coll *mongo.Collection) ([]T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var out []T
	return out, cur.All(ctx, &out)
}
