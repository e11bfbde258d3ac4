// Package listeners reserves and releases tickets as orders are created and
// cancelled, and marks them sold when their order completes. The handlers are idempotent: a redelivered or replayed event
// finds its change already made and writes nothing, so it publishes nothing.
//
// A cancelled order is remembered by a marker in its own collection (see
// store.Cancelled), not on the ticket. The two handlers of one order may run
// at the same time (separate consumers, several replicas); each writes its
// own record first and reads the other's after:
//
//   - order.cancelled stores the marker, then releases the ticket if the
//     order holds it, then settles the marker;
//   - order.created reserves unless the order has a marker, then, if the
//     order holds the ticket, looks for the marker again and releases the
//     ticket if it is there.
//
// Whatever the interleaving, one of them sees the other: if order.created's
// second look misses the marker, the marker was stored after it, so after
// the reservation was written, and order.cancelled's read of the ticket,
// which follows its marker, sees the reservation and releases it.
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
	"ticketing.dev/tickets/store"
)

// QueueGroup names the service's durable consumers.
const QueueGroup = "tickets-service"

// An order can name a ticket this service has not stored yet only through a
// bug elsewhere, but a few delayed retries cost little before giving up.
const (
	notFoundDeliveries = 5
	notFoundDelay      = 2 * time.Second
)

// heldRetryDelay paces the wait of an order.created whose ticket another
// order still holds: orders allows one active order per ticket, so that
// order's order.cancelled is on its way (on another consumer, which may be
// behind this one).
const heldRetryDelay = time.Second

type handlers struct {
	store *store.Store
	log   *slog.Logger
	// pause, when set (tests only), is called at the named points between
	// the steps of a handler, so a test can interleave two handlers exactly.
	pause func(point string)
}

// Points at which handlers call pause.
const (
	pointCreatedChecked   = "created:checked"   // order.created found no marker, before the reservation is written
	pointCreatedReserved  = "created:reserved"  // order.created holds the ticket, before the second look
	pointCancelledMarked  = "cancelled:marked"  // order.cancelled stored the marker, before the release
	pointCancelledRelease = "cancelled:release" // order.cancelled released, before settling the marker
)

func (h handlers) at(point string) {
	if h.pause != nil {
		h.pause(point)
	}
}

// Start listens to order.created, order.cancelled and order.completed;
// stopping the group drains them.
func Start(ctx context.Context, js jetstream.JetStream, log *slog.Logger, st *store.Store) (*events.Group, error) {
	h := handlers{store: st, log: log}
	g := events.NewGroup(js, log, QueueGroup)
	err := errors.Join(
		events.Subscribe(ctx, g, events.OrderCreated, h.orderCreated),
		events.Subscribe(ctx, g, events.OrderCancelled, h.orderCancelled),
		events.Subscribe(ctx, g, events.OrderCompleted, h.orderCompleted),
	)
	if err != nil {
		g.Stop()
		return nil, err
	}
	return g, nil
}

// errHeld reports that another order still holds the ticket.
var errHeld = errors.New("ticket held by another order")

