package server

import (
	"net/http"
	"sync/atomic"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/httpx"
)

// Gate is a service's handler from its first second: while the service
// connects to its store it answers GET /healthz 200 (alive: no restart),
// GET /readyz 503 naming what it waits for, and anything else 503 with the
// error envelope and Retry-After; once opened it hands every request to the
// service's own handler.
type Gate struct {
	open    atomic.Pointer[http.Handler]
	waiting atomic.Pointer[string]
}

// NewGate returns a closed gate.
func NewGate() *Gate { return &Gate{} }

// Waiting says what the service is waiting for, for /readyz.
func (g *Gate) Waiting(what string) { g.waiting.Store(&what) }

// Open hands every later request to h.
func (g *Gate) Open(h http.Handler) { g.open.Store(&h) }

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := g.open.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	what := "starting"
	if p := g.waiting.Load(); p != nil {
		what = *p
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/healthz":
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case r.Method == http.MethodGet && r.URL.Path == "/readyz":
		httpx.WriteJSON(w, http.StatusServiceUnavailable,
			map[string]any{"status": "starting", "failed": map[string]string{"starting": what}})
	default:
		w.Header().Set("Retry-After", "1")
		httpx.WriteJSON(w, http.StatusServiceUnavailable,
			map[string]any{"errors": []apperr.FieldError{{Message: "Service is starting, try again shortly"}}})
	}
}
