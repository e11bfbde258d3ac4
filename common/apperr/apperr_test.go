package apperr_test

import (
	"errors"
	"fmt"
	"testing"

	"ticketing.dev/common/apperr"
)

func TestStatusAndFrom(t *testing.T) {
	tests := []struct {
		err    error
		status int
	}{
		{apperr.InvalidField("email", "Email must be valid"), 400},
		{apperr.BadRequest("x"), 400},
		{apperr.NotAuthorized(), 401},
		{apperr.PaymentRequired("declined"), 402},
		{apperr.Forbidden("x"), 403},
		{apperr.NotFound("x"), 404},
		{apperr.MethodNotAllowed(), 405},
		{apperr.Conflict("x"), 409},
		{apperr.PayloadTooLarge(), 413},
		{apperr.UnsupportedMediaType("x"), 415},
		{apperr.TooManyRequests(0), 429},
		{apperr.Internal(errors.New("boom")), 500},
		{errors.New("unclassified"), 500},
		{apperr.BadGateway("stripe", nil), 502},
		{apperr.Unavailable(errors.New("down")), 503},
		{fmt.Errorf("wrapped: %w", apperr.NotFound("x")), 404},
	}
	for _, tt := range tests {
		if got := apperr.From(tt.err).Kind.Status(); got != tt.status {
			t.Errorf("%v: status %d, want %d", tt.err, got, tt.status)
		}
	}
	if m := apperr.From(errors.New("secret detail")).Messages[0].Message; m != "Something went wrong" {
		t.Fatalf("internal message leaks: %q", m)
	}
}
