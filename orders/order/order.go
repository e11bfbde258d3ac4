// Package order holds the order's rules: how one is created, cancelled,
// expired and completed, and the event each change implies. It knows nothing
// of HTTP or of how orders are stored.
package order

import (
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/outbox"
)

// Ticket is the ticket as it was when the order was made: the order keeps
// this copy so that reading an order needs no join.
type Ticket struct {
	ID      bson.ObjectID `bson:"id"`
	Title   string        `bson:"title"`
	Price   money.Cents   `bson:"price"`
	Version int64         `bson:"version"`
}

// Order is one user's claim on one ticket.
type Order struct {
	ID        bson.ObjectID `bson:"_id"`
	UserID    string        `bson:"userId"`
	Status    string        `bson:"status"`
	ExpiresAt time.Time     `bson:"expiresAt"`
	Version   int64         `bson:"version"`
	CreatedAt time.Time     `bson:"createdAt"`
	Ticket    Ticket        `bson:"ticket"`
	// CancelReason says why a cancelled order was cancelled (ByBuyer or
	// Expired); empty while it is not, and on orders cancelled before the
	// field was stored.
	CancelReason string `bson:"cancelReason,omitempty"`
}

// Why an order was cancelled.
const (
	ByBuyer = "buyer"   // its owner cancelled it
	Expired = "expired" // it was not paid in time
)

// ErrCompleted refuses to cancel an order that has been paid.
var ErrCompleted = errors.New("cannot cancel a completed order")

// TooManyActive refuses a new order to a user who already holds Limit
// active orders.
type TooManyActive struct{ Limit int }

func (e *TooManyActive) Error() string {
	return fmt.Sprintf("user already has %d active orders, the most allowed", e.Limit)
}

// MayOrder is the rule on how many orders a user may hold at once: a new
// one is refused once active reaches limit. An order is active while it
// waits for its payment: created or awaiting payment, with expiresAt ahead
// (past it payments refuses the order, and only its expiration is left). It keeps one user from holding a large part of the catalogue
// reserved; the original client orders one ticket at a time.
func MayOrder(active int64, limit int) error {
	if active >= int64(limit) {
		return &TooManyActive{Limit: limit}
	}
	return nil
}

// Reserves reports whether an order in this status holds its ticket.
func Reserves(status string) bool {
	return status != events.StatusCancelled
}

// New makes an order for ticket that expires window after now, with its
// order.created event. Times are kept to the millisecond, as stored.
func New(userID string, t Ticket, now time.Time, window time.Duration) (Order, outbox.Event, error) {
	now = now.UTC().Truncate(time.Millisecond)
	o := Order{
		ID:        bson.NewObjectID(),
		UserID:    userID,
		Status:    events.StatusCreated,
		ExpiresAt: now.Add(window),
		CreatedAt: now,
		Ticket:    t,
	}
	evt, err := outbox.New(events.OrderCreated, eventID(events.OrderCreated.Subject, o), o.Version,
		events.OrderCreatedData{
			ID:        o.ID.Hex(),
			Version:   o.Version,
			Status:    o.Status,
			UserID:    o.UserID,
			ExpiresAt: o.ExpiresAt,
			Ticket:    events.OrderTicket{ID: t.ID.Hex(), Price: t.Price},
		})
	return o, evt, err
}

// Cancel cancels the order at its owner's request. A cancelled order stays
// as it is (nil event); a completed one cannot be cancelled.
func (o *Order) Cancel() (*outbox.Event, error) {
	switch o.Status {
	case events.StatusCancelled:
		return nil, nil
	case events.StatusComplete:
		return nil, ErrCompleted
	}
	return o.cancel(ByBuyer)
}

// NotYetExpired is Expire's answer while the order may still be paid: Left
// is the time until it can be expired.
type NotYetExpired struct{ Left time.Duration }

func (e *NotYetExpired) Error() string { return fmt.Sprintf("order expires in %s", e.Left) }

// Expire cancels an unpaid order once grace has passed after its window
// (now ≥ expiresAt + grace). The window is what the buyer is shown and what
// payments allows for starting a charge; the grace leaves room for a charge
// started just before expiresAt, and for its payment.created, to arrive
// (a slow card network, a redelivery after a crash), so a buyer who paid in
// time keeps the ticket. A completed or cancelled order is left alone (nil
// event); one still within window + grace gives a *NotYetExpired so that the
// caller can come back later.
func (o *Order) Expire(now time.Time, grace time.Duration) (*outbox.Event, error) {
	if o.Status != events.StatusCreated && o.Status != events.StatusAwaitingPayment {
		return nil, nil
	}
	if left := o.ExpiresAt.Add(grace).Sub(now); left > 0 {
		return nil, &NotYetExpired{Left: left}
	}
	return o.cancel(Expired)
}

// Complete marks the order paid unless it was cancelled (payments then
// refunds) or is already complete (a replayed payment): both give nil.
func (o *Order) Complete() (*outbox.Event, error) {
	if o.Status == events.StatusCancelled || o.Status == events.StatusComplete {
		return nil, nil
	}
	o.Status = events.StatusComplete
	o.Version++
	evt, err := outbox.New(events.OrderCompleted, eventID(events.OrderCompleted.Subject, *o), o.Version,
		events.OrderCompletedData{ID: o.ID.Hex(), Version: o.Version})
	return &evt, err
}

func (o *Order) cancel(reason string) (*outbox.Event, error) {
	o.Status = events.StatusCancelled
	o.CancelReason = reason
	o.Version++
	evt, err := outbox.New(events.OrderCancelled, eventID(events.OrderCancelled.Subject, *o), o.Version,
		events.OrderCancelledData{ID: o.ID.Hex(), Version: o.Version, Ticket: events.TicketRef{ID: o.Ticket.ID.Hex()}})
	return &evt, err
}

func eventID(subject string, o Order) string { return outbox.ID(subject, o.ID.Hex(), o.Version) }
