package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"ticketing.dev/common/httpx"
	"ticketing.dev/common/server"
	"ticketing.dev/testkit"
)

// A request continues its caller's trace; the probes make no span at all
// (devstack and Kubernetes call them every few seconds).
func TestTracingSkipsProbes(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	r := httpx.NewRouter(testkit.Logger(t), nil)
	server.Health(r, testkit.Logger(t), nil)
	r.Get("/api/things/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, path := range []string{"/healthz", "/readyz", "/api/things/1"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		names := []string{}
		for _, s := range spans {
			names = append(names, s.Name())
		}
		t.Fatalf("spans %v, want only the API request's", names)
	}
	if s := spans[0]; s.Name() != "GET /api/things/{id}" || s.SpanContext().TraceID().String() != traceID {
		t.Fatalf("span %q in trace %s, want GET /api/things/{id} in the caller's trace %s", s.Name(), s.SpanContext().TraceID(), traceID)
	}
}
