package outbox_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
)

type doc struct {
	ID            bson.ObjectID `bson:"_id"`
	Title         string        `bson:"title"`
	Version       int64         `bson:"version"`
	outbox.Fields `bson:",inline"`
}

func ticketEvent(t *testing.T, id bson.ObjectID, version int64, title string) outbox.Event {
	t.Helper()
	e, err := outbox.New(events.TicketUpdated, outbox.ID("ticket.updated", id.Hex(), version), version,
		events.TicketUpdatedData{ID: id.Hex(), Version: version, Title: title})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A writer that crashed after its write left events in the document; a new
// relay (as after a restart) publishes them in order and clears them.
func TestRelayPublishesWhatACrashedWriterLeft(t *testing.T) {
	ctx := testkit.Context(t)
	db := mongokit.Mongo(t)
	n := natskit.StartNATS(t)
	coll := db.Collection("tickets")
	rec := natskit.Record(t, n.JS, events.TicketUpdated)

	id := bson.NewObjectID()
	d := doc{ID: id, Title: "a", Version: 0}
	d.Add(testkit.Context(t), ticketEvent(t, id, 0, "a"))
	if _, err := coll.InsertOne(ctx, d); err != nil {
		t.Fatal(err)
	}
	// two more changes, each with its event, by single-document updates
	for v := int64(1); v <= 2; v++ {
		title := string(rune('a' + v))
		upd := outbox.Update(testkit.Context(t), bson.D{
			{Key: "$set", Value: bson.D{{Key: "title", Value: title}}},
			{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}},
		}, ticketEvent(t, id, v, title))
		res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: v - 1}}, upd)
		if err != nil || res.ModifiedCount != 1 {
			t.Fatalf("update v%d: %v %+v", v, err, res)
		}
	}
	var stored doc
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&stored); err != nil {
		t.Fatal(err)
	}
	if stored.OutboxN != 3 || len(stored.Outbox) != 3 {
		t.Fatalf("pending = %d/%d, want 3", stored.OutboxN, len(stored.Outbox))
	}

	relay := outbox.NewRelay(coll, events.NewPublisher(n.JS), testkit.Logger(t), time.Hour)
	if err := relay.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	go relay.Run(ctx) // its first sweep finds the leftovers

	got := rec.WaitFor(t, 3, 5*time.Second)
	for i, m := range got {
		if m.Data.Version != int64(i) {
			t.Fatalf("event %d has version %d: out of order", i, m.Data.Version)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		var after doc
		_ = coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&after)
		return after.OutboxN == 0 && len(after.Outbox) == 0
	}, "outbox not cleared")

	// publishing again (a second relay, a replay) adds nothing: same ids dedupe
	if err := relay.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if all := rec.Settled(t, coll); len(all) != 3 {
		t.Fatalf("%d events after flush, want 3", len(all))
	}
}

