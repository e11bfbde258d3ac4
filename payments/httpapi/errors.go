package httpapi

import (
	"errors"

	"ticketing.dev/common/apperr"
	"ticketing.dev/payments/checkout"
	"ticketing.dev/payments/stripepay"
)

// The messages the contract fixes.
const (
	MsgNotFound    = "Order not found"
	MsgCancelled   = "Cannot pay for an cancelled order"
	MsgAlreadyPaid = "Order has already been paid"
	MsgExpired     = "Order has expired"
	// MsgInProgress answers a request that finds a live claim: the order is
	// not paid yet, and may be in a moment.
	MsgInProgress = "Payment in progress, try again shortly"
)

// errorFor is the one place that says what the errors of checkout and of
// Stripe mean over HTTP; anything else passes as it is (an apperr already,
// or a 500).
func errorFor(err error) error {
	var declined *stripepay.Declined
	var rejected *stripepay.Rejected
	var unreachable *stripepay.Unreachable
	switch {
	case errors.Is(err, checkout.ErrNotFound):
		return apperr.NotFound(MsgNotFound)
	case errors.Is(err, checkout.ErrNotOwner):
		return apperr.NotAuthorized()
	case errors.Is(err, checkout.ErrCancelled):
		return apperr.BadRequest(MsgCancelled)
	case errors.Is(err, checkout.ErrAlreadyPaid):
		return apperr.BadRequest(MsgAlreadyPaid)
	case errors.Is(err, checkout.ErrExpired):
		return apperr.BadRequest(MsgExpired)
	case errors.Is(err, checkout.ErrInProgress):
		return apperr.Conflict(MsgInProgress)
	case errors.As(err, &declined):
		return apperr.PaymentRequired(declined.Message)
	case errors.As(err, &rejected) && rejected.UserError():
		e := apperr.BadRequest(rejected.Message)
		e.Err = err
		return e
	case errors.As(err, &rejected):
		return apperr.BadGateway("Payment provider refused the request", err)
	case errors.As(err, &unreachable):
		return apperr.BadGateway("Payment provider unavailable, try again", err)
	}
	return err
}
