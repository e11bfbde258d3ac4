// Package listeners keeps the orders replica from the orders service's events
// and refunds payments of orders that end cancelled.
package listeners

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/payments/checkout"
	"ticketing.dev/payments/store"
)

// QueueGroup names the service's durable consumers.
const QueueGroup = "payments-service"

// Delays before an event is looked at again.
const (
	gapDelay        = 500 * time.Millisecond // an earlier version is still on its way
	unknownDelay    = time.Second            // order.created is still on its way
	inProgressDelay = time.Second            // a payment is being made right now
)

// Handlers handle the events payments listens to.
type Handlers struct {
	store    *store.Store
	checkout *checkout.Service
	log      *slog.Logger
}

// New returns the handlers.
func New(st *store.Store, co *checkout.Service, log *slog.Logger) *Handlers {
	return &Handlers{store: st, checkout: co, log: log}
}

// Start listens to order.created, order.completed and order.cancelled;
// stopping the group drains them.
func Start(ctx context.Context, js jetstream.JetStream, log *slog.Logger, st *store.Store, co *checkout.Service) (*events.Group, error) {
	h := New(st, co, log)
	g := events.NewGroup(js, log, QueueGroup)
	err := errors.Join(
		events.Subscribe(ctx, g, events.OrderCreated, h.OrderCreated),
		events.Subscribe(ctx, g, events.OrderCompleted, h.OrderCompleted),
		// A cancellation may wait for a payment in progress (deferrals, not
		// failures) and may charge and refund at Stripe itself; the listener's
		// progress reports keep the event in hand meanwhile, and the sweep
		// settles whatever the handler gives up on, so the defaults hold.
		events.Subscribe(ctx, g, events.OrderCancelled, h.OrderCancelled),
	)
	if err != nil {
		g.Stop()
		return nil, err
	}
	return g, nil
}

func parseID(s string) (bson.ObjectID, error) {
	id, ok := mongodb.ParseID(s)
	if !ok {
		return bson.ObjectID{}, events.Malformed(fmt.Errorf("order id %q is not an ObjectId", s))
	}
	return id, nil
}

// OrderCreated stores the replica; a repeat changes nothing.
func (h *Handlers) OrderCreated(ctx context.Context, msg events.Msg[events.OrderCreatedData]) error {
	d := msg.Data
	id, err := parseID(d.ID)
	if err != nil {
		return err
	}
	if d.UserID == "" || d.ExpiresAt.IsZero() {
		return events.Malformed(errors.New("order.created lacks userId or expiresAt"))
	}
	status := d.Status
	if status == "" {
		status = events.StatusCreated
	}
	_, err = h.store.InsertOrder(ctx, store.Order{
		ID: id, UserID: d.UserID, Status: status, Price: d.Ticket.Price, Version: d.Version, ExpiresAt: d.ExpiresAt.UTC(),
	})
	return err
}

// OrderCompleted applies the status in version order.
func (h *Handlers) OrderCompleted(ctx context.Context, msg events.Msg[events.OrderCompletedData]) error {
	id, err := parseID(msg.Data.ID)
	if err != nil {
		return err
	}
	_, err = h.apply(ctx, id, msg.Data.Version, events.StatusComplete)
	return err
}

// OrderCancelled applies the status in version order, then makes sure no
// money is kept for the order: it acknowledges only once the order's payment
// slot is final and the replica marked settled. It does so on a repeat too:
// a first delivery may have stored the status and then failed to reach
// Stripe. What it gives up on, the sweep settles.
func (h *Handlers) OrderCancelled(ctx context.Context, msg events.Msg[events.OrderCancelledData]) error {
	id, err := parseID(msg.Data.ID)
	if err != nil {
		return err
	}
	order, err := h.apply(ctx, id, msg.Data.Version, events.StatusCancelled)
	if err != nil || order.Status != events.StatusCancelled {
		return err
	}
	err = h.checkout.SettleCancelled(ctx, id)
	if errors.Is(err, checkout.ErrInProgress) {
		return events.Retry(inProgressDelay, err)
	}
	return err
}

// apply stores the status if version is the next one; an old version is
// skipped; a gap or an unknown order is retried later.
func (h *Handlers) apply(ctx context.Context, id bson.ObjectID, version int64, status string) (store.Order, error) {
	res, order, err := h.store.ApplyStatus(ctx, id, version, status)
	if err != nil {
		return store.Order{}, err
	}
	switch res {
	case mongodb.Gap:
		return store.Order{}, events.Retry(gapDelay, fmt.Errorf("order %s is at version %d, event is %d", id.Hex(), order.Version, version))
	case mongodb.Missing:
		return store.Order{}, events.Retry(unknownDelay, fmt.Errorf("order %s is not known yet", id.Hex()))
	case mongodb.Stale:
		h.log.DebugContext(ctx, "old order event skipped", "order_id", id.Hex(), "version", version, "replica_version", order.Version)
	}
	return order, nil
}
