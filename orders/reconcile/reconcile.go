// Package reconcile holds orders' reconciliation pass: it expires unpaid
// orders that are overdue (expiresAt + grace has passed) when nothing else
// did, because Redis lost its scheduled jobs, the expiration service is
// down, or its expiration.complete was dead-lettered. Without it such an
// order would keep its ticket reserved forever.
package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"ticketing.dev/common/outbox"
	"ticketing.dev/orders/order"
	"ticketing.dev/orders/store"
)

// Name names the sweep in the logs.
const Name = "overdue-orders"

// DefaultBatch bounds the orders one pass looks at, so that a pass stays
// short after a long outage; the next pass takes the next batch.
const DefaultBatch = 100

// Overdue expires overdue orders. Its Pass is a sweep.Pass.
type Overdue struct {
	Log    *slog.Logger
	Orders *store.Orders
	// Grace is the time after expiresAt during which an unpaid order is
	// kept for a payment in flight (the same as the listeners').
	Grace time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Batch is the most orders one pass handles (DefaultBatch when 0).
	Batch int
}

// Pass cancels, through the same versioned update and with the same rule as
// expiration.complete (order.Order.Expire), each unpaid order whose
// expiresAt + grace has passed; order.cancelled goes through the outbox. A
// concurrent payment, cancellation, expiration.complete or another replica's
// pass makes the update re-decide on the newer version, so each order is
// cancelled at most once whoever gets there first. It reports how many
// orders this pass cancelled; an order it could not change is left for the
// next pass (its error is returned, the others are still handled).
func (x Overdue) Pass(ctx context.Context) (int, error) {
	now := time.Now
	if x.Now != nil {
		now = x.Now
	}
	batch := x.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	at := now()
	due, err := x.Orders.Overdue(ctx, at.Add(-x.Grace), batch)
	if err != nil {
		return 0, err
	}
	cancelled := 0
	var errs []error
	for _, o := range due {
		if ctx.Err() != nil {
			return cancelled, errors.Join(append(errs, ctx.Err())...)
		}
		var changed bool
		_, err := x.Orders.Update(ctx, o.ID, func(o *order.Order) (*outbox.Event, error) {
			evt, err := o.Expire(at, x.Grace)
			changed = evt != nil && err == nil
			return evt, err
		})
		var early *order.NotYetExpired
		switch {
		case err == nil && changed:
			cancelled++
			x.Log.InfoContext(ctx, "overdue order expired by the sweep", "order_id", o.ID.Hex(),
				"expires_at", o.ExpiresAt, "overdue", at.Sub(o.ExpiresAt))
		case err == nil, errors.As(err, &early), errors.Is(err, store.ErrOrderNotFound):
			// Paid, cancelled or expired meanwhile (or not due by the
			// order's own reading): nothing to repair.
		default:
			errs = append(errs, err)
		}
	}
	return cancelled, errors.Join(errs...)
}
