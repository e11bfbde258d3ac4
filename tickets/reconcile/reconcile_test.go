package reconcile_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/sweep"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
	"ticketing.dev/tickets/internal/testenv"
	"ticketing.dev/tickets/reconcile"
	"ticketing.dev/tickets/store"
)

const seller = "5f0000000000000000000a11"

type world struct {
	*testenv.Env
	t       *testing.T
	ctx     context.Context
	updated *natskit.Recorder[events.TicketUpdatedData]
	now     time.Time // the reconciler's clock
}

func start(t *testing.T) *world {
	env := testenv.Start(t, 100*time.Millisecond)
	return &world{Env: env, t: t, ctx: testkit.Context(t),
		updated: natskit.Record(t, env.NATS.JS, events.TicketUpdated), now: time.Now()}
}

func (w *world) reconciler() *reconcile.Reconciler {
	return reconcile.New(w.Store, w.Log, reconcile.Options{Now: func() time.Time { return w.now }})
}

// ticket creates a ticket, reserved by order unless it is "".
func (w *world) ticket(order string) store.Ticket {
	w.t.Helper()
	tk, err := w.Store.Create(w.ctx, "concert", 2500, seller)
	if err != nil {
		w.t.Fatal(err)
	}
	if order == "" {
		return tk
	}
	tk, err = w.Store.Update(w.ctx, tk.ID, func(t *store.Ticket) (bool, error) {
		t.OrderID = order
		return true, nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return tk
}

// marker stores a cancelled order's marker as a handler would have, first
// seen at the time.
func (w *world) marker(order string, ticket bson.ObjectID, at time.Time, settled bool) {
	w.t.Helper()
	_, err := w.DB.Collection(store.CancelledCollection).InsertOne(w.ctx,
		store.Cancelled{OrderID: order, TicketID: ticket, At: at.UTC(), Settled: settled})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) markers() map[string]bool {
	w.t.Helper()
	cur, err := w.DB.Collection(store.CancelledCollection).Find(w.ctx, bson.D{})
	if err != nil {
		w.t.Fatal(err)
	}
	var ms []store.Cancelled
	if err := cur.All(w.ctx, &ms); err != nil {
		w.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range ms {
		out[m.OrderID] = m.Settled
	}
	return out
}

func (w *world) expect(tk store.Ticket, order string, version int64) {
	w.t.Helper()
	got, err := w.Store.Get(w.ctx, tk.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	if got.OrderID != order || got.Version != version {
		w.t.Fatalf("ticket reserved by %q at version %d, want %q at %d", got.OrderID, got.Version, order, version)
	}
}

func (w *world) once(r *reconcile.Reconciler) int {
	w.t.Helper()
	n, err := sweep.New(reconcile.Name, time.Hour, w.Log, r.Pass).Once(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// An order.cancelled handler that died (or was dead-lettered) after storing
// its marker left the ticket reserved by the cancelled order: the sweep
// releases it once, publishes one ticket.updated, and settles the marker.
// What it must not touch is left alone.
func TestSweepFinishesUnsettledMarkers(t *testing.T) {
	t.Parallel()
	w := start(t)
	fresh := time.Now()
	old := fresh.Add(-time.Minute) // past the grace: no handler is at work on it
	dead, other, newer, unknown, young := bson.NewObjectID().Hex(), bson.NewObjectID().Hex(),
		bson.NewObjectID().Hex(), bson.NewObjectID().Hex(), bson.NewObjectID().Hex()

	held := w.ticket(dead) // the cancel handler died after its marker
	w.marker(dead, held.ID, old, false)
	moved := w.ticket(newer) // a newer order holds the ticket: not the cancelled one's to free
	w.marker(other, moved.ID, old, false)
	w.marker(unknown, bson.NewObjectID(), old, false) // a ticket that does not exist
	inFlight := w.ticket(young)                       // its handler may be at work right now
	w.marker(young, inFlight.ID, fresh, false)

	r := w.reconciler()
	if n := w.once(r); n != 1 {
		t.Fatalf("first pass repaired %d, want 1", n)
	}
	w.expect(held, "", 2)
	w.expect(moved, newer, 1)
	w.expect(inFlight, young, 1)
	want := map[string]bool{dead: true, other: true, unknown: true, young: false}
	if got := w.markers(); !maps.Equal(got, want) {
		t.Fatalf("markers %v, want %v", got, want)
	}
	if n := w.once(r); n != 0 {
		t.Fatalf("second pass repaired %d, want 0", n)
	}

	// the one repair is published once: versions 1 of the three reservations, then 2 of the release
	got := w.updated.Settled(t, w.Outbox())
	var releases []events.TicketUpdatedData
	for _, m := range got {
		if m.Data.ID == held.ID.Hex() && m.Data.Version == 2 {
			releases = append(releases, m.Data)
		}
	}
	if len(got) != 4 || len(releases) != 1 || releases[0].OrderID != "" {
		t.Fatalf("ticket.updated events %+v, want the three reservations and one release", got)
	}

	// past the grace the young marker is the sweep's too
	w.now = w.now.Add(time.Minute)
	if n := w.once(r); n != 1 {
		t.Fatalf("pass past the grace repaired %d, want 1", n)
	}
	w.expect(inFlight, "", 2)
}

// An order.created handler that died between writing its reservation and
// its second look for the marker (its event then dead-lettered) leaves a
// reservation whose marker is settled already: the hourly scan of reserved
// tickets releases it.
func TestSweepReleasesReservationOfSettledMarker(t *testing.T) {
	t.Parallel()
	w := start(t)
	order, active := bson.NewObjectID().Hex(), bson.NewObjectID().Hex()
	stuck := w.ticket(order)
	w.marker(order, stuck.ID, time.Now(), true)
	fine := w.ticket(active) // an active order: no marker
	r := w.reconciler()

	if n := w.once(r); n != 1 {
		t.Fatalf("pass repaired %d, want 1", n)
	}
	w.expect(stuck, "", 2)
	w.expect(fine, active, 1)

	// a reservation stuck after the scan waits for the next one, an hour on
	again := bson.NewObjectID().Hex()
	late := w.ticket(again)
	w.marker(again, late.ID, time.Now(), true)
	w.now = w.now.Add(30 * time.Minute)
	if n := w.once(r); n != 0 {
		t.Fatalf("pass within the hour repaired %d, want 0", n)
	}
	w.now = w.now.Add(31 * time.Minute)
	if n := w.once(r); n != 1 {
		t.Fatalf("pass past the hour repaired %d, want 1", n)
	}
	w.expect(late, "", 2)
}

// Settled markers older than the stream's retention are deleted, at most
// once an hour; younger ones and unsettled ones stay.
func TestSweepPrunesOldMarkers(t *testing.T) {
	t.Parallel()
	w := start(t)
	tk := w.ticket("")
	expired, kept, unsettled, later := bson.NewObjectID().Hex(), bson.NewObjectID().Hex(),
		bson.NewObjectID().Hex(), bson.NewObjectID().Hex()
	w.marker(expired, tk.ID, w.now.Add(-reconcile.Retention-time.Minute), true)
	w.marker(kept, tk.ID, w.now.Add(-reconcile.Retention+time.Hour), true)
	// an old unsettled marker is settled first (its ticket is free), then pruned
	w.marker(unsettled, tk.ID, w.now.Add(-reconcile.Retention-time.Minute), false)
	r := w.reconciler()

	if n := w.once(r); n != 0 {
		t.Fatalf("pass repaired %d, want 0", n)
	}
	if got, want := w.markers(), map[string]bool{kept: true}; !maps.Equal(got, want) {
		t.Fatalf("markers %v, want %v", got, want)
	}

	w.marker(later, tk.ID, w.now.Add(-reconcile.Retention-time.Minute), true)
	w.now = w.now.Add(10 * time.Minute)
	w.once(r)
	if got, want := w.markers(), map[string]bool{kept: true, later: true}; !maps.Equal(got, want) {
		t.Fatalf("within the hour: markers %v, want %v", got, want)
	}
	w.now = w.now.Add(time.Hour)
	w.once(r)
	if got, want := w.markers(), map[string]bool{}; !maps.Equal(got, want) {
		t.Fatalf("past the hour (kept is now past retention too): markers %v, want %v", got, want)
	}
}

// Two replicas sweeping at once repair a reservation once: one release,
// one ticket.updated.
func TestSweepReplicasRepairOnce(t *testing.T) {
	t.Parallel()
	w := start(t)
	const tickets = 5
	var held []store.Ticket
	for range tickets {
		order := bson.NewObjectID().Hex()
		tk := w.ticket(order)
		w.marker(order, tk.ID, time.Now().Add(-time.Minute), false)
		held = append(held, tk)
	}
	replicas := []*reconcile.Reconciler{w.reconciler(), w.reconciler()}
	repaired := make([]int, len(replicas))
	errs := make([]error, len(replicas))
	var wg sync.WaitGroup
	for i, r := range replicas {
		wg.Go(func() { repaired[i], errs[i] = sweep.New(reconcile.Name, time.Hour, w.Log, r.Pass).Once(w.ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if repaired[0]+repaired[1] != tickets {
		t.Fatalf("replicas repaired %v, want %d in all", repaired, tickets)
	}
	for _, tk := range held {
		w.expect(tk, "", 2)
	}
	if got := w.updated.Settled(t, w.Outbox()); len(got) != 2*tickets {
		t.Fatalf("%d ticket.updated events, want %d (one reservation and one release each)", len(got), 2*tickets)
	}
}

// Markers are kept as long as the stream keeps events: an order.created
// still in the stream always finds its order's marker.
func TestRetentionCoversTheStream(t *testing.T) {
	t.Parallel()
	n := natskit.StartNATS(t)
	s, err := n.JS.Stream(testkit.Context(t), events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if maxAge := s.CachedInfo().Config.MaxAge; maxAge == 0 || reconcile.Retention < maxAge {
		t.Fatalf("markers kept %s, the stream keeps events %s", reconcile.Retention, maxAge)
	}
}
