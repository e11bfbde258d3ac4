package events_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"ticketing.dev/common/events"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

func TestTraceContextTravelsInHeaders(t *testing.T) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	tp := sdktrace.NewTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	n := natskit.StartNATS(t)
	ctx := testkit.Context(t)
	got := make(chan trace.SpanContext, 1)
	l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.PaymentCreated, "trace",
		func(ctx context.Context, _ events.Msg[events.PaymentCreatedData]) error {
			got <- trace.SpanContextFromContext(ctx)
			return nil
		}, events.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()

	sctx, span := tp.Tracer("test").Start(ctx, "request")
	if err := events.Publish(sctx, events.NewPublisher(n.JS), events.PaymentCreated, "p1", events.PaymentCreatedData{ID: "p1"}); err != nil {
		t.Fatal(err)
	}
	span.End()
	select {
	case sc := <-got:
		if sc.TraceID() != span.SpanContext().TraceID() {
			t.Fatalf("consumer trace %s, publisher trace %s", sc.TraceID(), span.SpanContext().TraceID())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not delivered")
	}
}
