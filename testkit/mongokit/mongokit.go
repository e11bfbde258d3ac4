// Package mongokit gives tests a MongoDB-wire store: MONGO_URL when set,
// else MongoDB in a container where a Docker engine answers, else an
// embedded FerretDB. It is apart from testkit so that a service without a
// MongoDB store (expiration) does not depend on FerretDB.
package mongokit

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/testkit"
)

// MongoURI returns the URI of a store for this test: MONGO_URL when set
// (a real MongoDB, or the one Main started), otherwise one started for this
// test alone: MongoDB in a container where a Docker engine answers, else an
// embedded FerretDB (SQLite backend in a temporary directory) behind its
// Front, which keeps every single-document update atomic however many
// connections a client opens. Every URI takes the driver's normal pool.
func MongoURI(t testing.TB) string {
	t.Helper()
	if uri := os.Getenv("MONGO_URL"); uri != "" {
		return uri
	}
	if ok, _ := testkit.Docker(); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		uri, stop, err := startMongoContainer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		return uri
	}
	db, err := StartFerretDB(context.Background(), FerretDBConfig{SQLiteDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Stop)
	return db.URI("")
}

// Mongo returns a fresh database, dropped when the test ends.
func Mongo(t testing.TB) *mongo.Database {
	t.Helper()
	return freshDB(t, options.Client().ApplyURI(MongoURI(t)))
}

// freshDB connects with opts and returns a new database of that client;
// the database is dropped and the client disconnected when the test ends.
func freshDB(t testing.TB, opts *options.ClientOptions) *mongo.Database {
	t.Helper()
	client, err := mongo.Connect(opts.SetTimeout(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	db := client.Database(testkit.RandomName("test_"))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = db.Drop(ctx)
		_ = client.Disconnect(ctx)
	})
	return db
}

// startMongoContainer runs MongoDB as a single-member replica set (the
// shape the services run on in Kubernetes) and returns its URI.
func startMongoContainer(ctx context.Context) (string, func(), error) {
	c, err := testcontainers.Run(ctx, testkit.MongoImage,
		testcontainers.WithExposedPorts("27017/tcp"),
		testcontainers.WithCmd("--replSet", "rs0", "--bind_ip_all"),
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute, wait.ForListeningPort("27017/tcp")))
	stop := func() { _ = testcontainers.TerminateContainer(c) } // Run returns the container even when it fails
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("mongodb container: %w", err)
	}
	endpoint, err := c.PortEndpoint(ctx, "27017/tcp", "")
	if err != nil {
		stop()
		return "", nil, err
	}
	uri := "mongodb://" + endpoint + "/?directConnection=true"
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		stop()
		return "", nil, err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	admin := client.Database("admin")
	err = admin.RunCommand(ctx, bson.D{{Key: "replSetInitiate", Value: bson.D{
		{Key: "_id", Value: "rs0"},
		{Key: "members", Value: bson.A{bson.D{{Key: "_id", Value: 0}, {Key: "host", Value: "localhost:27017"}}}},
	}}}).Err()
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("replSetInitiate: %w", err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var hello struct {
			Primary bool `bson:"isWritablePrimary"`
		}
		if err := admin.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err == nil && hello.Primary {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("mongodb replica set has no primary after a minute")
		}
	}
	return uri, stop, nil
}