// Notify publishes a document's events at once, in seq order, each
// removed once confirmed. Given the document's pending events (an
// insert's, or those an update returned), the relay does not read the
// document: its only commands are the clears.
func TestRelayNotifyPublishesPromptly(t *testing.T) {
	tests := []struct {
		name string
		// write stores a document with the events of versions 0 and 1 and
		// notifies the relay; want are the commands of the write and the relay.
		write func(t *testing.T, coll *mongo.Collection, relay *outbox.Relay, id bson.ObjectID)
		want  map[string]int
	}{
		{"reading the document", func(t *testing.T, coll *mongo.Collection, relay *outbox.Relay, id bson.ObjectID) {
			insert(t, coll, id, ticketEvent(t, id, 1, "y"), ticketEvent(t, id, 0, "x"))
			relay.Notify(id)
		}, map[string]int{"insert tickets": 1, "find tickets": 1, "update tickets": 2}},
		{"with the inserted events", func(t *testing.T, coll *mongo.Collection, relay *outbox.Relay, id bson.ObjectID) {
			evts := []outbox.Event{ticketEvent(t, id, 1, "y"), ticketEvent(t, id, 0, "x")}
			insert(t, coll, id, evts...)
			relay.Notify(id, evts...)
		}, map[string]int{"insert tickets": 1, "update tickets": 2}},
		{"with the events an update returned", func(t *testing.T, coll *mongo.Collection, relay *outbox.Relay, id bson.ObjectID) {
			insert(t, coll, id, ticketEvent(t, id, 0, "x")) // its event still pending
			var written doc
			err := coll.FindOneAndUpdate(testkit.Context(t), bson.D{{Key: "_id", Value: id}, {Key: "version", Value: 0}},
				outbox.Update(testkit.Context(t), bson.D{{Key: "$set", Value: bson.D{{Key: "title", Value: "y"}, {Key: "version", Value: 1}}}},
					ticketEvent(t, id, 1, "y")),
				options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&written)
			if err != nil {
				t.Fatal(err)
			}
			relay.Notify(id, written.Events()...)
		}, map[string]int{"insert tickets": 1, "findAndModify tickets": 1, "update tickets": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testkit.Context(t)
			db, counter := mongokit.Counted(t)
			n := natskit.StartNATS(t)
			coll := db.Collection("tickets")
			rec := natskit.Record(t, n.JS, events.TicketUpdated)
			relay := outbox.NewRelay(coll, events.NewPublisher(n.JS), testkit.Logger(t), time.Hour)
			go relay.Run(ctx)
			testkit.Eventually(t, 5*time.Second, func() bool { return counter.Take()["find tickets"] > 0 },
				"the relay's first sweep")

			id := bson.NewObjectID()
			tt.write(t, coll, relay, id)
			got := rec.WaitFor(t, 2, 5*time.Second)
			for v, e := range got {
				if e.Data.ID != id.Hex() || e.ID != outbox.ID("ticket.updated", id.Hex(), v) {
					t.Fatalf("event %d: got %+v, want version %d (in seq order)", v, e, v)
				}
			}
			// Each publish is confirmed, then removed from the document: the
			// relay's last commands.
			cmds := map[string]int{}
			testkit.Eventually(t, 5*time.Second, func() bool {
				for k, n := range counter.Take() {
					cmds[k] += n
				}
				return cmds["update tickets"] >= 2
			}, "the published events are not cleared")
			if !maps.Equal(cmds, tt.want) {
				t.Fatalf("commands %s, want %s", mongokit.Format(cmds), mongokit.Format(tt.want))
			}
			var left doc
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&left); err != nil || left.OutboxN != 0 || len(left.Outbox) != 0 {
				t.Fatalf("left in the document: %+v, %v", left, err)
			}
		})
	}
}

func insert(t *testing.T, coll *mongo.Collection, id bson.ObjectID, evts ...outbox.Event) {
	t.Helper()
	d := doc{ID: id, Title: "x"}
	d.Add(testkit.Context(t), evts...)
	if _, err := coll.InsertOne(testkit.Context(t), d); err != nil {
		t.Fatal(err)
	}
}

// While NATS is down the events stay in the document; once it is back the
// relay delivers them.
func TestRelayRetriesUntilConfirmed(t *testing.T) {
	ctx := testkit.Context(t)
	db := mongokit.Mongo(t)
	n := natskit.StartNATS(t)
	coll := db.Collection("tickets")

	id := bson.NewObjectID()
	d := doc{ID: id}
	d.Add(testkit.Context(t), ticketEvent(t, id, 0, "x"))
	if _, err := coll.InsertOne(ctx, d); err != nil {
		t.Fatal(err)
	}
	// a publisher whose stream does not exist cannot get a confirmation
	if err := n.JS.DeleteStream(ctx, events.StreamName); err != nil {
		t.Fatal(err)
	}
	relay := outbox.NewRelay(coll, events.NewPublisher(n.JS), testkit.Logger(t), 50*time.Millisecond)
	if err := relay.Flush(ctx); err == nil {
		t.Fatal("flush succeeded without a stream to confirm it")
	}
	var still doc
	_ = coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&still)
	if still.OutboxN != 1 {
		t.Fatalf("event dropped after failed publish: pending %d", still.OutboxN)
	}
	if err := events.EnsureStream(context.Background(), n.JS, 1); err != nil {
		t.Fatal(err)
	}
	rec := natskit.Record(t, n.JS, events.TicketUpdated)
	go relay.Run(ctx)
	rec.WaitFor(t, 1, 5*time.Second)
}

