// Command payments serves POST /api/payments: it charges an order with Stripe
// exactly once, keeps a replica of orders from events, publishes
// payment.created through an outbox and refunds payments of cancelled orders.
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
	"ticketing.dev/common/sweep"
	"ticketing.dev/common/tracing"
	"ticketing.dev/payments/checkout"
	"ticketing.dev/payments/httpapi"
	"ticketing.dev/payments/listeners"
	"ticketing.dev/payments/store"
	"ticketing.dev/payments/stripepay"
)

const service = "payments"

func main() {
	log := logging.New(service)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, log)
	stop()
	if err != nil {
		log.Error("payments stopped", "err", err)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type settings struct {
	port          int
	mongoURI      string
	natsURL       string
	jwtKey        string
	stripeKey     string
	stripeBase    string
	outboxSweep   time.Duration
	paymentsSweep time.Duration
	stripeTimeout time.Duration
}

func readConfig() (settings, *config.Reader) {
	r := config.FromEnv()
	s := settings{
		port:          r.Int("PORT", 3000, 1, 65535),
		mongoURI:      r.Required("MONGO_URI"),
		natsURL:       r.Required("NATS_URL"),
		jwtKey:        r.Secret("JWT_KEY"),
		stripeKey:     r.Secret("STRIPE_KEY"),
		stripeBase:    r.String("STRIPE_API_BASE", ""),
		outboxSweep:   r.Duration("OUTBOX_SWEEP", time.Second),
		paymentsSweep: r.Duration("PAYMENTS_SWEEP", 5*time.Second),
		stripeTimeout: r.Duration("STRIPE_TIMEOUT", 10*time.Second),
	}
	return s, r
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, r := readConfig()
	if err := r.Err(); err != nil {
		return err
	}
	log.Info("starting", "config", r.Describe())

	stopTracing, err := tracing.Setup(ctx, service, log)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer stopTracing()

	client, db, err := mongodb.Connect(ctx, cfg.mongoURI, service)
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	st := store.New(db)
	if err := st.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("indexes: %w", err)
	}

	nc, js, err := events.Connect(ctx, cfg.natsURL, service, log)
	if err != nil {
		return err
	}
	defer nc.Close()

	relay := outbox.NewRelay(st.Payments(), events.NewPublisher(js), log, cfg.outboxSweep)
	if err := relay.EnsureIndex(ctx); err != nil {
		return fmt.Errorf("outbox index: %w", err)
	}
	// The relay outlives the HTTP server and the listeners (deferred later,
	// so stopped first) and publishes what their last changes left pending.
	stopRelay := relay.Start()
	defer stopRelay()

	stripeClient := stripepay.New(stripepay.Config{
		Key: cfg.stripeKey, BaseURL: cfg.stripeBase, Timeout: cfg.stripeTimeout, MaxRetries: 1, Log: log,
	})
	// An attempt is two exchanges at most (one retry). With the default 10s
	// it (25s) ends before the server's 30s write timeout, so the payer hears
	// the outcome; the lease (checkout's default, the attempt + 5s) outlasts
	// it so that a live holder is never overtaken, and the sweep resumes the
	// claim of a holder that died about half a minute after its claim.
	co := checkout.New(st, stripeClient, relay, log, checkout.Config{
		ChargeTimeout: 2*cfg.stripeTimeout + 5*time.Second,
	})
	// Stopped before the relay (deferred after it), so the payment.created
	// of an attempt it resumes is still published.
	stopSweep := sweep.New("payments", cfg.paymentsSweep, log, co.Reconcile).Start()
	defer stopSweep()

	stopListeners, err := listeners.New(st, co, log).Start(ctx, js)
	if err != nil {
		return err
	}
	defer stopListeners()

	handler := httpapi.New(httpapi.Deps{
		Log:      log,
		Keys:     session.NewKeys(cfg.jwtKey),
		Checkout: co,
		Checks:   map[string]server.Check{"mongo": mongodb.Ping(client), "nats": events.Ready(nc)},
	})
	return server.Run(ctx, log, fmt.Sprintf(":%d", cfg.port), handler)
}
