package mongokit_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

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

// Through the Front, concurrent updates of one document from a pooled
// client (the driver's default pool, many connections) are atomic as on
// MongoDB: a version-filtered update has exactly one winner per round, no
// $inc or findAndModify increment is lost. Straight on FerretDB 1.24 each
// of these fails (3 winners of 20; lost increments).
func TestConcurrentUpdatesAreAtomic(t *testing.T) {
	const workers, rounds = 32, 10
	update := func(ctx context.Context, c *mongo.Collection, round int) (int64, error) {
		res, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "version", Value: round}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}, {Key: "n", Value: 1}}}})
		if err != nil {
			return 0, err
		}
		return res.ModifiedCount, nil
	}
	inc := func(ctx context.Context, c *mongo.Collection, _ int) (int64, error) {
		res, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
		if err != nil {
			return 0, err
		}
		return res.ModifiedCount, nil
	}
	findAndModify := func(ctx context.Context, c *mongo.Collection, _ int) (int64, error) {
		err := c.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}).Err()
		if err != nil {
			return 0, err
		}
		return 1, nil
	}
	tests := []struct {
		name string
		op   func(context.Context, *mongo.Collection, int) (int64, error)
		// wins is how many of a round's workers may change the document;
		// n is the counter's value after every round.
		wins, n int64
	}{
		{"version-filtered update", update, 1, rounds},
		{"$inc", inc, workers, workers * rounds},
		{"findAndModify", findAndModify, workers, workers * rounds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			coll := mongokit.Mongo(t).Collection("c")
			ctx := testkit.Context(t)
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "version", Value: 0}, {Key: "n", Value: 0}}); err != nil {
				t.Fatal(err)
			}
			for round := range rounds {
				var wins atomic.Int64
				start := make(chan struct{})
				var wg sync.WaitGroup
				for range workers {
					wg.Go(func() {
						<-start
						w, err := tt.op(ctx, coll, round)
						if err != nil {
							t.Error(err)
						}
						wins.Add(w)
					})
				}
				close(start)
				wg.Wait()
				if got := wins.Load(); got != tt.wins {
					t.Fatalf("round %d: %d of %d concurrent updates changed the document, want %d", round, got, workers, tt.wins)
				}
			}
			var doc struct{ N int64 }
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			if doc.N != tt.n {
				t.Fatalf("n = %d after %d rounds of %d workers, want %d: updates were lost", doc.N, rounds, workers, tt.n)
			}
		})
	}
}

// Writes of different documents run at once through the Front, writes that
// may touch any document lock the whole database: mixed, none is lost.
func TestDocumentAndCollectionWritesAreAtomic(t *testing.T) {
	coll := mongokit.Mongo(t).Collection("c")
	ctx := testkit.Context(t)
	const docs, workers, rounds = 4, 32, 5
	for id := range docs {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "doc-" + strconv.Itoa(id)}, {Key: "n", Value: 0}}); err != nil {
			t.Fatal(err)
		}
	}
	id := func(k int) string { return "doc-" + strconv.Itoa(k) }
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			for range rounds {
				var err error
				if w%4 == 3 {
					_, err = coll.UpdateMany(ctx, bson.D{}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
				} else {
					_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id(w % docs)}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
				}
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	// Each document: its own workers' increments plus every UpdateMany's.
	many := workers / 4 * rounds
	for k := range docs {
		own := 0
		for w := range workers {
			if w%4 != 3 && w%docs == k {
				own += rounds
			}
		}
		var doc struct{ N int }
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id(k)}}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if doc.N != own+many {
			t.Errorf("document %d: n = %d, want %d (%d by id, %d by UpdateMany): updates were lost", k, doc.N, own+many, own, many)
		}
	}
}

// An unacknowledged write (moreToCome: no reply expected) leaves the
// connection in step: FerretDB answers it anyway, and the front drops that
// answer instead of passing it off as the reply to the next request.
func TestUnacknowledgedWriteKeepsRepliesInStep(t *testing.T) {
	ctx := testkit.Context(t)
	db := mongokit.Mongo(t)
	client := db.Client()
	unack := client.Database(db.Name(), options.Database().SetWriteConcern(writeconcern.Unacknowledged())).Collection("c")
	acked := db.Collection("c")
	if _, err := acked.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if _, err := unack.UpdateOne(ctx, bson.D{{Key: "_id", Value: "a"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}); err != nil {
			t.Fatal(err)
		}
		var doc struct{ N int }
		if err := unack.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&doc); err != nil {
			t.Fatalf("find after unacknowledged update %d: %v", i, err)
		}
		if doc.N != i {
			t.Fatalf("after %d unacknowledged updates n = %d", i, doc.N)
		}
	}
}
