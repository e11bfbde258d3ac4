package listeners_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
	"ticketing.dev/tickets/httpapi"
	"ticketing.dev/tickets/internal/testenv"
	"ticketing.dev/tickets/listeners"
	"ticketing.dev/tickets/store"
)

// direct is a test world without consumers: the handlers are called as
// functions, so a test decides exactly when each one runs.
type direct struct {
	*testenv.Env
	t         *testing.T
	ctx       context.Context
	updated   *natskit.Recorder[events.TicketUpdatedData]
	created   func(context.Context, events.Msg[events.OrderCreatedData]) error
	cancelled func(context.Context, events.Msg[events.OrderCancelledData]) error
}

func startDirect(t *testing.T, pause func(point string)) *direct {
	env := testenv.Start(t, 100*time.Millisecond)
	d := &direct{Env: env, t: t, ctx: testkit.Context(t), updated: natskit.Record(t, env.NATS.JS, events.TicketUpdated)}
	d.created, d.cancelled = listeners.Handlers(env.Store, env.Log, pause)
	return d
}

func (d *direct) ticket() store.Ticket {
	d.t.Helper()
	tk, err := d.Store.Create(d.ctx, "concert", 2500, seller)
	if err != nil {
		d.t.Fatal(err)
	}
	return tk
}

func createdMsg(orderID string, tk store.Ticket) events.Msg[events.OrderCreatedData] {
	return events.Msg[events.OrderCreatedData]{Delivery: 1, Data: events.OrderCreatedData{
		ID: orderID, Status: events.StatusCreated, UserID: "buyer", ExpiresAt: time.Now().Add(15 * time.Minute),
		Ticket: events.OrderTicket{ID: tk.ID.Hex(), Price: tk.Price}}}
}

func cancelledMsg(orderID string, tk store.Ticket) events.Msg[events.OrderCancelledData] {
	return events.Msg[events.OrderCancelledData]{Delivery: 1, Data: events.OrderCancelledData{
		ID: orderID, Version: 1, Ticket: events.TicketRef{ID: tk.ID.Hex()}}}
}

func (d *direct) create(orderID string, tk store.Ticket) {
	d.t.Helper()
	if err := d.created(d.ctx, createdMsg(orderID, tk)); err != nil {
		d.t.Fatalf("order.created %s: %v", orderID, err)
	}
}

func (d *direct) cancel(orderID string, tk store.Ticket) {
	d.t.Helper()
	if err := d.cancelled(d.ctx, cancelledMsg(orderID, tk)); err != nil {
		d.t.Fatalf("order.cancelled %s: %v", orderID, err)
	}
}

func (d *direct) get(tk store.Ticket) store.Ticket {
	d.t.Helper()
	got, err := d.Store.Get(d.ctx, tk.ID)
	if err != nil {
		d.t.Fatal(err)
	}
	return got
}

// raw waits until the relay has published the ticket's pending events and
// returns its whole stored document.
func (d *direct) raw(tk store.Ticket) bson.Raw {
	d.t.Helper()
	var doc bson.Raw
	testkit.Eventually(d.t, 10*time.Second, func() bool {
		err := d.DB.Collection(store.Collection).FindOne(d.ctx, bson.D{{Key: "_id", Value: tk.ID}}).Decode(&doc)
		if err != nil {
			return false
		}
		n, _ := doc.Lookup("outboxN").AsInt64OK()
		return n == 0
	}, "ticket %s keeps pending events", tk.ID.Hex())
	return doc
}

// expectUpdates checks, once the relay has published everything, that each
// version 1..version of the ticket was published exactly once, and that the
// reservations alternate: odd versions reserve, even ones release.
func (d *direct) expectUpdates(tk store.Ticket, version int64) {
	d.t.Helper()
	got := d.updated.Settled(d.t, d.Outbox())
	if int64(len(got)) != version {
		d.t.Fatalf("%d ticket.updated events, want %d: %+v", len(got), version, got)
	}
	seen := map[int64]bool{}
	for _, m := range got {
		v := m.Data.Version
		if m.Data.ID != tk.ID.Hex() || v < 1 || v > version || seen[v] || (m.Data.OrderID != "") != (v%2 == 1) {
			d.t.Fatalf("unexpected ticket.updated %+v among %+v", m.Data, got)
		}
		seen[v] = true
	}
}

