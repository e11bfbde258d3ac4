package testkit_test

import (
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/testkit"
)

// Parallel tests each get their own store without racing (run with -race).
func TestMongoInParallel(t *testing.T) {
	for _, name := range []string{"a", "b", "c", "d"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := testkit.Mongo(t)
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

func TestRedisAndStripeMockStart(t *testing.T) {
	if url := testkit.RedisURL(t); url == "" {
		t.Fatal("no redis url")
	}
	if url := testkit.StripeMockURL(t); url == "" {
		t.Fatal("no stripe-mock url")
	}
}

// With the serial URI, concurrent version-filtered updates of one document
// have exactly one winner, as on MongoDB.
func TestConcurrentUpdatesAreAtomic(t *testing.T) {
	db := testkit.Mongo(t)
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

// TestBackend says in the test output what runs the dependencies here
// (`make test` prints it): containers where a Docker engine answers, the
// embedded servers otherwise.
func TestBackend(t *testing.T) {
	t.Logf("testkit: %s", testkit.Backend())
}
