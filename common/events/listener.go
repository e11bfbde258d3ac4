package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Msg is a decoded event as a handler sees it.
type Msg[T any] struct {
	Data      T
	ID        string // the Nats-Msg-Id it was published with
	Subject   string
	Delivery  uint64 // 1 on first delivery
	Published time.Time
}

// Handler handles one event. Returning nil acknowledges it; Retry asks for a
// redelivery after a delay; Malformed terminates it; any other error is
// retried with backoff until the delivery bound.
type Handler[T any] func(ctx context.Context, msg Msg[T]) error

type retryError struct {
	after time.Duration
	err   error
}

func (e *retryError) Error() string { return fmt.Sprintf("retry in %s: %v", e.after, e.err) }
func (e *retryError) Unwrap() error { return e.err }

// Retry asks for the event to be delivered again after the delay, for a
// condition that time will fix (a version gap, an early expiration). Such
// deliveries do not count as failures: the event is waited out, not dropped.
func Retry(after time.Duration, reason error) error { return &retryError{after: after, err: reason} }

type malformedError struct{ err error }

func (e *malformedError) Error() string { return "malformed event: " + e.err.Error() }
func (e *malformedError) Unwrap() error { return e.err }

// Malformed marks an event that can never be handled: it is terminated.
func Malformed(reason error) error { return &malformedError{err: reason} }

// ListenerOptions tune a listener; the zero value gives the defaults.
type ListenerOptions struct {
	MaxDeliver int           // deliveries of a failing event before giving up (default 100)
	AckWait    time.Duration // time to handle one event before redelivery (default 30s)
	MinBackoff time.Duration // first retry delay after a failure (default 200ms)
	MaxBackoff time.Duration // retry delay cap (default 30s)
}

// serverMaxDeliver is the broker's own bound, a backstop for events that are
// never answered at all (a handler that hangs or crashes the process). Events
// deferred with Retry are redelivered until that bound (about a day at the
// usual delays): a version gap is waited out, not given up.
const serverMaxDeliver = 10_000

func (o *ListenerOptions) defaults() {
	if o.MaxDeliver == 0 {
		o.MaxDeliver = 100
	}
	if o.AckWait == 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 200 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 30 * time.Second
	}
}

func (o *ListenerOptions) backoff(delivery uint64) time.Duration {
	d := o.MinBackoff
	for i := uint64(1); i < delivery && d < o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, o.MaxBackoff)
}

// Listener consumes one subject through a durable consumer. Several
// listeners with the same durable (replicas of a service) share the events.
type Listener struct {
	log    *slog.Logger
	js     jetstream.JetStream
	config jetstream.ConsumerConfig
	handle jetstream.MessageHandler

	mu      sync.Mutex
	cc      jetstream.ConsumeContext
	stopped bool
}

// Listen provisions the durable consumer for topic and starts handling its
// events. Each event is handled once it is decoded; acks follow success.
func Listen[T any](ctx context.Context, js jetstream.JetStream, log *slog.Logger, topic Topic[T],
	durable string, h Handler[T], opts ListenerOptions) (*Listener, error) {
	opts.defaults()
	config := jetstream.ConsumerConfig{
		Durable:       durable,
		FilterSubject: topic.Subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxDeliver:    max(serverMaxDeliver, opts.MaxDeliver),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 1000,
	}
	log = log.With("subject", topic.Subject, "durable", durable)
	tracer := otel.Tracer("ticketing.dev/common/events")
	handle := func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			log.Error("event without metadata, terminating", "err", err)
			_ = m.Term()
			return
		}
		hctx := otel.GetTextMapPropagator().Extract(context.Background(), propagation.HeaderCarrier(http.Header(m.Headers())))
		hctx, span := tracer.Start(hctx, "handle "+topic.Subject, trace.WithSpanKind(trace.SpanKindConsumer))
		defer span.End()
		hctx, cancel := context.WithTimeout(hctx, opts.AckWait)
		defer cancel()

		msg := Msg[T]{
			ID:        m.Headers().Get("Nats-Msg-Id"),
			Subject:   m.Subject(),
			Delivery:  meta.NumDelivered,
			Published: meta.Timestamp,
		}
		if err := json.Unmarshal(m.Data(), &msg.Data); err != nil {
			log.ErrorContext(hctx, "malformed event, terminating", "msg_id", msg.ID, "err", err)
			_ = m.TermWithReason("malformed payload")
			return
		}
		err = h(hctx, msg)
		var retry *retryError
		var malformed *malformedError
		switch {
		case err == nil:
			if err := m.Ack(); err != nil {
				log.WarnContext(hctx, "ack failed; the event will be redelivered", "msg_id", msg.ID, "err", err)
			}
		case errors.As(err, &malformed):
			log.ErrorContext(hctx, "event can never be handled, terminating", "msg_id", msg.ID, "err", err)
			_ = m.TermWithReason(err.Error())
		case errors.As(err, &retry):
			log.DebugContext(hctx, "event deferred", "msg_id", msg.ID, "delivery", meta.NumDelivered, "reason", err)
			_ = m.NakWithDelay(retry.after)
		case int(meta.NumDelivered) >= opts.MaxDeliver:
			log.ErrorContext(hctx, "event failed on its last delivery, giving up", "msg_id", msg.ID,
				"delivery", meta.NumDelivered, "err", err)
			_ = m.TermWithReason("delivery bound reached")
		default:
			delay := opts.backoff(meta.NumDelivered)
			log.WarnContext(hctx, "event failed, will retry", "msg_id", msg.ID, "delivery", meta.NumDelivered,
				"retry_in", delay, "err", err)
			_ = m.NakWithDelay(delay)
		}
	}
	l := &Listener{log: log, js: js, config: config, handle: handle}
	if err := l.start(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// start provisions the durable consumer and consumes from it.
func (l *Listener) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := l.js.CreateOrUpdateConsumer(ctx, StreamName, l.config)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", l.config.Durable, err)
	}
	cc, err := cons.Consume(l.handle, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		l.log.Warn("consume error", "err", err)
		if errors.Is(err, jetstream.ErrConsumerDeleted) {
			go l.restart()
		}
	}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", l.config.Durable, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		cc.Stop()
		return nil
	}
	l.cc = cc
	return nil
}

// restart brings a listener back after its consumer (or the whole stream,
// say after the broker lost its data) was deleted, retrying until it works
// or the listener is stopped.
func (l *Listener) restart() {
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		l.mu.Lock()
		stopped := l.stopped
		l.mu.Unlock()
		if stopped {
			return
		}
		err := EnsureStream(context.Background(), l.js)
		if err == nil {
			if err = l.start(context.Background()); err == nil {
				l.log.Info("listener recreated its consumer")
				return
			}
		}
		l.log.Warn("listener cannot recreate its consumer yet", "err", err, "retry_in", delay)
		time.Sleep(delay)
	}
}

// Stop stops fetching, lets the event in hand finish and returns when the
// listener is closed (or after ten seconds).
func (l *Listener) Stop() {
	l.mu.Lock()
	l.stopped = true
	cc := l.cc
	l.mu.Unlock()
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(10 * time.Second):
		l.log.Warn("listener did not drain in time")
		cc.Stop()
	}
}

// StopAll stops listeners in parallel, so that a service's shutdown waits for
// the slowest drain rather than for the sum of them.
func StopAll(listeners ...*Listener) {
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Go(l.Stop)
	}
	wg.Wait()
}
