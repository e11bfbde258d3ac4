package store_test

import (
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/outbox"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/tickets/store"
)

func listed(t *testing.T, s *store.Store) []bson.ObjectID {
	t.Helper()
	return listedBy(t, s, store.ListQuery{Limit: 100})
}

// listedBy is the ids of the page q lists.
func listedBy(t *testing.T, s *store.Store, q store.ListQuery) []bson.ObjectID {
	t.Helper()
	tickets, _, err := s.List(testkit.Context(t), q)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]bson.ObjectID, len(tickets))
	for i, tk := range tickets {
		ids[i] = tk.ID
	}
	return ids
}

// A replica with a list cache shows its own writes at once (a sale, a
// reservation, a release), and another replica's once its cached page is
// older than the TTL; until then it serves the page it read.
func TestListCache(t *testing.T) {
	noop := func(any, ...outbox.Event) {}
	tests := []struct {
		name string
		ttl  time.Duration
		// others is whether B's sale shows in A's list right after it.
		others bool
	}{
		{"without a cache", 0, true},
		{"with a cache", time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testkit.Context(t)
			db := mongokit.Mongo(t)
			a, b := store.New(db, noop), store.New(db, noop)
			a.CacheLists(tt.ttl)
			if got := listed(t, a); len(got) != 0 {
				t.Fatalf("fresh store lists %v", got)
			}

			own, err := a.Create(ctx, "own", 1000, "seller")
			if err != nil {
				t.Fatal(err)
			}
			if got := listed(t, a); !slices.Equal(got, []bson.ObjectID{own.ID}) {
				t.Fatalf("after its own sale A lists %v, want [%s]", got, own.ID.Hex())
			}

			other, err := b.Create(ctx, "other", 1000, "seller")
			if err != nil {
				t.Fatal(err)
			}
			got := listed(t, a)
			if shown := slices.Contains(got, other.ID); shown != tt.others {
				t.Fatalf("right after B's sale A lists %v: B's ticket shown %v, want %v", got, shown, tt.others)
			}

			// A's own reservation refreshes its page, B's sale included.
			if _, err := a.Update(ctx, own.ID, func(tk *store.Ticket) (bool, error) {
				tk.OrderID = "order-1"
				return true, nil
			}); err != nil {
				t.Fatal(err)
			}
			if got := listed(t, a); !slices.Equal(got, []bson.ObjectID{other.ID}) {
				t.Fatalf("after its reservation A lists %v, want [%s]", got, other.ID.Hex())
			}
			if _, err := a.Release(ctx, own.ID, "order-1"); err != nil {
				t.Fatal(err)
			}
			if got := listed(t, a); !slices.Equal(got, []bson.ObjectID{own.ID, other.ID}) {
				t.Fatalf("after its release A lists %v, want both", got)
			}
		})
	}
}

// A cached page expires after its TTL: another replica's sale shows then.
func TestListCacheExpires(t *testing.T) {
	t.Parallel()
	ctx := testkit.Context(t)
	db := mongokit.Mongo(t)
	noop := func(any, ...outbox.Event) {}
	a, b := store.New(db, noop), store.New(db, noop)
	a.CacheLists(50 * time.Millisecond)
	_ = listed(t, a)
	other, err := b.Create(ctx, "other", 1000, "seller")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		return slices.Contains(listed(t, a), other.ID)
	}, "B's sale never showed in A's cached list")
}

// Each query shape has its own cached page (order, search, page size,
// cursor), and a seller's own list is never cached: another replica's
// reservation of the seller's ticket shows at once.
func TestListCacheKeepsQueriesApart(t *testing.T) {
	t.Parallel()
	ctx := testkit.Context(t)
	db := mongokit.Mongo(t)
	noop := func(any, ...outbox.Event) {}
	a, b := store.New(db, noop), store.New(db, noop)
	a.CacheLists(time.Hour)
	var made []bson.ObjectID
	for _, title := range []string{"jazz", "rock", "Jazz brunch"} {
		tk, err := a.Create(ctx, title, 1000, "seller")
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, tk.ID)
	}
	list := func(q store.ListQuery) []bson.ObjectID {
		t.Helper()
		q.Limit = max(q.Limit, 1)
		return listedBy(t, a, q)
	}
	for range 2 { // the second round is served from the cache
		tests := []struct {
			q    store.ListQuery
			want []bson.ObjectID
		}{
			{store.ListQuery{Limit: 100}, made},
			{store.ListQuery{Limit: 100, Newest: true}, []bson.ObjectID{made[2], made[1], made[0]}},
			{store.ListQuery{Limit: 100, Title: "JAZZ"}, []bson.ObjectID{made[0], made[2]}},
			{store.ListQuery{Limit: 100, Title: "JAZZ", Newest: true}, []bson.ObjectID{made[2], made[0]}},
			{store.ListQuery{Limit: 1}, made[:1]},
			{store.ListQuery{Limit: 1, After: made[0]}, made[1:2]},
			{store.ListQuery{Limit: 1, After: made[2], Newest: true}, made[1:2]},
			// Backward: the page just before After, in the page's order.
			{store.ListQuery{Limit: 2, After: made[2], Backward: true}, made[:2]},
			{store.ListQuery{Limit: 1, After: made[2], Backward: true}, made[1:2]},
			{store.ListQuery{Limit: 2, After: made[0], Newest: true, Backward: true}, []bson.ObjectID{made[2], made[1]}},
			{store.ListQuery{Limit: 100, After: made[0], Backward: true}, nil},
		}
		for _, tc := range tests {
			if got := list(tc.q); !slices.Equal(got, tc.want) {
				t.Fatalf("%+v lists %v, want %v", tc.q, got, tc.want)
			}
		}
	}

	mine := store.ListQuery{Limit: 100, Seller: "seller"}
	_ = list(mine)
	if _, err := b.Update(ctx, made[1], func(tk *store.Ticket) (bool, error) {
		tk.OrderID = bson.NewObjectID().Hex()
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	tickets, _, err := a.List(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}
	if len(tickets) != 3 || tickets[1].State() != store.StateReserved {
		t.Fatalf("seller's list %+v: B's reservation not shown", tickets)
	}
	if got := list(store.ListQuery{Limit: 100}); !slices.Equal(got, made) {
		t.Fatalf("cached public page %v, want the one read before B's reservation", got)
	}
}
