package mongokit_test

import (
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
)

// Parallel tests each get their own store without racing (run with -race).
func TestMongoInParallel(t *testing.T) {
	for _, name := range []string{"a", "b", "c", "d"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := mongokit.Mongo(t)
			ctx := testkit.Context(t)
			if _, err := db.Collection("c").InsertOne(ctx, bson.D{{Key: "name", Value: name}}); err != nil {
				t.Fatal(err)
			}
			n, err := db.Collection("c").CountDocuments(ctx, bson.D{})
			if err != nil || n != 1 {
				t.Fatalf("count %d, %v: databases are not fresh", n, err)
			}
		})
	}
}

// With the serial URI, concurrent version-filtered updates of one document
// have exactly one winner, as on MongoDB.
func TestConcurrentUpdatesAreAtomic(t *testing.T) {
	db := mongokit.Mongo(t)
	ctx := testkit.Context(t)
	coll := db.Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "version", Value: 0}, {Key: "n", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	const workers = 20
	wins := make(chan int64, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "version", Value: 0}},
				bson.D{{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}, {Key: "n", Value: 1}}}})
			if err != nil {
				t.Error(err)
				return
			}
			wins <- res.ModifiedCount
		})
	}
	wg.Wait()
	close(wins)
	var total int64
	for w := range wins {
		total += w
	}
	if total != 1 {
		t.Fatalf("%d winners of one version-filtered update, want 1", total)
	}
}
