package httpapi

import (
	"errors"

	"ticketing.dev/auth/store"
	"ticketing.dev/common/apperr"
)

// errorFor is the one place that says what the errors of the users store
// mean over HTTP; anything else passes as it is (an apperr already, or a
// 500).
func errorFor(err error) error {
	if errors.Is(err, store.ErrEmailInUse) {
		return apperr.BadRequest("Email in use")
	}
	return err
}
