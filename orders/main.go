// Command orders serves /api/orders: users order tickets, which are held
// for a while, then paid for or given back.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"ticketing.dev/common/config"
	"ticketing.dev/common/events"
	"ticketing.dev/common/logging"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/server"
	"ticketing.dev/common/session"
	"ticketing.dev/common/sweep"
	"ticketing.dev/common/tracing"
	"ticketing.dev/orders/httpapi"
	"ticketing.dev/orders/listeners"
	"ticketing.dev/orders/reconcile"
	"ticketing.dev/orders/store"
)

const service = "orders"

func main() {
	log := logging.New(service)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, log)
	stop()
	var cfgErr configError
	switch {
	case errors.As(err, &cfgErr):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	case err != nil:
		log.Error("orders stopped", "err", err)
		os.Exit(1)
	}
}

type configError struct{ error }

type settings struct {
	port        int
	mongoURI    string
	natsURL     string
	jwtKey      string
	window      time.Duration
	grace       time.Duration
	sweep       time.Duration
	outboxSweep time.Duration
}

func readConfig(r *config.Reader) (settings, error) {
	s := settings{
		port:        r.Int("PORT", 3000, 1, 65535),
		mongoURI:    r.Required("MONGO_URI"),
		natsURL:     r.Required("NATS_URL"),
		jwtKey:      r.Secret("JWT_KEY"),
		window:      r.Duration("ORDER_EXPIRATION_WINDOW", 15*time.Minute),
		grace:       nonNegativeDuration(r, "ORDER_EXPIRATION_GRACE", time.Minute),
		sweep:       r.Duration("ORDER_SWEEP", 5*time.Second),
		outboxSweep: r.Duration("OUTBOX_SWEEP", time.Second),
	}
	if err := r.Err(); err != nil {
		return s, configError{err}
	}
	return s, nil
}

// nonNegativeDuration reads a Go duration that may be zero ("0s" turns the
// grace off), or def when unset.
func nonNegativeDuration(r *config.Reader, name string, def time.Duration) time.Duration {
	v := r.String(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.Problem("%s must be a duration of zero or more such as 1m or 0s, got %q", name, v)
		return def
	}
	return d
}

func run(ctx context.Context, log *slog.Logger) error {
	cfgReader := config.FromEnv()
	cfg, err := readConfig(cfgReader)
	if err != nil {
		return err
	}
	log.Info("starting", "config", cfgReader.Describe())

	stopTracing, err := tracing.Setup(ctx, service, log)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer stopTracing()

	mongoClient, db, err := mongodb.Connect(ctx, cfg.mongoURI, service)
	if err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = mongoClient.Disconnect(dctx)
	}()

	nc, js, err := events.Connect(ctx, cfg.natsURL, service, log)
	if err != nil {
		return err
	}
	defer nc.Close()

	ordersColl := db.Collection("orders")
	relay := outbox.NewRelay(ordersColl, events.NewPublisher(js), log, cfg.outboxSweep)
	orders := store.NewOrders(ordersColl, relay.Notify)
	tickets := store.NewTickets(db.Collection("tickets"))
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = errors.Join(relay.EnsureIndex(ictx), orders.EnsureIndexes(ictx))
	cancel()
	if err != nil {
		return fmt.Errorf("indexes: %w", err)
	}

	// The relay outlives the HTTP server and the listeners: once they have
	// stopped it publishes what their last changes left pending.
	stopRelay := relay.Start()
	defer stopRelay()

	ls, err := listeners.Start(ctx, js, listeners.Deps{Log: log, Orders: orders, Tickets: tickets, Grace: cfg.grace})
	if err != nil {
		return err
	}
	defer ls.Stop()

	// Expires the overdue orders that no expiration.complete did (Redis lost
	// its jobs, expiration down, an event dead-lettered). Stopped before the
	// relay (defers run last first), which then publishes its last changes.
	stopSweep := sweep.New("overdue-orders", cfg.sweep, log,
		reconcile.Overdue{Log: log, Orders: orders, Grace: cfg.grace}.Pass).Start()
	defer stopSweep()

	handler := httpapi.New(httpapi.Deps{
		Log:     log,
		Keys:    session.NewKeys(cfg.jwtKey),
		Orders:  orders,
		Tickets: tickets,
		Window:  cfg.window,
		Checks:  map[string]server.Check{"mongodb": mongodb.Ping(mongoClient), "nats": events.Ready(nc)},
	})
	return server.Run(ctx, log, ":"+strconv.Itoa(cfg.port), handler)
}
