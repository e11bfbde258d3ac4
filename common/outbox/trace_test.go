package outbox_test

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
)

// An event keeps the trace of the write that stored it, through the
// document: the relay's publish, however much later and from whichever
// replica (here a sweep, not the writer's Notify), is a child of that
// write's span, in its trace.
func TestRelayContinuesTheTraceOfTheWrite(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prev); otel.SetTextMapPropagator(prevProp) })

	ctx := testkit.Context(t)
	coll := mongokit.Mongo(t).Collection("tickets")
	n := natskit.StartNATS(t)
	published := natskit.Record(t, n.JS, events.TicketUpdated)

	writeCtx, write := otel.Tracer("test").Start(ctx, "PUT /api/tickets/{id}")
	id := bson.NewObjectID()
	d := doc{ID: id, Title: "a"}
	d.Add(writeCtx, ticketEvent(t, id, 0, "a"))
	if _, err := coll.InsertOne(writeCtx, d); err != nil {
		t.Fatal(err)
	}
	upd := outbox.Update(writeCtx, bson.D{{Key: "$set", Value: bson.D{{Key: "title", Value: "b"}}}}, ticketEvent(t, id, 1, "b"))
	if _, err := coll.UpdateOne(writeCtx, bson.D{{Key: "_id", Value: id}}, upd); err != nil {
		t.Fatal(err)
	}
	write.End()

	relay := outbox.NewRelay(coll, events.NewPublisher(n.JS), testkit.Logger(t), time.Hour)
	if err := relay.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	published.WaitFor(t, 2, 10*time.Second)
	var publishes int
	for _, s := range rec.Ended() {
		if s.Name() != "publish "+events.TicketUpdated.Subject {
			continue
		}
		publishes++
		if s.SpanContext().TraceID() != write.SpanContext().TraceID() || s.Parent().SpanID() != write.SpanContext().SpanID() {
			t.Errorf("publish span in trace %s under %s, want the write's trace %s under its span %s",
				s.SpanContext().TraceID(), s.Parent().SpanID(), write.SpanContext().TraceID(), write.SpanContext().SpanID())
		}
	}
	if publishes != 2 {
		t.Fatalf("%d publish spans, want 2", publishes)
	}
}
