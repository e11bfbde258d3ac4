package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/logging"
	"ticketing.dev/common/session"
)

// NewRouter returns a chi router with the shared middleware: request id,
// tracing, access log, metrics (measure), panic recovery, the guard of writes (JSON bodies
// only, no cross-site requests: guardWrites) and the current user; unknown
// routes and methods answer with the error envelope.
func NewRouter(log *slog.Logger, keys *session.Keys) chi.Router {
	r := chi.NewRouter()
	r.Use(withRequestID, tracing, accessLog(log), measure, recoverer(log), guardWrites(log), CurrentUser(keys),
		middleware.GetHead) // HEAD is answered wherever GET is, as Express did
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		WriteError(log, w, r, apperr.RouteNotFound())
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", strings.Join(allowed(r, req.URL.Path), ", "))
		WriteError(log, w, req, apperr.MethodNotAllowed())
	})
	return r
}

// allowed lists the methods the router serves for path, for a 405's Allow.
func allowed(r chi.Router, path string) []string {
	var methods []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if r.Match(chi.NewRouteContext(), m, path) {
			methods = append(methods, m)
		}
	}
	return methods
}

// withRequestID gives each request an id for its log lines and its answer's
// X-Request-Id: the caller's X-Request-Id when it is a plausible one (1–64
// characters of letters, digits and -_.:/, as the ingress and the client
// send), else a new random one, so that nobody outside can put arbitrary
// text, or another request's id, into the logs.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(logging.WithRequestID(r.Context(), id)))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("-_.:/", c):
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// tracing makes a server span of each request, continuing the caller's
// trace (a malformed traceparent starts a new one). Probes are not traced:
// one a second per replica would bury the requests people look for.
func tracing(next http.Handler) http.Handler {
	tracer := otel.Tracer("ticketing.dev/common/httpx")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isProbe(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		next.ServeHTTP(w, r.WithContext(ctx))
		if rc := chi.RouteContext(ctx); rc != nil && rc.RoutePattern() != "" {
			span.SetName(r.Method + " " + rc.RoutePattern())
		}
	})
}

func accessLog(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			level := slog.LevelInfo
			if isProbe(r) {
				level = slog.LevelDebug // probes every few seconds would drown the log
			}
			log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path,
				"status", ww.Status(), "bytes", ww.BytesWritten(), "duration_ms", time.Since(start).Milliseconds())
		})
	}
}

func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
						panic(v)
					}
					trace.SpanFromContext(r.Context()).SetAttributes(attribute.Bool("panic", true))
					WriteError(log, w, r, apperr.Internal(fmt.Errorf("panic: %v", v)))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

type userKey struct{}

// CurrentUser puts the user of a valid session cookie into the request's
// context; an absent or invalid cookie leaves the request anonymous.
//
// A service without sessions (expiration) passes nil keys: every request is
// anonymous.
func CurrentUser(keys *session.Keys) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if keys == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, ok := keys.FromRequest(r); ok {
				r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// UserFrom returns the signed-in user, if any.
func UserFrom(ctx context.Context) (session.User, bool) {
	u, ok := ctx.Value(userKey{}).(session.User)
	return u, ok
}

// RequireAuth answers 401 Not authorized to anonymous requests.
func RequireAuth(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := UserFrom(r.Context()); !ok {
				WriteError(log, w, r, apperr.NotAuthorized())
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// isProbe is a liveness or readiness probe's request: called every few
// seconds, so neither traced nor logged at info.
func isProbe(r *http.Request) bool { return r.URL.Path == "/healthz" || r.URL.Path == "/readyz" }