// A late order.created of a cancelled order never reserves the ticket,
// whatever it arrives after, and replaying everything twice changes nothing.
func TestLateOrderCreatedNeverReserves(t *testing.T) {
	t.Parallel()
	type step struct {
		cancel bool
		order  int // index into the case's orders
	}
	created := func(o int) step { return step{order: o} }
	cancelled := func(o int) step { return step{cancel: true, order: o} }
	tests := []struct {
		name    string
		steps   []step
		holder  int // order holding the ticket at the end, -1 for none
		version int64
	}{
		{"order.cancelled first, then its order.created", []step{cancelled(0), created(0)}, -1, 0},
		{"order.cancelled first, then its order.created twice", []step{cancelled(0), created(0), created(0)}, -1, 0},
		{"order.created redelivered after its order.cancelled", []step{created(0), cancelled(0), created(0)}, -1, 2},
		{"late order.created while a newer order holds the ticket does not wait",
			[]step{cancelled(0), created(1), created(0)}, 1, 1},
		{"late order.created after the next order came and went",
			[]step{created(0), cancelled(0), created(1), cancelled(1), created(0), created(1)}, -1, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := start(t)
			tk := w.ticket()
			orders := []string{bson.NewObjectID().Hex(), bson.NewObjectID().Hex()}
			for _, s := range tc.steps {
				if s.cancel {
					w.orderCancelled(orders[s.order], tk)
				} else {
					w.orderCreated(orders[s.order], tk)
				}
				w.settle() // one at a time: the order of arrival is the case's
			}
			holder := ""
			if tc.holder >= 0 {
				holder = orders[tc.holder]
			}
			w.expect(tk, holder, tc.version)
			events := len(w.updated.Settled(t, w.Outbox()))
			for range 2 {
				w.replay()
				w.expect(tk, holder, tc.version)
			}
			if n := len(w.updated.Settled(t, w.Outbox())); n != events || int64(n) != tc.version {
				t.Fatalf("%d ticket.updated events before the replays, %d after, want %d", events, n, tc.version)
			}
		})
	}
}

