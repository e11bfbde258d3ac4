// The tickets service sells, lists, shows and edits tickets, and reserves
// and releases them as orders are created and cancelled.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/sweep"
	"ticketing.dev/tickets/httpapi"
	"ticketing.dev/tickets/listeners"
	"ticketing.dev/tickets/reconcile"
	"ticketing.dev/tickets/store"
)

func run(ctx context.Context, log *slog.Logger, cfg Config, conns *service.Conns) error {
	relay := outbox.NewRelay(conns.DB.Collection(store.Collection), events.NewPublisher(conns.JS), log, cfg.OutboxSweep)
	st := store.New(conns.DB, relay.Notify)
	st.CacheLists(cfg.ListCacheTTL)
	if err := errors.Join(st.EnsureIndexes(ctx), relay.EnsureIndex(ctx)); err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	// The relay outlives the HTTP server and the listeners: once they have
	// stopped it publishes what their last changes left pending.
	stopRelay := relay.Start()
	defer stopRelay()

	ls, err := listeners.Start(ctx, conns.JS, log, st)
	if err != nil {
		return err
	}
	defer ls.Stop()

	// The reconciliation sweep repairs what a handler left halfway; it
	// stops before the listeners and the relay (deferred after them).
	stopSweep := sweep.New(reconcile.Name, cfg.Sweep, log, reconcile.New(st, log, reconcile.Options{}).Pass).Start()
	defer stopSweep()

	handler := httpapi.New(httpapi.Deps{
		Log:    log,
		Keys:   conns.Sessions(cfg.JWTKey),
		Store:  st,
		Checks: conns.Checks,
	})
	return conns.Serve(ctx, handler)
}

func main() { service.Main(name, loadConfig, run) }