// orderCreated reserves the ticket for the order, unless this order holds
// it already (a redelivery) or was cancelled (a late or replayed event, or
// one overtaken by its order.cancelled). While another order holds it, the
// event waits for that order's order.cancelled, which travels on another
// consumer and may come later.
func (h handlers) orderCreated(ctx context.Context, msg events.Msg[events.OrderCreatedData]) error {
	order := msg.Data
	ticketID, err := ids(order.ID, order.Ticket.ID)
	if err != nil {
		return err
	}
	t, err := h.store.Update(ctx, ticketID, func(t *store.Ticket) (bool, error) {
		cancelled, err := h.store.IsCancelled(ctx, order.ID)
		if err != nil {
			return false, err
		}
		switch {
		case cancelled:
			// Never reserve for it; undo a reservation it made before its
			// cancellation was seen (a handler that died halfway).
			if t.OrderID == order.ID {
				t.OrderID = ""
				return true, nil
			}
			return false, nil
		case t.OrderID == order.ID:
			return false, nil
		case t.Reserved():
			return false, fmt.Errorf("%w %s", errHeld, t.OrderID)
		}
		h.at(pointCreatedChecked)
		t.OrderID = order.ID
		return true, nil
	})
	if errors.Is(err, errHeld) {
		return events.Retry(heldRetryDelay, fmt.Errorf("order %s waits for ticket %s: %w", order.ID, ticketID.Hex(), err))
	}
	if err != nil || t.OrderID != order.ID {
		return h.result(msg.Delivery, ticketID, err)
	}
	// The order holds the ticket. Its order.cancelled may have stored the
	// marker after the check above and read the ticket before the
	// reservation: look again, now that the reservation is written.
	h.at(pointCreatedReserved)
	cancelled, err := h.store.IsCancelled(ctx, order.ID)
	if err != nil || !cancelled {
		return err
	}
	_, err = h.store.Release(ctx, ticketID, order.ID)
	return h.result(msg.Delivery, ticketID, err)
}

// orderCancelled remembers the order (its marker), releases the ticket if
// this very order holds it, a newer reservation being left alone, and
// settles the marker. A replay finds the marker and a ticket the order does
// not hold, and changes nothing.
func (h handlers) orderCancelled(ctx context.Context, msg events.Msg[events.OrderCancelledData]) error {
	order := msg.Data
	ticketID, err := ids(order.ID, order.Ticket.ID)
	if err != nil {
		return err
	}
	if err := h.store.MarkCancelled(ctx, order.ID, ticketID); err != nil {
		return err
	}
	h.at(pointCancelledMarked)
	if _, err := h.store.Release(ctx, ticketID, order.ID); err != nil {
		return h.result(msg.Delivery, ticketID, err)
	}
	h.at(pointCancelledRelease)
	return h.store.Settle(ctx, order.ID)
}

// completedRetryDelay paces the wait of an order.completed that overtook
// its order.created (another consumer): the reservation is on its way.
const completedRetryDelay = time.Second

// orderCompleted marks the ticket the order holds as sold. The event names
// only the order, so the ticket is found by its reservation; one that is
// not reserved by the order yet waits for order.created (a completed order
// is never cancelled, so the reservation comes).
func (h handlers) orderCompleted(ctx context.Context, msg events.Msg[events.OrderCompletedData]) error {
	if _, ok := mongodb.ParseID(msg.Data.ID); !ok {
		return events.Malformed(fmt.Errorf("order id %q is not an ObjectId", msg.Data.ID))
	}
	held, err := h.store.MarkSold(ctx, msg.Data.ID)
	if err != nil || held {
		return err
	}
	return events.Retry(completedRetryDelay, fmt.Errorf("completed order %s holds no ticket yet", msg.Data.ID))
}

// ids checks the ids an order event carries; bad ones can never be handled.
func ids(orderID, ticketID string) (bson.ObjectID, error) {
	if _, ok := mongodb.ParseID(orderID); !ok {
		return bson.ObjectID{}, events.Malformed(fmt.Errorf("order id %q is not an ObjectId", orderID))
	}
	id, ok := mongodb.ParseID(ticketID)
	if !ok {
		return id, events.Malformed(fmt.Errorf("ticket id %q is not an ObjectId", ticketID))
	}
	return id, nil
}

// result turns a store outcome into the listener's answer: an unknown ticket
// is retried a few times, then given up.
func (h handlers) result(delivery uint64, ticketID bson.ObjectID, err error) error {
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if delivery < notFoundDeliveries {
		return events.Retry(notFoundDelay, fmt.Errorf("ticket %s: %w", ticketID.Hex(), err))
	}
	return events.Malformed(fmt.Errorf("ticket %s still unknown after %d deliveries: %w", ticketID.Hex(), delivery, err))
}
