// The tickets service sells, lists, shows and edits tickets, and reserves
// and releases them as orders are created and cancelled.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"ticketing.dev/common/config"
	"ticketing.dev/common/events"
	"ticketing.dev/common/logging"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/server"
	"ticketing.dev/common/session"
	"ticketing.dev/common/tracing"
	"ticketing.dev/tickets/httpapi"
	"ticketing.dev/tickets/listeners"
	"ticketing.dev/tickets/reconcile"
	"ticketing.dev/tickets/store"
)

const service = "tickets"

func main() {
	log := logging.New(service)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("tickets stopped", "err", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg := config.FromEnv()
	port := cfg.Int("PORT", 3000, 1, 65535)
	mongoURI := cfg.Required("MONGO_URI")
	natsURL := cfg.Required("NATS_URL")
	jwtKey := cfg.Secret("JWT_KEY")
	cfg.String("LOG_LEVEL", "info") // read by logging.New; listed for the start-up line
	outboxSweep := cfg.Duration("OUTBOX_SWEEP", time.Second)
	ticketsSweep := cfg.Duration("TICKETS_SWEEP", 5*time.Second)
	if err := cfg.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return err
	}
	log.Info("starting", "config", cfg.Describe())

	stopTracing, err := tracing.Setup(ctx, service, log)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer stopTracing()

	client, db, err := mongodb.Connect(ctx, mongoURI, service)
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()

	nc, js, err := events.Connect(ctx, natsURL, service, log)
	if err != nil {
		return err
	}
	defer nc.Close()

	relay := outbox.NewRelay(db.Collection(store.Collection), events.NewPublisher(js), log, outboxSweep)
	st := store.New(db, relay.Notify)
	if err := st.EnsureIndexes(ctx); err != nil {
		return err
	}
	if err := relay.EnsureIndex(ctx); err != nil {
		return fmt.Errorf("outbox index: %w", err)
	}
	// The relay outlives the HTTP server and the listeners: once they have
	// stopped it publishes what their last changes left pending.
	stopRelay := relay.Start()
	defer stopRelay()

	ls, err := listeners.Start(ctx, js, log, st)
	if err != nil {
		return err
	}
	defer ls.Stop()

	// The reconciliation sweep repairs what a handler left halfway; it
	// stops before the listeners and the relay (deferred after them).
	stopSweep := reconcile.New(st, log, reconcile.Options{}).Sweeper(ticketsSweep).Start()
	defer stopSweep()

	handler := httpapi.New(httpapi.Deps{
		Log:   log,
		Keys:  session.NewKeys(jwtKey),
		Store: st,
		Checks: map[string]server.Check{
			"mongo": mongodb.Ping(client),
			"nats":  events.Ready(nc),
		},
	})
	return server.Run(ctx, log, fmt.Sprintf(":%d", port), handler)
}
