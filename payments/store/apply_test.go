package store_test

import (
	"maps"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/payments/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
)

// ApplyStatus applies only the next version and returns the replica as it
// stands: the update that applies returns it (one findAndModify), an event
// that does not apply reads it.
func TestApplyStatus(t *testing.T) {
	ctx := testkit.Context(t)
	db, counter := mongokit.Counted(t)
	st := store.New(db)
	id := bson.NewObjectID()
	if _, err := st.InsertOrder(ctx, store.Order{ID: id, UserID: "u", Status: events.StatusCreated, Price: 100,
		ExpiresAt: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	counter.Take()
	for _, tt := range []struct {
		name    string
		id      bson.ObjectID
		version int64
		status  string
		want    mongodb.Outcome
		stored  store.Order // ID, Status and Version, when any
		cmds    map[string]int
	}{
		{"next", id, 1, events.StatusComplete, mongodb.Applied,
			store.Order{ID: id, Status: events.StatusComplete, Version: 1}, map[string]int{"findAndModify orders": 1}},
		{"repeat", id, 1, events.StatusComplete, mongodb.Stale,
			store.Order{ID: id, Status: events.StatusComplete, Version: 1}, map[string]int{"findAndModify orders": 1, "find orders": 1}},
		{"gap", id, 3, events.StatusCancelled, mongodb.Gap,
			store.Order{ID: id, Status: events.StatusComplete, Version: 1}, map[string]int{"findAndModify orders": 1, "find orders": 1}},
		{"unknown order", bson.NewObjectID(), 1, events.StatusCancelled, mongodb.Missing,
			store.Order{}, map[string]int{"findAndModify orders": 1, "find orders": 1}},
	} {
		res, o, err := st.ApplyStatus(ctx, tt.id, tt.version, tt.status)
		if err != nil || res != tt.want || o.ID != tt.stored.ID || o.Status != tt.stored.Status || o.Version != tt.stored.Version {
			t.Errorf("%s: %s %+v %v, want %s %+v", tt.name, res, o, err, tt.want, tt.stored)
		}
		if o.ID == id && o.UserID != "u" {
			t.Errorf("%s: replica %+v lacks its other fields", tt.name, o)
		}
		if cmds := counter.Take(); !maps.Equal(cmds, tt.cmds) {
			t.Errorf("%s: commands %s, want %s", tt.name, mongokit.Format(cmds), mongokit.Format(tt.cmds))
		}
	}
}
