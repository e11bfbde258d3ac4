package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel"

	"ticketing.dev/common/tracing"
	"ticketing.dev/testkit"
)

// With OTEL_EXPORTER_OTLP_ENDPOINT set, spans reach the collector by the
// time stop returns; without it, nothing is exported.
func TestSetupExportsOnlyWhenConfigured(t *testing.T) {
	var posts atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()

	for _, tt := range []struct {
		name     string
		endpoint string
		want     bool
	}{{"off", "", false}, {"otlp", collector.URL, true}} {
		t.Run(tt.name, func(t *testing.T) {
			posts.Store(0)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", tt.endpoint)
			stop, err := tracing.Setup(context.Background(), "test", testkit.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			_, span := otel.Tracer("t").Start(context.Background(), "op")
			span.End()
			stop()
			if got := posts.Load() > 0; got != tt.want {
				t.Fatalf("exported = %v, want %v", got, tt.want)
			}
		})
	}
}
