// Package events defines the platform's events (subjects and typed payloads)
// and the typed JetStream publisher and listener every service builds on.
package events

import (
	"time"

	"ticketing.dev/common/money"
)

// Topic ties a subject to the payload type published on it.
type Topic[T any] struct{ Subject string }

var (
	TicketCreated      = Topic[TicketCreatedData]{"ticket.created"}
	TicketUpdated      = Topic[TicketUpdatedData]{"ticket.updated"}
	OrderCreated       = Topic[OrderCreatedData]{"order.created"}
	OrderCancelled     = Topic[OrderCancelledData]{"order.cancelled"}
	OrderCompleted     = Topic[OrderCompletedData]{"order.completed"}
	ExpirationComplete = Topic[ExpirationCompleteData]{"expiration.complete"}
	PaymentCreated     = Topic[PaymentCreatedData]{"payment.created"}
	// SessionRevoked is a sign-out: every replica of every service that
	// reads sessions refuses that session from then on (Follow, on the
	// SessionStream).
	SessionRevoked = Topic[SessionRevokedData]{"session.revoked"}
)

// Order statuses as they travel in events and in the API.
const (
	StatusCreated         = "created"
	StatusAwaitingPayment = "awaiting:payment"
	StatusComplete        = "complete"
	StatusCancelled       = "cancelled"
)

type TicketCreatedData struct {
	ID      string      `json:"id"`
	Version int64       `json:"version"`
	Title   string      `json:"title"`
	Price   money.Cents `json:"price"`
	UserID  string      `json:"userId"`
}

type TicketUpdatedData struct {
	ID      string      `json:"id"`
	Version int64       `json:"version"`
	Title   string      `json:"title"`
	Price   money.Cents `json:"price"`
	UserID  string      `json:"userId"`
	OrderID string      `json:"orderId,omitempty"`
}

type OrderTicket struct {
	ID    string      `json:"id"`
	Price money.Cents `json:"price"`
}

type OrderCreatedData struct {
	ID        string      `json:"id"`
	Version   int64       `json:"version"`
	Status    string      `json:"status"`
	UserID    string      `json:"userId"`
	ExpiresAt time.Time   `json:"expiresAt"`
	Ticket    OrderTicket `json:"ticket"`
}

type TicketRef struct {
	ID string `json:"id"`
}

type OrderCancelledData struct {
	ID      string    `json:"id"`
	Version int64     `json:"version"`
	Ticket  TicketRef `json:"ticket"`
}

type OrderCompletedData struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

type ExpirationCompleteData struct {
	OrderID string `json:"orderId"`
}

type PaymentCreatedData struct {
	ID       string `json:"id"`
	OrderID  string `json:"orderId"`
	StripeID string `json:"stripeId"`
}

type SessionRevokedData struct {
	SessionID string    `json:"sessionId"`
	UserID    string    `json:"userId"`
	ExpiresAt time.Time `json:"expiresAt"` // the token's expiry: the deny list keeps it until then
}
