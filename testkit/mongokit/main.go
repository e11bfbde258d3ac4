package mongokit

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"ticketing.dev/testkit"
)

// Main runs a package's tests against one store for the whole test binary
// (unless MONGO_URL already names one): MongoDB in a container where a Docker
// engine answers, else an embedded FerretDB. It is faster than a server per
// test, and Mongo still gives every test a database of its own.
// Use it as: func TestMain(m *testing.M) { mongokit.Main(m) }
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main without the exit, for a TestMain that sets up more.
func Run(m *testing.M) int {
	if os.Getenv("MONGO_URL") != "" {
		return m.Run()
	}
	uri, stop, err := startStore()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the tests' store:", err)
		return 1
	}
	defer stop()
	os.Setenv("MONGO_URL", uri)
	defer os.Unsetenv("MONGO_URL")
	return m.Run()
}

// startStore starts the store Main shares: MongoDB in a container where a
// Docker engine answers, else an embedded FerretDB in a temporary directory.
func startStore() (string, func(), error) {
	if ok, _ := testkit.Docker(); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		return startMongoContainer(ctx)
	}
	dir, err := os.MkdirTemp("", "ferretdb-test-")
	if err != nil {
		return "", nil, err
	}
	db, err := StartFerretDB(context.Background(), FerretDBConfig{SQLiteDir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return db.URI(""), func() { db.Stop(); os.RemoveAll(dir) }, nil
}
