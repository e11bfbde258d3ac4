package httpapi

import (
	"errors"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/tickets/store"
)

// errorFor is the one place that says what the errors of the tickets store
// mean over HTTP; anything else passes as it is (an apperr already, or a
// 500).
func errorFor(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return apperr.NotFound("Ticket not found")
	case errors.Is(err, store.ErrNotOwner):
		return apperr.NotAuthorized()
	case errors.Is(err, store.ErrReserved):
		return apperr.BadRequest("Cannot edit a reserved ticket")
	case errors.Is(err, mongodb.ErrBusy):
		return apperr.Conflict("The ticket is being changed by someone else, try again")
	}
	return err
}
