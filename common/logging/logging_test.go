package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"ticketing.dev/common/logging"
)

func TestRecordsCarryServiceRequestAndTrace(t *testing.T) {
	var buf bytes.Buffer
	log := logging.NewWithWriter(&buf, "tickets", slog.LevelInfo)
	ctx, span := sdktrace.NewTracerProvider().Tracer("t").Start(logging.WithRequestID(context.Background(), "req-1"), "op")
	defer span.End()
	log.InfoContext(ctx, "hello", "k", "v")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not JSON: %s", buf.String())
	}
	for k, want := range map[string]string{"service": "tickets", "request_id": "req-1", "msg": "hello",
		"trace_id": span.SpanContext().TraceID().String()} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %s", k, rec[k], want)
		}
	}
}
