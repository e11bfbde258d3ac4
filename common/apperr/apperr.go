// Package apperr defines the errors every service returns and the one place
// where an error's kind becomes an HTTP status.
package apperr

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind classifies an error by what the client can do about it.
type Kind int

const (
	KindInternal Kind = iota
	KindValidation
	KindBadRequest
	KindNotAuthorized
	KindForbidden
	KindNotFound
	KindMethodNotAllowed
	KindConflict
	KindPayloadTooLarge
	KindUnsupportedMediaType
	KindTooManyRequests
	KindPaymentRequired
	KindBadGateway
	KindUnavailable
)

// Status is the single mapping from kind to HTTP status.
func (k Kind) Status() int {
	switch k {
	case KindValidation, KindBadRequest:
		return http.StatusBadRequest
	case KindNotAuthorized:
		return http.StatusUnauthorized
	case KindForbidden:
		return http.StatusForbidden
	case KindNotFound:
		return http.StatusNotFound
	case KindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case KindConflict:
		return http.StatusConflict
	case KindPayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case KindUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case KindTooManyRequests:
		return http.StatusTooManyRequests
	case KindPaymentRequired:
		return http.StatusPaymentRequired
	case KindBadGateway:
		return http.StatusBadGateway
	case KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// FieldError is one element of the error envelope.
type FieldError struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error is an error with a kind, the messages shown to the client and,
// optionally, an underlying cause that only reaches the log.
type Error struct {
	Kind       Kind
	Messages   []FieldError
	RetryAfter time.Duration // set on KindTooManyRequests
	Err        error
}

func (e *Error) Error() string {
	msg := ""
	if len(e.Messages) > 0 {
		msg = e.Messages[0].Message
	}
	if e.Err != nil {
		if msg == "" {
			return e.Err.Error()
		}
		return fmt.Sprintf("%s: %v", msg, e.Err)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

func newError(kind Kind, msg string) *Error {
	return &Error{Kind: kind, Messages: []FieldError{{Message: msg}}}
}

// Validation reports one or more invalid fields.
func Validation(fields ...FieldError) *Error {
	return &Error{Kind: KindValidation, Messages: fields}
}

// InvalidField reports a single invalid field.
func InvalidField(field, msg string) *Error {
	return Validation(FieldError{Message: msg, Field: field})
}

func BadRequest(msg string) *Error      { return newError(KindBadRequest, msg) }
func NotAuthorized() *Error             { return newError(KindNotAuthorized, "Not authorized") }
func NotFound(msg string) *Error        { return newError(KindNotFound, msg) }
func MethodNotAllowed() *Error          { return newError(KindMethodNotAllowed, "Method Not Allowed") }
func Conflict(msg string) *Error        { return newError(KindConflict, msg) }
func PayloadTooLarge() *Error           { return newError(KindPayloadTooLarge, "Request body too large") }
func PaymentRequired(msg string) *Error { return newError(KindPaymentRequired, msg) }
func InvalidJSON() *Error               { return newError(KindBadRequest, "Invalid JSON body") }
func RouteNotFound() *Error             { return newError(KindNotFound, "Not Found") }
func TooManyRequests(retryAfter time.Duration) *Error {
	e := newError(KindTooManyRequests, "Too many requests, try again later")
	e.RetryAfter = retryAfter
	return e
}

// Forbidden refuses a request whatever its user (a cross-site request).
func Forbidden(msg string) *Error { return newError(KindForbidden, msg) }

// UnsupportedMediaType refuses a body of a type the route does not read.
func UnsupportedMediaType(msg string) *Error { return newError(KindUnsupportedMediaType, msg) }

// BadGateway reports that an upstream (such as Stripe) could not be reached.
func BadGateway(msg string, cause error) *Error {
	e := newError(KindBadGateway, msg)
	e.Err = cause
	return e
}

// Unavailable reports that a store or broker cannot be reached.
func Unavailable(cause error) *Error {
	e := newError(KindUnavailable, "Service unavailable, try again later")
	e.Err = cause
	return e
}

// Internal wraps an unexpected failure; its cause never reaches the client.
func Internal(cause error) *Error {
	e := newError(KindInternal, "Something went wrong")
	e.Err = cause
	return e
}

// From returns err as an *Error, treating anything unclassified as internal.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}

// Is reports whether err is an *Error of the given kind.
func Is(err error, kind Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == kind
}
