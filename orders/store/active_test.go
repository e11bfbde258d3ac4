package store_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/outbox"
	"ticketing.dev/orders/order"
	"ticketing.dev/orders/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
)

// CountActive counts a user's unpaid orders with expiresAt ahead, and reads
// only those: a paid or cancelled order loses its activeUser field, which
// the count filters on by equality (on FerretDB's PostgreSQL backend the
// other orders never reach its Go filter).
func TestCountActiveReadsOnlyUnpaidOrders(t *testing.T) {
	t.Parallel()
	ctx := testkit.Context(t)
	db := mongokit.Mongo(t)
	coll := db.Collection("orders")
	orders := store.NewOrders(coll, func(any, ...outbox.Event) {})
	if err := orders.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	place := func(user string) order.Order {
		t.Helper()
		o, evt, err := order.New(user, order.Ticket{ID: bson.NewObjectID(), Title: "t", Price: 100}, now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := orders.Create(ctx, o, evt); err != nil {
			t.Fatal(err)
		}
		return o
	}
	unpaid, paid, cancelled := place("u1"), place("u1"), place("u1")
	place("u2")
	if _, err := orders.Update(ctx, paid.ID, func(o *order.Order) (*outbox.Event, error) { return o.Complete() }); err != nil {
		t.Fatal(err)
	}
	if _, err := orders.Update(ctx, cancelled.ID, func(o *order.Order) (*outbox.Event, error) { return o.Cancel() }); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		user string
		at   time.Time
		want int64
	}{
		{"u1", now, 1},
		{"u2", now, 1},
		{"u1", now.Add(time.Minute + time.Second), 0}, // past expiresAt
		{"nobody", now, 0},
	} {
		if n, err := orders.CountActive(ctx, tt.user, tt.at); err != nil || n != tt.want {
			t.Errorf("CountActive(%s, %s) = %d, %v; want %d", tt.user, tt.at.Format(time.TimeOnly), n, err, tt.want)
		}
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "activeUser", Value: "u1"}})
	if err != nil {
		t.Fatal(err)
	}
	var marked []struct {
		ID bson.ObjectID `bson:"_id"`
	}
	if err := cur.All(ctx, &marked); err != nil {
		t.Fatal(err)
	}
	if len(marked) != 1 || marked[0].ID != unpaid.ID {
		t.Fatalf("orders of u1 with activeUser: %v, want only the unpaid %s", marked, unpaid.ID.Hex())
	}
}

// Update hands the relay every event the order holds after the write (an
// older one still pending first among them), so the relay need not read the
// order; the write that does so is one findAndModify.
func TestUpdateHandsTheRelayThePendingEvents(t *testing.T) {
	t.Parallel()
	ctx := testkit.Context(t)
	db, counter := mongokit.Counted(t)
	type notified struct {
		id   any
		evts []string
	}
	var got []notified
	orders := store.NewOrders(db.Collection("orders"), func(id any, evts ...outbox.Event) {
		n := notified{id: id}
		for _, e := range evts {
			n.evts = append(n.evts, e.ID)
		}
		slices.Sort(n.evts)
		got = append(got, n)
	})
	o, created, err := order.New("u1", order.Ticket{ID: bson.NewObjectID(), Title: "t", Price: 100}, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := orders.Create(ctx, o, created); err != nil {
		t.Fatal(err)
	}
	var completed *outbox.Event
	if _, err := orders.Update(ctx, o.ID, func(o *order.Order) (evt *outbox.Event, err error) {
		completed, err = o.Complete()
		return completed, err
	}); err != nil {
		t.Fatal(err)
	}
	want := []notified{{o.ID, []string{created.ID}}, {o.ID, []string{completed.ID, created.ID}}}
	slices.Sort(want[1].evts)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("relay told %+v, want %+v", got, want)
	}
	if cmds := counter.Take(); cmds["findAndModify orders"] != 1 || cmds["update orders"] != 0 || cmds["find orders"] != 1 {
		t.Fatalf("commands %s, want one find (the load) and one findAndModify", mongokit.Format(cmds))
	}
}
