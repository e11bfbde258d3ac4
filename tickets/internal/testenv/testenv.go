// Package testenv wires the service's real dependencies for tests: a fresh
// MongoDB-wire store, an embedded JetStream and the outbox relay between them.
package testenv

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
	"ticketing.dev/tickets/store"
)

// Env is one test's world.
type Env struct {
	DB    *mongo.Database
	NATS  *natskit.NATS
	Store *store.Store
	Relay *outbox.Relay
	Log   *slog.Logger
}

// Start builds an Env whose relay runs until the test ends. Besides after
// every write, the relay sweeps for pending events every sweep interval.
func Start(t testing.TB, sweep time.Duration) *Env {
	t.Helper()
	db := mongokit.Mongo(t)
	n := natskit.StartNATS(t)
	log := testkit.Logger(t)
	relay := outbox.NewRelay(db.Collection(store.Collection), events.NewPublisher(n.As(t, "tickets")), log, sweep)
	st := store.New(db, relay.Notify)
	ctx := context.Background()
	if err := st.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := relay.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	// Registered after the store and NATS, so the relay stops before they do.
	t.Cleanup(relay.Start())
	return &Env{DB: db, NATS: n, Store: st, Relay: relay, Log: log}
}

// Outbox is the collection whose documents hold the relay's pending events
// (the tickets): what Recorder.Settled must see empty.
func (e *Env) Outbox() *mongo.Collection { return e.DB.Collection(store.Collection) }

// Handled waits until each named durable consumer has answered every event
// the stream holds on its subject: the last one delivered, none in hand.
// The consumer's pending count alone is not enough: JetStream acknowledges
// a publish before it tells the consumers, so right after Publish returns a
// consumer may still report nothing pending.
func (e *Env) Handled(t testing.TB, durables ...string) {
	t.Helper()
	natskit.Handled(t, e.NATS.JS, durables...)
}
