// Package server runs a service's HTTP server with health and readiness
// probes and shuts it down gracefully when its context ends (SIGTERM).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/httpx"
)

// Check reports whether a dependency is reachable.
type Check func(ctx context.Context) error

// ErrDegraded marks the failure of a check the service works without for a
// while (see Degraded).
var ErrDegraded = errors.New("degraded")

// Degraded wraps a check whose failure leaves the service ready but
// degraded: the broker, whose events wait in the outbox meanwhile. /readyz
// then answers 200 and names it under "degraded", so that an outage of a
// shared dependency does not take every replica out of its Service.
func Degraded(check Check) Check {
	return func(ctx context.Context) error {
		if err := check(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrDegraded, err)
		}
		return nil
	}
}

// Health mounts GET /healthz (the process is alive) and GET /readyz (every
// check passes within two seconds; otherwise 503 naming the failing ones,
// or 200 naming the degraded ones when only Degraded checks fail).
func Health(r chi.Router, log *slog.Logger, checks map[string]Check) {
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		failed, degraded := map[string]string{}, map[string]string{}
		for name, check := range checks {
			switch err := check(ctx); {
			case err == nil:
			case errors.Is(err, ErrDegraded):
				degraded[name] = err.Error()
			default:
				failed[name] = err.Error()
			}
		}
		switch {
		case len(failed) > 0:
			log.WarnContext(r.Context(), "not ready", "failed", failed, "degraded", degraded)
			httpx.WriteJSON(w, http.StatusServiceUnavailable,
				map[string]any{"status": "unavailable", "failed": failed, "degraded": degraded})
		case len(degraded) > 0:
			log.WarnContext(r.Context(), "ready but degraded", "degraded", degraded)
			httpx.WriteJSON(w, http.StatusOK, map[string]any{"status": "degraded", "degraded": degraded})
		default:
			httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		}
	})
}

// ShutdownTimeout bounds how long in-flight requests may take after SIGTERM.
const ShutdownTimeout = 15 * time.Second

// Serve serves h on ln until ctx ends, then stops accepting connections and
// waits for in-flight requests.
func Serve(ctx context.Context, log *slog.Logger, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		log.Info("http server listening", "addr", ln.Addr().String())
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		// The listener failed: end the connections still open too, so no
		// handler outlives the stores it uses.
		_ = srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("http server shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // requests still running after ShutdownTimeout are cut
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
			log.Warn("http server", "err", serr)
		}
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
