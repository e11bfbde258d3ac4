// Package testenv wires the service's real dependencies for tests: a fresh
// MongoDB-wire store, an embedded JetStream and the outbox relay between them.
package testenv

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
	"ticketing.dev/tickets/store"
)

// Env is one test's world.
type Env struct {
	DB    *mongo.Database
	NATS  *testkit.NATS
	Store *store.Store
	Relay *outbox.Relay
	Log   *slog.Logger
}

// ferretStart serialises the start of embedded FerretDBs: ferretdb.New
// writes a package-level variable, which the race detector reports when
// parallel tests start theirs at once.
var ferretStart sync.Mutex

// Start builds an Env whose relay runs until the test ends. Besides after
// every write, the relay sweeps for pending events every sweep interval.
func Start(t testing.TB, sweep time.Duration) *Env {
	t.Helper()
	ferretStart.Lock()
	db := testkit.Mongo(t)
	ferretStart.Unlock()
	n := testkit.StartNATS(t)
	log := testkit.Logger(t)
	relay := outbox.NewRelay(db.Collection(store.Collection), events.NewPublisher(n.JS), log, sweep)
	st := store.New(db)
	ctx := context.Background()
	if err := st.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := relay.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	// Registered after the store and NATS, so the relay stops before they do.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.RunRelay(rctx, relay, sweep, log)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &Env{DB: db, NATS: n, Store: st, Relay: relay, Log: log}
}
