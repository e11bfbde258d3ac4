package mongokit_test

import (
	"maps"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
)

// A Counter counts its database's commands by name and collection, reads
// and writes alike (a cursor's getMore included), and nothing of another
// database; Take starts afresh.
func TestCounted(t *testing.T) {
	db, counter := mongokit.Counted(t)
	ctx := testkit.Context(t)
	c := db.Collection("tickets")
	if _, err := c.InsertMany(ctx, []any{bson.D{{Key: "n", Value: 1}}, bson.D{{Key: "n", Value: 2}}, bson.D{{Key: "n", Value: 3}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateOne(ctx, bson.D{{Key: "n", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 4}}}}); err != nil {
		t.Fatal(err)
	}
	cur, err := c.Find(ctx, bson.D{}, options.Find().SetBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	var all []bson.M
	if err := cur.All(ctx, &all); err != nil || len(all) != 3 {
		t.Fatalf("find: %d documents, %v", len(all), err)
	}
	if err := db.Client().Database("other").Collection("x").FindOne(ctx, bson.D{}).Err(); err == nil {
		t.Fatal("found a document in an empty database")
	}
	want := map[string]int{"insert tickets": 1, "update tickets": 1, "find tickets": 1, "getMore tickets": 1}
	if got := counter.Take(); !maps.Equal(got, want) {
		t.Fatalf("commands %s, want %s", mongokit.Format(got), mongokit.Format(want))
	}
	if got := counter.Take(); len(got) != 0 {
		t.Fatalf("after Take: %s, want none", mongokit.Format(got))
	}
}
