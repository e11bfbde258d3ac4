package listeners_test

import (
	"maps"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
	"ticketing.dev/tickets/listeners"
	"ticketing.dev/tickets/store"
)

// What each event costs in round trips to the store, the relay's included
// (counted by the store's front, so no figure depends on the machine).
// order.created reads the ticket, looks for the order's marker before and
// after the reservation, writes the reservation with one findAndModify that
// returns the pending event to the relay, which publishes it and clears it
// without reading the ticket again. A replay reads and writes nothing.
func TestCommandsPerEvent(t *testing.T) {
	ctx := testkit.Context(t)
	db, counter := mongokit.Counted(t)
	n := natskit.StartNATS(t)
	log := testkit.Logger(t)
	relay := outbox.NewRelay(db.Collection(store.Collection), events.NewPublisher(n.As(t, "tickets")), log, time.Hour)
	st := store.New(db, relay.Notify)
	go relay.Run(ctx)
	testkit.Eventually(t, 5*time.Second, func() bool { return counter.Take()["find tickets"] > 0 }, "the relay's first sweep")
	created, cancelled := listeners.Handlers(st, log, nil)

	// expect waits for the relay's clears (its last commands), then checks
	// every command since the last call.
	expect := func(what string, want map[string]int) {
		t.Helper()
		got := map[string]int{}
		testkit.Eventually(t, 5*time.Second, func() bool {
			for k, n := range counter.Take() {
				got[k] += n
			}
			return got["update tickets"] >= want["update tickets"]
		}, "%s: the relay did not clear its events", what)
		if !maps.Equal(got, want) {
			t.Fatalf("%s: commands %s, want %s", what, mongokit.Format(got), mongokit.Format(want))
		}
	}
	tk, err := st.Create(ctx, "concert", 2500, seller)
	if err != nil {
		t.Fatal(err)
	}
	expect("sell", map[string]int{"insert tickets": 1, "update tickets": 1})

	order := bson.NewObjectID().Hex()
	if err := created(ctx, createdMsg(order, tk)); err != nil {
		t.Fatal(err)
	}
	expect("order.created", map[string]int{
		"find tickets": 1, "find cancelled_orders": 2, "findAndModify tickets": 1, "update tickets": 1,
	})
	if err := cancelled(ctx, cancelledMsg(order, tk)); err != nil {
		t.Fatal(err)
	}
	expect("order.cancelled", map[string]int{
		"insert cancelled_orders": 1, "find tickets": 1, "findAndModify tickets": 1, "update tickets": 1,
		"update cancelled_orders": 1,
	})
	if err := created(ctx, createdMsg(order, tk)); err != nil {
		t.Fatal(err)
	}
	expect("order.created replayed", map[string]int{"find tickets": 1, "find cancelled_orders": 1})
}
