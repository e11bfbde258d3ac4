package clustertest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/session"
	ohttpapi "ticketing.dev/orders/httpapi"
	olisteners "ticketing.dev/orders/listeners"
	ostore "ticketing.dev/orders/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
	thttpapi "ticketing.dev/tickets/httpapi"
	tlisteners "ticketing.dev/tickets/listeners"
	tstore "ticketing.dev/tickets/store"
)

func TestMain(m *testing.M) { mongokit.Main(m) }

// service is the part of a service this test runs: its HTTP API, and its
// listeners and outbox relay on the cluster, wired as its main wires them.
type service struct {
	api  http.Handler
	db   *mongo.Database
	stop func()
}

func connect(t *testing.T, ctx context.Context, urls, name string, log *slog.Logger) jetstream.JetStream {
	t.Helper()
	// A service as its own user (least privilege), anything else as admin.
	user := events.AdminUser
	if _, ok := events.Services[name]; ok {
		user = name
	}
	nc, js, err := events.Connect(ctx, urls, name, 3, log, events.UserOptions(user, natskit.Password(user))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return js
}

func startTickets(t *testing.T, ctx context.Context, urls string) *service {
	t.Helper()
	log := testkit.Logger(t).With("service", "tickets")
	js, db := connect(t, ctx, urls, "tickets", log), mongokit.Mongo(t)
	relay := outbox.NewRelay(db.Collection(tstore.Collection), events.NewPublisher(js), log, 200*time.Millisecond)
	st := tstore.New(db, relay.Notify)
	if err := st.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	stopRelay := relay.Start()
	ls, err := tlisteners.Start(ctx, js, log, st)
	if err != nil {
		t.Fatal(err)
	}
	api := thttpapi.New(thttpapi.Deps{Log: log, Keys: testkit.Keys(), Store: st})
	return &service{api: api, db: db, stop: func() { ls.Stop(); stopRelay() }}
}

func startOrders(t *testing.T, ctx context.Context, urls string) *service {
	t.Helper()
	log := testkit.Logger(t).With("service", "orders")
	js, db := connect(t, ctx, urls, "orders", log), mongokit.Mongo(t)
	coll := db.Collection("orders")
	relay := outbox.NewRelay(coll, events.NewPublisher(js), log, 200*time.Millisecond)
	orders, tickets := ostore.NewOrders(coll, relay.Notify), ostore.NewTickets(db.Collection("tickets"))
	if err := orders.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	stopRelay := relay.Start()
	ls, err := olisteners.Start(ctx, js, olisteners.Deps{Log: log, Orders: orders, Tickets: tickets})
	if err != nil {
		t.Fatal(err)
	}
	api := ohttpapi.New(ohttpapi.Deps{Log: log, Keys: session.NewKeys(testkit.JWTKey), Orders: orders,
		Tickets: tickets, Window: 15 * time.Minute})
	return &service{api: api, db: db, stop: func() { ls.Stop(); stopRelay() }}
}

// The stream leader is shut down while tickets are sold and ordered, and
// started again later: a new leader is elected, the restarted node catches
// up, and every event is stored once and applied once. Then a service that
// asks for one replica leaves the stream at three.
func TestStreamSurvivesLeaderLoss(t *testing.T) {
	ctx := testkit.Context(t)
	c := startCluster(t, 3)
	js := connect(t, ctx, c.urls(), "test", testkit.Logger(t))
	testkit.Eventually(t, 30*time.Second, func() bool { return events.EnsureStream(ctx, js, 3) == nil },
		"the cluster never took the stream with 3 replicas")

	tickets, orders := startTickets(t, ctx, c.urls()), startOrders(t, ctx, c.urls())
	defer orders.stop()
	defer tickets.stop()

	const flows = 36
	seller := testkit.SessionCookie(t, bson.NewObjectID().Hex(), "seller@test.dev")
	var (
		done     atomic.Int32
		mu       sync.Mutex
		reserved = map[string]string{} // ticket id → the order the API created for it
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	failed := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(failures)
	}
	// One flow: sell a ticket, then order it once the orders service has
	// heard of it (a 404 until its ticket.created is applied).
	flow := func(i int, stop <-chan struct{}) {
		var tk struct{ ID string }
		res := testkit.Call(t, tickets.api, http.MethodPost, "/api/tickets",
			map[string]any{"title": fmt.Sprint("seat ", i), "price": 10 + i}, seller)
		if res.Status != http.StatusCreated {
			fail("create ticket %d: %d %s", i, res.Status, res.Body)
			return
		}
		if err := json.Unmarshal(res.Body, &tk); err != nil {
			fail("ticket %d: %v", i, err)
			return
		}
		buyer := testkit.SessionCookie(t, bson.NewObjectID().Hex(), fmt.Sprintf("buyer%d@test.dev", i))
		deadline := time.Now().Add(60 * time.Second)
		for {
			res = testkit.Call(t, orders.api, http.MethodPost, "/api/orders", map[string]string{"ticketId": tk.ID}, buyer)
			if res.Status != http.StatusNotFound || time.Now().After(deadline) {
				break
			}
			// The client polls until the replica has the ticket.
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		if res.Status != http.StatusCreated {
			fail("order ticket %s: %d %s", tk.ID, res.Status, res.Body)
			return
		}
		var o struct{ ID string }
		if err := json.Unmarshal(res.Body, &o); err != nil {
			fail("order of %s: %v", tk.ID, err)
			return
		}
		mu.Lock()
		reserved[tk.ID] = o.ID
		mu.Unlock()
		done.Add(1)
	}
	// The feeder holds back the second third of the flows until the leader
	// is gone, and the last third until it is back: flows run during the
	// outage and after the restart whatever the machine's speed.
	var wg sync.WaitGroup
	next, stop := make(chan int), make(chan struct{})
	leaderStopped, restarted := make(chan struct{}), make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for i := range next {
				flow(i, stop)
			}
		})
	}
	wg.Go(func() {
		defer close(next)
		for i := range flows {
			for _, milestone := range []struct {
				at   int
				wait chan struct{}
			}{{flows / 3, leaderStopped}, {2 * flows / 3, restarted}} {
				if i == milestone.at {
					select {
					case <-milestone.wait:
					case <-stop:
						return
					}
				}
			}
			select {
			case next <- i:
			case <-stop:
				return
			}
		}
	})
	// A failing check below ends the test: the workers stop first.
	stopOnce := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopOnce)

	// A third of the way in, the stream's leader goes.
	testkit.Eventually(t, 60*time.Second, func() bool { return done.Load() >= flows/3 }, "the first flows did not finish")
	var oldLeader string
	testkit.Eventually(t, 30*time.Second, func() bool {
		if info := streamInfo(ctx, js); info != nil && info.Cluster.Leader != "" {
			oldLeader = info.Cluster.Leader
			return true
		}
		return false
	}, "no stream leader")
	lost := c.index(oldLeader)
	c.stop(lost)
	close(leaderStopped)
	t.Logf("stopped the stream leader %s after %d flows", oldLeader, done.Load())
	var newLeader string
	testkit.Eventually(t, 30*time.Second, func() bool {
		if info := streamInfo(ctx, js); info != nil && info.Cluster.Leader != "" && info.Cluster.Leader != oldLeader {
			newLeader = info.Cluster.Leader
			return true
		}
		return false
	}, "no new stream leader after %s stopped", oldLeader)
	t.Logf("new stream leader %s", newLeader)

	// Two thirds in, it comes back.
	testkit.Eventually(t, 90*time.Second, func() bool { return done.Load() >= 2*flows/3 }, "flows stalled without the old leader")
	c.start(lost)
	close(restarted)
	testkit.Eventually(t, 120*time.Second, func() bool { return done.Load()+int32(failed()) == flows },
		"the last flows did not finish")
	stopOnce()
	mu.Lock()
	for _, f := range failures {
		t.Error(f)
	}
	mu.Unlock()
	if t.Failed() {
		t.FailNow()
	}

	// Every change is published once (the outboxes drain; the stream
	// dropped any repeat by its Nats-Msg-Id) and applied once.
	for name, coll := range map[string]*mongo.Collection{
		"tickets": tickets.db.Collection(tstore.Collection), "orders": orders.db.Collection("orders"),
	} {
		testkit.Eventually(t, 60*time.Second, func() bool {
			n, err := coll.CountDocuments(ctx, outbox.PendingFilter)
			return err == nil && n == 0
		}, "the %s outbox did not drain", name)
	}
	want := map[string]uint64{"ticket.created": flows, "order.created": flows, "ticket.updated": flows}
	var stored map[string]uint64
	testkit.Eventually(t, 30*time.Second, func() bool {
		info := streamInfo(ctx, js)
		if info == nil {
			return false
		}
		stored = info.State.Subjects
		for subject, n := range want {
			if stored[subject] != n {
				return false
			}
		}
		return true
	}, "the stream does not hold each event exactly once: %v, want %v", &stored, want)
	for _, durable := range []string{"tickets-service-order-created", "orders-service-ticket-created", "orders-service-ticket-updated"} {
		testkit.Eventually(t, 60*time.Second, func() bool {
			cons, err := js.Consumer(ctx, events.StreamName, durable)
			if err != nil {
				return false
			}
			ci, err := cons.Info(ctx)
			return err == nil && ci.NumPending == 0 && ci.NumAckPending == 0
		}, "consumer %s did not handle everything", durable)
	}
	for ticketID, orderID := range reserved {
		id, _ := bson.ObjectIDFromHex(ticketID)
		var tk struct {
			OrderID string `bson:"orderId"`
			Version int64  `bson:"version"`
		}
		if err := tickets.db.Collection(tstore.Collection).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&tk); err != nil {
			t.Fatalf("ticket %s: %v", ticketID, err)
		}
		if tk.OrderID != orderID || tk.Version != 1 {
			t.Errorf("ticket %s: reserved by %q at version %d, want %s at version 1", ticketID, tk.OrderID, tk.Version, orderID)
		}
		var replica struct {
			Version int64 `bson:"version"`
		}
		testkit.Eventually(t, 30*time.Second, func() bool {
			err := orders.db.Collection("tickets").FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&replica)
			return err == nil && replica.Version == 1
		}, "the orders replica of ticket %s is not at version 1", ticketID)
	}

	// The restarted node caught up: it holds every event in its own copy.
	total := 3 * uint64(flows)
	testkit.Eventually(t, 60*time.Second, func() bool {
		n, ok := c.storedOn(lost)
		return ok && n == total
	}, "the restarted node %s did not catch up to %d events", oldLeader, total)
	testkit.Eventually(t, 30*time.Second, func() bool {
		info := streamInfo(ctx, js)
		if info == nil || len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
		return true
	}, "the stream's replicas are not all current")

	// A pod started with NATS_STREAM_REPLICAS=1 does not lower the stream.
	if err := events.EnsureStream(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{events.StreamName, events.DeadLetterStream} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("%s has %d replicas after EnsureStream(1), want 3", name, r)
		}
	}
}

