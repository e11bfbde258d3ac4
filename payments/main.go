// Command payments serves POST /api/payments: it charges an order with Stripe
// exactly once, keeps a replica of orders from events, publishes
// payment.created through an outbox and refunds payments of cancelled orders.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/sweep"
	"ticketing.dev/payments/checkout"
	"ticketing.dev/payments/httpapi"
	"ticketing.dev/payments/listeners"
	"ticketing.dev/payments/store"
	"ticketing.dev/payments/stripepay"
)

func run(ctx context.Context, log *slog.Logger, cfg Config, conns *service.Conns) error {
	st := store.New(conns.DB)
	relay := outbox.NewRelay(st.Payments(), events.NewPublisher(conns.JS), log, cfg.OutboxSweep)
	if err := errors.Join(st.EnsureIndexes(ctx), relay.EnsureIndex(ctx)); err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	// The relay outlives the HTTP server and the listeners (deferred later,
	// so stopped first) and publishes what their last changes left pending.
	stopRelay := relay.Start()
	defer stopRelay()

	stripeClient := stripepay.New(stripepay.Config{
		Key: cfg.StripeKey, BaseURL: cfg.StripeBase, Timeout: cfg.StripeTimeout, MaxRetries: 1, Log: log,
	})
	// An attempt is two exchanges at most (one retry). With the default 10s
	// it (25s) ends before the server's 30s write timeout, so the payer hears
	// the outcome. The claim's lease (checkout's default, 10s) is independent
	// of it: the holder renews it while the attempt runs, and the sweep
	// resumes the claim of a holder that died within the lease + PAYMENTS_SWEEP
	// (about 15s) of its last renewal.
	co := checkout.New(st, stripeClient, relay, log, checkout.Config{
		ChargeTimeout: 2*cfg.StripeTimeout + 5*time.Second,
	})
	// Stopped before the relay (deferred after it), so the payment.created
	// of an attempt it resumes is still published.
	stopSweep := sweep.New(checkout.SweepName, cfg.Sweep, log, co.Reconcile).Start()
	defer stopSweep()

	ls, err := listeners.Start(ctx, conns.JS, log, st, co)
	if err != nil {
		return err
	}
	defer ls.Stop()

	handler := httpapi.New(httpapi.Deps{
		Log:      log,
		Keys:     conns.Sessions(cfg.JWTKey),
		Checkout: co,
		Checks:   conns.Checks,
	})
	return conns.Serve(ctx, handler)
}

func main() { service.Main(name, loadConfig, run) }
