package testkit

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The kit chooses what runs the tests' dependencies, once per test binary:
// where a Docker engine answers (a laptop, a hosted CI), real containers —
// MongoDB as a single-member replica set, NATS with JetStream, Redis —
// through testcontainers-go; where none answers, the embedded servers
// (FerretDB, an in-process nats-server, the machine's redis-server).
// MONGO_URL and REDIS_URL, when set, win over both. Backend says which ran.

// Images of the containers.
const (
	MongoImage = "mongo:7.0"
	NATSImage  = "nats:2.11"
	RedisImage = "redis:7.2"
)

var (
	dockerOnce sync.Once
	dockerOK   bool
	dockerWhy  string
)

// Docker reports whether a Docker engine answers; the reason when not.
// TESTKIT_CONTAINERS=off forces the embedded servers.
func Docker() (bool, string) {
	dockerOnce.Do(func() {
		if os.Getenv("TESTKIT_CONTAINERS") == "off" {
			dockerWhy = "TESTKIT_CONTAINERS=off"
			return
		}
		defer func() {
			if r := recover(); r != nil { // testcontainers panics on some broken set-ups
				dockerOK, dockerWhy = false, fmt.Sprint(r)
			}
		}()
		provider, err := testcontainers.ProviderDefault.GetProvider()
		if err != nil {
			dockerWhy = err.Error()
			return
		}
		defer provider.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := provider.Health(ctx); err != nil {
			dockerWhy = err.Error()
			return
		}
		dockerOK = true
	})
	return dockerOK, dockerWhy
}

// Backend describes what runs MongoDB, NATS and Redis for these tests.
func Backend() string {
	ok, why := Docker()
	mongoBy, natsBy, redisBy := "embedded FerretDB", "in-process nats-server", "the machine's redis-server"
	if ok {
		mongoBy, natsBy, redisBy = "container "+MongoImage+" (replica set)", "container "+NATSImage, "container "+RedisImage
	}
	if mongoURLFromEnv {
		mongoBy = "MONGO_URL"
	}
	if redisURLFromEnv {
		redisBy = "REDIS_URL"
	}
	s := fmt.Sprintf("MongoDB: %s; NATS: %s; Redis: %s", mongoBy, natsBy, redisBy)
	if !ok {
		s += " (no Docker engine: " + firstLine(why) + ")"
	}
	return s
}

// Whether the caller named the stores (read before Main sets MONGO_URL).
var (
	mongoURLFromEnv = os.Getenv("MONGO_URL") != ""
	redisURLFromEnv = os.Getenv("REDIS_URL") != ""
)

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// startMongoContainer runs MongoDB as a single-member replica set (the
// shape the services run on in Kubernetes) and returns its URI.
func startMongoContainer(ctx context.Context) (string, func(), error) {
	c, err := testcontainers.Run(ctx, MongoImage,
		testcontainers.WithExposedPorts("27017/tcp"),
		testcontainers.WithCmd("--replSet", "rs0", "--bind_ip_all"),
		testcontainers.WithWaitStrategy(wait.ForListeningPort("27017/tcp").WithStartupTimeout(2*time.Minute)))
	if err != nil {
		return "", nil, fmt.Errorf("mongodb container: %w", err)
	}
	stop := func() { _ = testcontainers.TerminateContainer(c) }
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

// StartContainer runs image for one test with port exposed, waiting for
// the log line ready, and returns host:port. Call it only where Docker
// reports an engine.
func StartContainer(t testing.TB, image, port, ready string, cmd ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(port),
		testcontainers.WithWaitStrategy(wait.ForAll(wait.ForLog(ready), wait.ForListeningPort(port))),
	}
	if len(cmd) > 0 {
		opts = append(opts, testcontainers.WithCmd(cmd...))
	}
	c, err := testcontainers.Run(ctx, image, opts...)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("container %s: %v", image, err)
	}
	endpoint, err := c.PortEndpoint(ctx, port, "")
	if err != nil {
		t.Fatal(err)
	}
	return endpoint
}
