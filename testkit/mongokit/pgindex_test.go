package mongokit

import (
	"context"
	neturl "net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/testkit"
)

// postgreSQL returns the URL of a fresh PostgreSQL database, dropped when
// the test ends: on the server of FERRETDB_POSTGRESQL_URL, else the
// machine's (127.0.0.1:5432). Without a server the test is skipped.
func postgreSQL(t *testing.T) string {
	t.Helper()
	server := os.Getenv("FERRETDB_POSTGRESQL_URL")
	if server == "" {
		server = "postgres://postgres@127.0.0.1:5432/postgres"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Skipf("no PostgreSQL at %s: %v", server, err)
	}
	name := testkit.RandomName("mongokit_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		_ = conn.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		_ = conn.Close(ctx)
	})
	u, err := neturl.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// The GIN indexes go on _id and on every field FerretDB indexes, once; the
// lookups they serve answer as before.
func TestEnsurePostgreSQLIndexes(t *testing.T) {
	url := postgreSQL(t)
	ctx := testkit.Context(t)
	db, err := StartFerretDB(ctx, FerretDBConfig{PostgreSQLURL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Stop)
	client, err := mongo.Connect(options.Client().ApplyURI(db.URI("shop")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	coll := client.Database("shop").Collection("tickets")
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "orderId", Value: 1}, {Key: "_id", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	ids := make([]bson.ObjectID, 50)
	for i := range ids {
		ids[i] = bson.NewObjectID()
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: ids[i]}, {Key: "orderId", Value: "o" + ids[i].Hex()}}); err != nil {
			t.Fatal(err)
		}
	}

	created, err := EnsurePostgreSQLIndexes(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(created)
	var fields []string
	for _, c := range created {
		fields = append(fields, c[strings.Index(c, "("):])
	}
	if !slices.Equal(fields, []string{"(_id)", "(orderId)"}) {
		t.Fatalf("created %v, want the _id and orderId indexes of shop.tickets", created)
	}
	again, err := EnsurePostgreSQLIndexes(ctx, url)
	if err != nil || len(again) != 0 {
		t.Fatalf("second pass created %v (%v), want none", again, err)
	}
	for _, id := range ids[:5] {
		var doc struct {
			OrderID string `bson:"orderId"`
		}
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil || doc.OrderID != "o"+id.Hex() {
			t.Fatalf("find by _id %s: %+v, %v", id.Hex(), doc, err)
		}
		if n, err := coll.CountDocuments(ctx, bson.D{{Key: "orderId", Value: "o" + id.Hex()}}); err != nil || n != 1 {
			t.Fatalf("count by orderId: %d, %v", n, err)
		}
	}
}
