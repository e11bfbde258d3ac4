// Command orders serves /api/orders: users order tickets, which are held
// for a while, then paid for or given back.
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
	"ticketing.dev/orders/httpapi"
	"ticketing.dev/orders/listeners"
	"ticketing.dev/orders/reconcile"
	"ticketing.dev/orders/store"
)

func run(ctx context.Context, log *slog.Logger, cfg Config, conns *service.Conns) error {
	ordersColl := conns.DB.Collection("orders")
	relay := outbox.NewRelay(ordersColl, events.NewPublisher(conns.JS), log, cfg.OutboxSweep)
	orders := store.NewOrders(ordersColl, relay.Notify)
	tickets := store.NewTickets(conns.DB.Collection("tickets"))
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := errors.Join(relay.EnsureIndex(ictx), orders.EnsureIndexes(ictx))
	cancel()
	if err != nil {
		return fmt.Errorf("indexes: %w", err)
	}

	// The relay outlives the HTTP server and the listeners: once they have
	// stopped it publishes what their last changes left pending.
	stopRelay := relay.Start()
	defer stopRelay()

	ls, err := listeners.Start(ctx, conns.JS, listeners.Deps{Log: log, Orders: orders, Tickets: tickets, Grace: cfg.Grace})
	if err != nil {
		return err
	}
	defer ls.Stop()

	// Expires the overdue orders that no expiration.complete did (Redis lost
	// its jobs, expiration down, an event dead-lettered). Stopped before the
	// relay (defers run last first), which then publishes its last changes.
	stopSweep := sweep.New(reconcile.Name, cfg.Sweep, log,
		reconcile.Overdue{Log: log, Orders: orders, Grace: cfg.Grace}.Pass).Start()
	defer stopSweep()

	handler := httpapi.New(httpapi.Deps{
		Log:         log,
		Keys:        conns.Sessions(cfg.JWTKey),
		Orders:      orders,
		Tickets:     tickets,
		Window:      cfg.Window,
		ActiveLimit: cfg.ActiveLimit,
		Checks:      conns.Checks,
	})
	return conns.Serve(ctx, handler)
}

func main() { service.Main(name, loadConfig, run) }