// Fifty order/cancel cycles on one ticket leave its document the size it was
// after the first, with the same show and list answers (but the version):
// the cancelled orders are remembered outside the ticket. Before the
// markers, each cycle appended the order id to the ticket (189 → 1797 bytes).
func TestTicketDocumentDoesNotGrow(t *testing.T) {
	t.Parallel()
	d := startDirect(t, nil)
	h := httpapi.New(httpapi.Deps{Log: d.Log, Keys: testkit.Keys(), Store: d.Store})
	get := func(path string) string {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	tk := d.ticket()
	cycle := func() {
		t.Helper()
		order := bson.NewObjectID().Hex()
		d.create(order, tk)
		if got := d.get(tk); got.OrderID != order {
			t.Fatalf("order %s did not reserve: %+v", order, got)
		}
		d.cancel(order, tk)
	}

	const cycles = 50
	cycle()
	size := len(d.raw(tk))
	show, list := get("/api/tickets/"+tk.ID.Hex()), get("/api/tickets")
	for range cycles - 1 {
		cycle()
	}
	if got := len(d.raw(tk)); got != size {
		t.Fatalf("ticket document is %d bytes after %d cycles, %d after the first", got, cycles, size)
	}
	bump := func(s string) string { return strings.Replace(s, `"version":2`, `"version":100`, 1) }
	if got := get("/api/tickets/" + tk.ID.Hex()); got != bump(show) {
		t.Fatalf("show answers %s, want %s", got, bump(show))
	}
	if got := get("/api/tickets"); got != bump(list) {
		t.Fatalf("list answers %s, want %s", got, bump(list))
	}
	markers := d.DB.Collection(store.CancelledCollection)
	all, err1 := markers.CountDocuments(d.ctx, bson.D{})
	settled, err2 := markers.CountDocuments(d.ctx, bson.D{{Key: "settled", Value: true}})
	if err1 != nil || err2 != nil || all != cycles || settled != cycles {
		t.Fatalf("%d markers, %d settled, want %d of each (%v, %v)", all, settled, cycles, err1, err2)
	}
	d.expectUpdates(tk, 2*cycles)
}

// Every interleaving of the two handlers of one order that matters, forced
// step by step: the first handler pauses at a point, the other runs to its
// end, the first resumes. Each ends with the ticket free, the marker
// settled, and each version published once.
func TestCreatedCancelledInterleavings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		first   string // "created" or "cancelled"
		point   string // where the first pauses; "" runs them one after the other
		version int64
	}{
		{"created, then cancelled", "created", "", 2},
		{"cancelled, then created", "cancelled", "", 0},
		{"created found no marker; cancelled ran before the reservation was written",
			"created", listeners.PointCreatedChecked, 2},
		{"created reserved; cancelled ran before its second look",
			"created", listeners.PointCreatedReserved, 2},
		{"cancelled stored the marker; created ran before the release",
			"cancelled", listeners.PointCancelledMarked, 0},
		{"cancelled released; created ran before the marker was settled",
			"cancelled", listeners.PointCancelledRelease, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reached, resume := make(chan struct{}), make(chan struct{})
			var once sync.Once
			d := startDirect(t, func(point string) {
				if point == tc.point {
					once.Do(func() {
						close(reached)
						<-resume
					})
				}
			})
			tk := d.ticket()
			order := bson.NewObjectID().Hex()
			run := map[string]func() error{
				"created":   func() error { return d.created(d.ctx, createdMsg(order, tk)) },
				"cancelled": func() error { return d.cancelled(d.ctx, cancelledMsg(order, tk)) },
			}
			second := map[string]string{"created": "cancelled", "cancelled": "created"}[tc.first]

			var done chan error
			if tc.point == "" {
				if err := run[tc.first](); err != nil {
					t.Fatalf("%s: %v", tc.first, err)
				}
			} else {
				done = make(chan error, 1)
				go func() { done <- run[tc.first]() }()
				select {
				case <-reached:
				case err := <-done:
					t.Fatalf("%s ended (%v) without reaching %s", tc.first, err, tc.point)
				}
			}
			if err := run[second](); err != nil {
				t.Fatalf("%s: %v", second, err)
			}
			if done != nil {
				close(resume)
				if err := <-done; err != nil {
					t.Fatalf("%s: %v", tc.first, err)
				}
			}
			d.check(tk, order, tc.version)
		})
	}
}

// check asserts the end state of one order's two handlers: the ticket free
// at the version, the order's marker settled, each version published once.
func (d *direct) check(tk store.Ticket, order string, version int64) {
	d.t.Helper()
	if got := d.get(tk); got.OrderID != "" || got.Version != version {
		d.t.Fatalf("ticket reserved by %q at version %d, want free at %d", got.OrderID, got.Version, version)
	}
	var m store.Cancelled
	if err := d.DB.Collection(store.CancelledCollection).FindOne(d.ctx, bson.D{{Key: "_id", Value: order}}).Decode(&m); err != nil || !m.Settled || m.TicketID != tk.ID {
		d.t.Fatalf("marker %+v (%v), want settled for ticket %s", m, err, tk.ID.Hex())
	}
	d.expectUpdates(tk, version)
}

