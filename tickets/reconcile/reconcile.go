// Package reconcile is the tickets service's sweep. It repairs reservations
// that the order event handlers left behind, from what this service has seen
// (the cancelled-order markers), asking no other service anything:
//
//   - every pass: an unsettled marker older than Grace belongs to an
//     order.cancelled handler that died, failed or was dead-lettered between
//     storing the marker and settling it; the pass releases the ticket if
//     that order still holds it, then settles the marker;
//   - once every MaintainEvery (and on the first pass): any reserved ticket
//     whose order has a settled marker is released (an order.created handler
//     that died between writing a reservation and its second look for the
//     marker, its event then dead-lettered), and settled markers older than
//     Retention are deleted.
//
// Every change is a versioned ticket update (store.Release) or a
// conditional marker update, so several replicas sweeping at once make each
// repair once and publish one ticket.updated for it.
package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/tickets/store"
)

// Name names the sweep in the logs.
const Name = "tickets-reservations"

// Retention is how long a settled marker is kept: twice the stream's
// MaxAge. A dead letter is replayed only while its event is younger than
// MaxAge (counted from its first publication), and the replayed copy then
// stays in the stream for up to MaxAge more; past twice MaxAge no copy of an
// order's events can be delivered again, so its marker has nothing left to
// guard against.
const Retention = 2 * events.MaxAge

// Defaults of Options.
const (
	DefaultGrace         = 30 * time.Second
	DefaultMaintainEvery = time.Hour
	DefaultBatch         = 500
)

// Options tune a Reconciler; the zero value gives the defaults.
type Options struct {
	// Grace is the age below which an unsettled marker is left to the
	// handler that is storing it (default 30s, several times the listeners'
	// AckWait: by then that handler has finished or lost its event).
	Grace time.Duration
	// MaintainEvery paces the scan of reserved tickets and the pruning of
	// old markers (default 1h).
	MaintainEvery time.Duration
	// Batch bounds the markers one pass settles (default 500; the next pass
	// goes on) and the reserved tickets looked up at once.
	Batch int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Reconciler repairs reservations; see the package comment.
type Reconciler struct {
	store *store.Store
	log   *slog.Logger
	opts  Options

	mu         sync.Mutex
	maintained time.Time // when maintenance last succeeded
}

// New returns a reconciler of st's tickets.
func New(st *store.Store, log *slog.Logger, opts Options) *Reconciler {
	if opts.Grace == 0 {
		opts.Grace = DefaultGrace
	}
	if opts.MaintainEvery == 0 {
		opts.MaintainEvery = DefaultMaintainEvery
	}
	if opts.Batch == 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reconciler{store: st, log: log.With("component", "sweep", "sweep", Name), opts: opts}
}

// Pass runs one reconciliation and returns how many tickets it released.
func (r *Reconciler) Pass(ctx context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	repaired, err := r.settle(ctx, now)
	if err != nil {
		return repaired, err
	}
	if !r.maintained.IsZero() && now.Sub(r.maintained) < r.opts.MaintainEvery {
		return repaired, nil
	}
	n, err := r.maintain(ctx, now)
	repaired += n
	if err != nil {
		return repaired, err
	}
	r.maintained = now
	return repaired, nil
}

// settle finishes the markers their handler left unsettled.
func (r *Reconciler) settle(ctx context.Context, now time.Time) (int, error) {
	markers, err := r.store.Unsettled(ctx, now.Add(-r.opts.Grace), r.opts.Batch)
	if err != nil {
		return 0, err
	}
	repaired := 0
	for _, m := range markers {
		released, err := r.release(ctx, store.Held{TicketID: m.TicketID, OrderID: m.OrderID})
		if err != nil {
			return repaired, err
		}
		if released {
			repaired++
		}
		if err := r.store.Settle(ctx, m.OrderID); err != nil {
			return repaired, err
		}
	}
	return repaired, nil
}

// maintain releases every ticket held by an order with a settled marker, then
// prunes the markers the stream can no longer need, in that order: a marker
// is never deleted while its order still holds the ticket.
func (r *Reconciler) maintain(ctx context.Context, now time.Time) (int, error) {
	held, err := r.store.HeldBySettled(ctx, r.opts.Batch)
	if err != nil {
		return 0, err
	}
	repaired := 0
	for _, h := range held {
		released, err := r.release(ctx, h)
		if err != nil {
			return repaired, err
		}
		if released {
			repaired++
		}
	}
	pruned, err := r.store.PruneSettled(ctx, now.Add(-Retention))
	if err != nil {
		return repaired, err
	}
	if pruned > 0 {
		r.log.Info("pruned cancelled-order markers", "pruned", pruned, "older_than", now.Add(-Retention))
	}
	return repaired, nil
}

// release frees the ticket if the cancelled order still holds it. A ticket
// that does not exist is held by nobody.
func (r *Reconciler) release(ctx context.Context, h store.Held) (bool, error) {
	released, err := r.store.Release(ctx, h.TicketID, h.OrderID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if released {
		r.log.Info("released a ticket held by a cancelled order", "ticket", h.TicketID.Hex(), "order", h.OrderID)
	}
	return released, nil
}
