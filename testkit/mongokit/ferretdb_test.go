package mongokit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// backends are the FerretDB backends to exercise: SQLite always,
// PostgreSQL when FERRETDB_POSTGRESQL_URL names a database.
func backends(tb testing.TB) map[string]FerretDBConfig {
	b := map[string]FerretDBConfig{"sqlite": {SQLiteDir: tb.TempDir(), Log: quietLog()}}
	if url := os.Getenv("FERRETDB_POSTGRESQL_URL"); url != "" {
		b["postgresql"] = FerretDBConfig{PostgreSQLURL: url, Log: quietLog()}
	}
	return b
}

func connect(tb testing.TB, cfg FerretDBConfig) *mongo.Collection {
	tb.Helper()
	db, err := StartFerretDB(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "bench_" + hex.EncodeToString(b)
	client, err := mongo.Connect(options.Client().ApplyURI(db.URI(name)).SetTimeout(30 * time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		_ = client.Database(name).Drop(ctx)
		_ = client.Disconnect(ctx)
		db.Stop()
	})
	return client.Database(name).Collection("docs")
}

func TestFerretDBKeepsDataAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	for run := range 2 {
		db, err := StartFerretDB(ctx, FerretDBConfig{SQLiteDir: dir, Log: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		client, err := mongo.Connect(options.Client().ApplyURI(db.URI("keep")))
		if err != nil {
			t.Fatal(err)
		}
		coll := client.Database("keep").Collection("docs")
		if run == 0 {
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}}); err != nil {
				t.Fatal(err)
			}
		} else if n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: "a"}}); err != nil || n != 1 {
			t.Fatalf("after a restart: %d documents, %v", n, err)
		}
		_ = client.Disconnect(ctx)
		db.Stop()
	}
}

// BenchmarkFerretDB measures what the services do most against each
// backend, with 1,000 documents in the collection: a versioned update by
// _id (the store's optimistic-concurrency write), a find by _id, an insert.
//
//	FERRETDB_POSTGRESQL_URL=postgres://postgres@127.0.0.1:5432/ticketing \
//	  go test -run '^$' -bench FerretDB ./testkit/mongokit/
func BenchmarkFerretDB(b *testing.B) {
	for name, cfg := range backends(b) {
		b.Run(name, func(b *testing.B) {
			coll := connect(b, cfg)
			ctx := context.Background()
			const docs = 1000
			ids := make([]bson.ObjectID, docs)
			batch := make([]any, docs)
			for i := range ids {
				ids[i] = bson.NewObjectID()
				batch[i] = bson.D{{Key: "_id", Value: ids[i]}, {Key: "version", Value: int64(0)}, {Key: "title", Value: "t"}}
			}
			if _, err := coll.InsertMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
			versions := make([]int64, docs)
			b.Run("update-by-id-version", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					k := i % docs
					res, err := coll.UpdateOne(ctx,
						bson.D{{Key: "_id", Value: ids[k]}, {Key: "version", Value: versions[k]}},
						bson.D{{Key: "$set", Value: bson.D{{Key: "title", Value: "u"}}}, {Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}}})
					if err != nil || res.ModifiedCount != 1 {
						b.Fatalf("update: %v %+v", err, res)
					}
					versions[k]++
				}
			})
			b.Run("find-by-id", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: ids[i%docs]}}).Err(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("insert", func(b *testing.B) {
				for b.Loop() {
					if _, err := coll.InsertOne(ctx, bson.D{{Key: "version", Value: int64(0)}, {Key: "title", Value: "n"}}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
