package testkit_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/testkit"
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
