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

// StartContainer runs image for one test with port exposed, waiting for
// the log line ready, and returns host:port. Call it only where Docker
// reports an engine.
func StartContainer(t testing.TB, image, port, ready string, cmd ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(port),
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute, wait.ForLog(ready), wait.ForListeningPort(port)),
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
