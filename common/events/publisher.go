package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Publisher publishes events and waits for JetStream to confirm each one.
type Publisher struct {
	js      jetstream.JetStream
	timeout time.Duration
}

// NewPublisher returns a Publisher on js.
func NewPublisher(js jetstream.JetStream) *Publisher {
	return &Publisher{js: js, timeout: 5 * time.Second}
}

// PublishRaw publishes JSON data on subject with id as Nats-Msg-Id, so a
// repeat within the duplicate window is dropped by the stream, and returns
// once the stream has stored it. The caller's trace context rides along.
func (p *Publisher) PublishRaw(ctx context.Context, subject, id string, data []byte) error {
	ctx, span := otel.Tracer("ticketing.dev/common/events").Start(ctx, "publish "+subject,
		trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()

	// While disconnected the client would buffer the message and the
	// confirmation could never come in time: fail at once, and the outbox
	// keeps the event for the next try.
	if nc := p.js.Conn(); !nc.IsConnected() {
		return fmt.Errorf("publish %s %s: nats connection is %s", subject, id, nc.Status())
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(http.Header(msg.Header)))

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if _, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(StreamOf(subject))); err != nil {
		span.RecordError(err)
		return fmt.Errorf("publish %s %s: %w", subject, id, err)
	}
	return nil
}

// Publish encodes data and publishes it on the topic's subject.
func Publish[T any](ctx context.Context, p *Publisher, topic Topic[T], id string, data T) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s: %w", topic.Subject, err)
	}
	return p.PublishRaw(ctx, topic.Subject, id, b)
}
