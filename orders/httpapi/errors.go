package httpapi

import (
	"errors"
	"fmt"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/orders/order"
	"ticketing.dev/orders/store"
)

// errorFor is the one place that says what the errors of orders' domain and
// store mean over HTTP; anything else passes as it is (an apperr already, or
// a 500).
func errorFor(err error) error {
	var tooMany *order.TooManyActive
	switch {
	case errors.Is(err, store.ErrOrderNotFound):
		return apperr.NotFound("Order not found")
	case errors.Is(err, store.ErrTicketNotFound):
		return apperr.NotFound("Ticket not found")
	case errors.Is(err, store.ErrTicketReserved):
		return apperr.BadRequest("Ticket is already reserved")
	case errors.Is(err, order.ErrCompleted):
		return apperr.BadRequest("Cannot cancel a completed order")
	case errors.As(err, &tooMany):
		return apperr.BadRequest(fmt.Sprintf(
			"You have too many active orders (at most %d at a time): pay for or cancel one first", tooMany.Limit))
	case errors.Is(err, mongodb.ErrBusy):
		return apperr.Conflict("The order is changing too often, try again")
	}
	return err
}
