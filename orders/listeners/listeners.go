// Package listeners handles the events orders consumes: ticket.created and
// ticket.updated feed the replica of tickets; expiration.complete and
// payment.created move orders on.
package listeners

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/orders/order"
	"ticketing.dev/orders/store"
)

// QueueGroup names the durable consumers that every replica of the service shares.
const QueueGroup = "orders-service"

// Deps are what the handlers need.
type Deps struct {
	Log     *slog.Logger
	Orders  *store.Orders
	Tickets *store.Tickets
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Grace is how long after its expiresAt an unpaid order is still kept
	// for a payment in flight; expiration.complete arriving earlier is
	// deferred until it has passed (see order.Order.Expire).
	Grace time.Duration
	// WaitDelay is the first delay before a ticket event that arrived too
	// soon (a version gap, an unknown ticket) is seen again; it doubles on
	// each delivery up to MaxWaitDelay. Defaults 500ms and 10s.
	WaitDelay    time.Duration
	MaxWaitDelay time.Duration
	// Options tune every listener (zero: the defaults of common/events).
	Options events.ListenerOptions
}

// Start listens to ticket.created, ticket.updated, expiration.complete and
// payment.created; stopping the group drains them.
func Start(ctx context.Context, js jetstream.JetStream, d Deps) (*events.Group, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.WaitDelay == 0 {
		d.WaitDelay = 500 * time.Millisecond
	}
	if d.MaxWaitDelay == 0 {
		d.MaxWaitDelay = 10 * time.Second
	}
	h := handlers{d}
	g := events.NewGroup(js, d.Log, QueueGroup)
	err := errors.Join(
		events.Subscribe(ctx, g, events.TicketCreated, h.ticketCreated, d.Options),
		events.Subscribe(ctx, g, events.TicketUpdated, h.ticketUpdated, d.Options),
		events.Subscribe(ctx, g, events.ExpirationComplete, h.expirationComplete, d.Options),
		events.Subscribe(ctx, g, events.PaymentCreated, h.paymentCreated, d.Options),
	)
	if err != nil {
		g.Stop()
		return nil, err
	}
	return g, nil
}

type handlers struct{ Deps }

func (h handlers) ticketCreated(ctx context.Context, m events.Msg[events.TicketCreatedData]) error {
	id, ok := mongodb.ParseID(m.Data.ID)
	if !ok {
		return events.Malformed(fmt.Errorf("ticket id %q is not an ObjectId", m.Data.ID))
	}
	inserted, err := h.Tickets.Insert(ctx, store.Ticket{ID: id, Title: m.Data.Title, Price: m.Data.Price, Version: m.Data.Version})
	if err != nil {
		return err
	}
	if !inserted {
		h.Log.DebugContext(ctx, "ticket already in the replica", "ticket_id", m.Data.ID)
	}
	return nil
}

func (h handlers) ticketUpdated(ctx context.Context, m events.Msg[events.TicketUpdatedData]) error {
	id, ok := mongodb.ParseID(m.Data.ID)
	if !ok {
		return events.Malformed(fmt.Errorf("ticket id %q is not an ObjectId", m.Data.ID))
	}
	outcome, stored, err := h.Tickets.Apply(ctx, store.Ticket{ID: id, Title: m.Data.Title, Price: m.Data.Price, Version: m.Data.Version})
	if err != nil {
		return err
	}
	switch outcome {
	case mongodb.Gap, mongodb.Missing:
		return events.Retry(h.waitDelay(m.Delivery),
			fmt.Errorf("ticket %s version %d: %s (replica at %d)", m.Data.ID, m.Data.Version, outcome, stored))
	case mongodb.Stale:
		h.Log.DebugContext(ctx, "stale ticket version skipped", "ticket_id", m.Data.ID,
			"version", m.Data.Version, "stored", stored)
	}
	return nil
}

// waitDelay grows with each delivery so that a long gap costs few deliveries.
func (h handlers) waitDelay(delivery uint64) time.Duration {
	d := h.WaitDelay
	for i := uint64(1); i < delivery && d < h.MaxWaitDelay; i++ {
		d *= 2
	}
	return min(d, h.MaxWaitDelay)
}

func (h handlers) expirationComplete(ctx context.Context, m events.Msg[events.ExpirationCompleteData]) error {
	id, ok := mongodb.ParseID(m.Data.OrderID)
	if !ok {
		return events.Malformed(fmt.Errorf("order id %q is not an ObjectId", m.Data.OrderID))
	}
	_, err := h.Orders.Update(ctx, id, func(o *order.Order) (*outbox.Event, error) {
		return o.Expire(h.Now(), h.Grace)
	})
	var early *order.NotYetExpired
	switch {
	case errors.As(err, &early):
		// Expiration fires at expiresAt; the order may still be paid during
		// the grace, so this event comes back when the grace has passed.
		return events.Retry(early.Left, err)
	case errors.Is(err, store.ErrOrderNotFound):
		// Orders are stored before order.created is published, so this
		// event is not about one of ours: nothing can ever be done with it.
		return events.Malformed(err)
	}
	return err
}

func (h handlers) paymentCreated(ctx context.Context, m events.Msg[events.PaymentCreatedData]) error {
	id, ok := mongodb.ParseID(m.Data.OrderID)
	if !ok {
		return events.Malformed(fmt.Errorf("order id %q is not an ObjectId", m.Data.OrderID))
	}
	_, err := h.Orders.Update(ctx, id, func(o *order.Order) (*outbox.Event, error) { return o.Complete() })
	if errors.Is(err, store.ErrOrderNotFound) {
		return events.Malformed(err)
	}
	return err
}
