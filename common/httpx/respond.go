// Package httpx holds the HTTP plumbing every service shares: the chi router
// with its middleware, JSON decoding with validation, and the writers for
// responses and for the error envelope.
package httpx

import (
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"ticketing.dev/common/apperr"
)

// HandlerFunc is an http.HandlerFunc that returns its error instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Boundary is the error boundary of a service's API: it adapts handlers so
// that an error one returns is first translated by toHTTP — the service's one
// mapping from the errors of its domain and store packages, which know
// nothing of HTTP, to apperr kinds — and then written as the envelope.
func Boundary(log *slog.Logger, toHTTP func(error) error) func(HandlerFunc) http.HandlerFunc {
	return func(h HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				WriteError(log, w, r, toHTTP(err))
			}
		}
	}
}

// WriteJSON writes v with the status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type envelope struct {
	Errors []apperr.FieldError `json:"errors"`
}

// WriteError writes err as {"errors":[...]} with the status of its kind. The
// cause of a server-side failure goes to the log, never to the client.
func WriteError(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	e := apperr.From(err)
	status := e.Kind.Status()
	if status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
			"status", status, "err", err)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	WriteJSON(w, status, envelope{Errors: e.Messages})
}