// A pod with a smaller setting never lowers a stream: table of what is
// there and what a pod asks for.
func TestEnsureStreamNeverLowersReplicas(t *testing.T) {
	ctx := testkit.Context(t)
	c := startCluster(t, 3)
	js := connect(t, ctx, c.urls(), "test", testkit.Logger(t))
	tests := []struct{ ask, want int }{{3, 3}, {1, 3}, {0, 3}, {2, 3}}
	for _, tt := range tests {
		// A loaded machine may take a while to place three replicas of
		// each stream: the count is what is checked, not the time.
		testkit.Eventually(t, 90*time.Second, func() bool { return events.EnsureStream(ctx, js, tt.ask) == nil },
			"EnsureStream(%d) failed", tt.ask)
		s, err := js.Stream(ctx, events.StreamName)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Replicas; got != tt.want {
			t.Fatalf("after EnsureStream(%d): %d replicas, want %d", tt.ask, got, tt.want)
		}
	}
}

// A listener that starts before the streams exist leaves making them to the
// connection's keeper (events.Connect), which knows the configured replicas:
// a listener does not make a stream it never saw (it would not know how many
// replicas it should have), and starts once the stream is there.
func TestListenerBeforeTheStreamLeavesItToTheKeeper(t *testing.T) {
	ctx := testkit.Context(t)
	c := startCluster(t, 3)
	log := testkit.Logger(t)
	// A plain connection: no keeper makes the streams.
	nc, err := nats.Connect(c.urls(), nats.UserInfo(events.AdminUser, natskit.Password(events.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		_, err := js.AccountInfo(ctx)
		return err == nil
	}, "JetStream not up")
	handled := make(chan struct{}, 1)
	l, err := events.Listen(ctx, js, log, events.OrderCompleted, "early",
		func(context.Context, events.Msg[events.OrderCompletedData]) error {
			select {
			case handled <- struct{}{}:
			default:
			}
			return nil
		}, events.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if _, err := js.Stream(ctx, events.StreamName); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("after Listen, the stream: %v, want none (a listener does not make it)", err)
	}

	// A service's keeper makes it with 3 replicas; the listener then starts.
	connect(t, ctx, c.urls(), "keeper", log)
	pub := events.NewPublisher(js)
	testkit.Eventually(t, 60*time.Second, func() bool {
		if events.Publish(ctx, pub, events.OrderCompleted, "o1", events.OrderCompletedData{ID: "o1"}) != nil {
			return false
		}
		select {
		case <-handled:
			return true
		default:
			return false
		}
	}, "the listener never handled an event")
	if info := streamInfo(ctx, js); info == nil || info.Config.Replicas != 3 {
		t.Fatalf("stream %+v, want 3 replicas", info)
	}
}