// The two handlers of one order (each twice, as redeliveries to two
// replicas) race, round after round on one ticket: every round ends with
// the ticket not reserved by the order, and over all rounds every
// reservation was followed by exactly one release. Rounds differ in when
// the second pair starts: with the first, or as soon as the first pair
// reaches a point (a signal, not a pause: both pairs then run freely), so
// the races happen at every phase of both handlers.
func TestCreatedCancelledRace(t *testing.T) {
	t.Parallel()
	type round struct {
		trigger string
		gate    chan struct{}
		once    sync.Once
	}
	var mu sync.Mutex
	var cur *round
	open := func(r *round) { r.once.Do(func() { close(r.gate) }) }
	d := startDirect(t, func(point string) {
		mu.Lock()
		r := cur
		mu.Unlock()
		if r != nil && point == r.trigger {
			open(r)
		}
	})
	tk := d.ticket()
	phases := []struct {
		trigger      string // "": both pairs start together
		createdFirst bool
	}{
		{"", true},
		{listeners.PointCreatedChecked, true},
		{listeners.PointCreatedReserved, true},
		{listeners.PointCancelledMarked, false},
		{listeners.PointCancelledRelease, false},
	}
	const rounds = 50
	for n := range rounds {
		phase := phases[n%len(phases)]
		order := bson.NewObjectID().Hex()
		r := &round{trigger: phase.trigger, gate: make(chan struct{})}
		if phase.trigger == "" {
			open(r)
		}
		mu.Lock()
		cur = r
		mu.Unlock()
		created := func() error { return d.created(d.ctx, createdMsg(order, tk)) }
		cancelled := func() error { return d.cancelled(d.ctx, cancelledMsg(order, tk)) }
		first, second := created, cancelled
		if !phase.createdFirst {
			first, second = cancelled, created
		}
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				if i < 2 {
					errs[i] = first()
					open(r) // the second pair starts by now at the latest
					return
				}
				<-r.gate
				errs[i] = second()
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, handler %d: %v", n, i, err)
			}
		}
		if got := d.get(tk); got.OrderID != "" {
			t.Fatalf("round %d: ticket left reserved by its cancelled order %s", n, got.OrderID)
		}
	}
	final := d.get(tk)
	if final.Version%2 != 0 {
		t.Fatalf("version %d: a reservation without its release", final.Version)
	}
	t.Logf("%d of %d rounds reserved before the release", final.Version/2, rounds)
	settled, err := d.DB.Collection(store.CancelledCollection).CountDocuments(d.ctx, bson.D{{Key: "settled", Value: true}})
	if err != nil || settled != rounds {
		t.Fatalf("%d settled markers, want %d (%v)", settled, rounds, err)
	}
	d.expectUpdates(tk, final.Version)
	// and the ticket is free for the next buyer
	next := bson.NewObjectID().Hex()
	d.create(next, tk)
	if got := d.get(tk); got.OrderID != next {
		t.Fatalf("next order did not reserve: %+v", got)
	}
}

// A ticket written before the markers carries its cancelled orders in
// releasedOrders. Its first update moves them into markers and removes the
// list, without a version bump or an event: a late order.created of one of
// them still does not reserve, a new order does.
func TestLegacyReleasedOrdersMigrated(t *testing.T) {
	t.Parallel()
	d := startDirect(t, nil)
	id := bson.NewObjectID()
	orderA, orderB, orderC := bson.NewObjectID().Hex(), bson.NewObjectID().Hex(), bson.NewObjectID().Hex()
	_, err := d.DB.Collection(store.Collection).InsertOne(d.ctx, bson.D{
		{Key: "_id", Value: id}, {Key: "title", Value: "concert"}, {Key: "price", Value: int64(2500)},
		{Key: "userId", Value: seller}, {Key: "version", Value: int64(4)},
		{Key: "releasedOrders", Value: bson.A{orderA, orderB}}, {Key: "outboxN", Value: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	tk := store.Ticket{ID: id, Price: 2500}
	want := store.Ticket{ID: id, Title: "concert", Price: 2500, UserID: seller, Version: 4}
	if got := d.get(tk); got != want { // the public read, list projected out
		t.Fatalf("legacy ticket reads as %+v, want %+v", got, want)
	}

	d.create(orderA, tk)
	if got := d.get(tk); got.OrderID != "" || got.Version != 4 {
		t.Fatalf("late order.created of a legacy released order: %+v", got)
	}
	if _, err := d.raw(tk).LookupErr("releasedOrders"); err == nil {
		t.Fatal("releasedOrders still stored after the first update")
	}
	w := &world{Env: d.Env, t: t, ctx: d.ctx}
	w.expectMarkers(map[string]bool{orderA: true, orderB: true})

	d.create(orderB, tk)
	d.create(orderC, tk)
	if got := d.get(tk); got.OrderID != orderC || got.Version != 5 {
		t.Fatalf("a new order after the migration: %+v", got)
	}
	// only the new reservation was published: the migration changed nothing a client sees
	if got := d.updated.Settled(t, d.Outbox()); len(got) != 1 || got[0].Data.Version != 5 || got[0].Data.OrderID != orderC {
		t.Fatalf("ticket.updated events %+v, want only version 5 reserved by %s", got, orderC)
	}
}