// After its first sweep, which takes everything, a relay's periodic sweep
// publishes only events stored at least one sweep interval before: younger
// ones are in flight from their writer's Notify, and sweeping them too
// published and cleared each one twice under load.
func TestSweepLeavesYoungEventsToNotify(t *testing.T) {
	ctx := testkit.Context(t)
	db := mongokit.Mongo(t)
	n := natskit.StartNATS(t)
	coll := db.Collection("tickets")
	rec := natskit.Record(t, n.JS, events.TicketUpdated)
	published := func(id bson.ObjectID) bool {
		for _, m := range rec.All() {
			if m.Data.ID == id.Hex() {
				return true
			}
		}
		return false
	}
	at := func(t *testing.T, id bson.ObjectID, stored time.Time) outbox.Event {
		e := ticketEvent(t, id, 0, "x")
		e.Entry.At = stored
		return e
	}

	// Left by an earlier run a moment ago: the first sweep takes it.
	left := bson.NewObjectID()
	insert(t, coll, left, at(t, left, time.Now()))
	relay := outbox.NewRelay(coll, events.NewPublisher(n.JS), testkit.Logger(t), 50*time.Millisecond)
	go relay.Run(ctx)
	testkit.Eventually(t, 5*time.Second, func() bool { return published(left) }, "the first sweep left the leftover")

	// Written now (its Notify lost, say), then one written long ago: the
	// sweep that publishes the old one read the young one with it, and left
	// it.
	young, old := bson.NewObjectID(), bson.NewObjectID()
	insert(t, coll, young, at(t, young, time.Now().Add(time.Hour)))
	insert(t, coll, old, at(t, old, time.Now().Add(-time.Hour)))
	testkit.Eventually(t, 5*time.Second, func() bool { return published(old) }, "the sweep left an old event")
	var d doc
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: young}}).Decode(&d); err != nil || d.OutboxN != 1 || published(young) {
		t.Fatalf("a periodic sweep took a young event: pending %d (%v), published %t", d.OutboxN, err, published(young))
	}
	// Its writer's Notify publishes it; and a Flush (shutdown) takes any.
	relay.Notify(young)
	testkit.Eventually(t, 5*time.Second, func() bool { return published(young) }, "Notify did not publish")
	stale := bson.NewObjectID()
	insert(t, coll, stale, at(t, stale, time.Now().Add(time.Hour)))
	if err := relay.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return published(stale) }, "Flush left a young event")
}

// A sweep publishes the documents of different workers at once: each of
// two documents' publishes waits until the other's has begun, which a
// sweep that publishes one document after another never lets happen.
func TestSweepPublishesDocumentsAtOnce(t *testing.T) {
	ctx := testkit.Context(t)
	db := mongokit.Mongo(t)
	n := natskit.StartNATS(t)
	coll := db.Collection("tickets")
	rec := natskit.Record(t, n.JS, events.TicketUpdated)
	a, b := bson.NewObjectID(), bson.NewObjectID()
	for outbox.WorkerOf(a) == outbox.WorkerOf(b) {
		b = bson.NewObjectID()
	}
	insert(t, coll, a, ticketEvent(t, a, 0, "a"))
	insert(t, coll, b, ticketEvent(t, b, 0, "b"))

	relay := outbox.NewRelay(coll, events.NewPublisher(n.JS), testkit.Logger(t), time.Hour)
	begun := map[bson.ObjectID]chan struct{}{a: make(chan struct{}), b: make(chan struct{})}
	other := map[bson.ObjectID]bson.ObjectID{a: b, b: a}
	waited := make(chan error, 2)
	outbox.SetBeforePublish(relay, func(docID any) {
		id := docID.(bson.ObjectID)
		close(begun[id])
		select {
		case <-begun[other[id]]:
			waited <- nil
		case <-time.After(10 * time.Second):
			waited <- fmt.Errorf("%s was published alone: %s had not begun 10 s later", id.Hex(), other[id].Hex())
		}
	})
	if err := relay.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-waited; err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.WaitFor(t, 2, 5*time.Second); len(got) != 2 {
		t.Fatalf("%d events published, want 2", len(got))
	}
}
