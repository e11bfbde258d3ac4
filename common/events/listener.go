package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Msg is a decoded event as a handler sees it.
type Msg[T any] struct {
	Data     T
	ID       string // the Nats-Msg-Id it was published with
	Subject  string
	Delivery uint64 // 1 on first delivery
	// Published is when the event was first published (a replayed dead
	// letter keeps its original time).
	Published time.Time
}

// Handler handles one event. Returning nil acknowledges it; Retry asks for a
// redelivery after a delay; Malformed dead-letters it; any other error is
// retried with backoff until the failure bound, then dead-lettered.
type Handler[T any] func(ctx context.Context, msg Msg[T]) error

type retryError struct {
	after time.Duration
	err   error
}

func (e *retryError) Error() string { return fmt.Sprintf("retry in %s: %v", e.after, e.err) }
func (e *retryError) Unwrap() error { return e.err }

// Retry asks for the event to be delivered again after the delay, for a
// condition that time will fix (a version gap, an early expiration). Such
// deliveries do not count as failures: the event is waited out, up to the
// much larger bound of ListenerOptions.MaxDeliveries.
func Retry(after time.Duration, reason error) error { return &retryError{after: after, err: reason} }

type malformedError struct{ err error }

func (e *malformedError) Error() string { return "malformed event: " + e.err.Error() }
func (e *malformedError) Unwrap() error { return e.err }

// Malformed marks an event that can never be handled: it is dead-lettered.
func Malformed(reason error) error { return &malformedError{err: reason} }

// ListenerOptions tune a listener; the zero value gives the defaults.
type ListenerOptions struct {
	// MaxFailures is how many times an event may fail (an error that is
	// neither Retry nor Malformed) before it is dead-lettered (default 100;
	// with the default backoff about 45 minutes of failures).
	MaxFailures int
	// MaxDeliveries bounds all deliveries, deferrals included (default
	// 10,000: about a day of version-gap waits). An event still unhandled
	// then is dead-lettered; so is one that keeps being delivered without an
	// answer (a handler that crashes its process).
	MaxDeliveries int
	// AckWait is how long the broker waits for news of an event in hand
	// before it hands it to someone else (default 5s). While a handler runs,
	// the listener reports progress every AckWait/3, so a slow handler keeps
	// its event and a dead process loses it within AckWait.
	AckWait time.Duration
	// HandleTimeout bounds one run of the handler (default 2m).
	HandleTimeout time.Duration
	MinBackoff    time.Duration // first retry delay after a failure (default 200ms)
	MaxBackoff    time.Duration // retry delay cap (default 30s)
	// Concurrency is how many events the listener has in hand at once
	// (default 4), each fetched only when one of its workers is free.
	// Handlers are idempotent and ordered by version (a gap is deferred),
	// so events of different documents need not wait for each other; 1
	// handles strictly one at a time.
	Concurrency int
}

func (o *ListenerOptions) defaults() {
	if o.MaxFailures <= 0 {
		o.MaxFailures = 100
	}
	if o.MaxDeliveries <= 0 {
		o.MaxDeliveries = 10_000
	}
	if o.AckWait <= 0 {
		o.AckWait = 5 * time.Second
	}
	if o.HandleTimeout <= 0 {
		o.HandleTimeout = 2 * time.Minute
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
}

func (o *ListenerOptions) backoff(failures int) time.Duration {
	d := o.MinBackoff
	for i := 1; i < failures && d < o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, o.MaxBackoff)
}

// Listener consumes one subject through a durable consumer with
// ListenerOptions.Concurrency workers, each holding one event at a time: a
// worker fetches the next event only when the one in hand is answered, so
// no event waits in a local buffer while its AckWait runs out (a buffered
// event would be redelivered, and handled twice, behind a slow one).
// Several listeners with the same durable (replicas of a service) share the
// events.
type Listener struct {
	log    *slog.Logger
	js     jetstream.JetStream
	config jetstream.ConsumerConfig
	opts   ListenerOptions
	handle func(ctx context.Context, m jetstream.Msg)

	failures failureCounts
	// replicas is the stream's replica count when last seen, so that a
	// stream the broker lost is made again as it was.
	replicas atomic.Int32

	stop     context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

// Listen provisions the durable consumer for topic and starts handling its
// events. Each event is handled once it is decoded; acks follow success.
func Listen[T any](ctx context.Context, js jetstream.JetStream, log *slog.Logger, topic Topic[T],
	durable string, h Handler[T], opts ListenerOptions) (*Listener, error) {
	opts.defaults()
	l := &Listener{
		log: log.With("subject", topic.Subject, "durable", durable),
		js:  js,
		config: jetstream.ConsumerConfig{
			Durable:       durable,
			FilterSubject: topic.Subject,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       opts.AckWait,
			// The broker never gives up on an event by itself: it would do so
			// silently. The listener dead-letters at its own bounds instead.
			MaxDeliver:    -1,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			MaxAckPending: 1000,
		},
		opts:     opts,
		failures: failureCounts{m: map[uint64]failure{}},
	}
	tracer := otel.Tracer("ticketing.dev/common/events")
	l.handle = func(hctx context.Context, m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			l.log.Error("event without metadata, terminating", "err", err)
			_ = m.Term()
			return
		}
		hctx = otel.GetTextMapPropagator().Extract(hctx, propagation.HeaderCarrier(http.Header(m.Headers())))
		hctx, span := tracer.Start(hctx, "handle "+topic.Subject, trace.WithSpanKind(trace.SpanKindConsumer))
		defer span.End()
		msg := Msg[T]{
			ID:        m.Headers().Get(nats.MsgIdHdr),
			Subject:   m.Subject(),
			Delivery:  meta.NumDelivered,
			Published: firstPublished(m.Headers(), meta.Timestamp),
		}
		if int(meta.NumDelivered) > l.opts.MaxDeliveries {
			l.deadLetter(hctx, m, meta, fmt.Sprintf("delivered %d times without being handled", meta.NumDelivered-1))
			return
		}
		if err := json.Unmarshal(m.Data(), &msg.Data); err != nil {
			l.deadLetter(hctx, m, meta, "malformed payload: "+err.Error())
			return
		}
		l.answer(hctx, m, meta, msg.ID, l.run(hctx, m, func(ctx context.Context) error { return h(ctx, msg) }))
	}
	// A broker that answers and refuses the consumer is a mistake to report
	// now; one that does not answer yet (starting, electing a leader, the
	// stream not made yet) is waited for in the background.
	// Without a connection a request would wait out its whole timeout:
	// go to the background at once, so the service's start-up does not.
	err := errNotConnected
	if js.Conn().IsConnected() {
		err = l.provision(ctx)
	}
	if err != nil && !unanswered(err) {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	l.done = make(chan struct{})
	lag.add(l)
	go func() {
		defer close(l.done)
		defer lag.remove(l)
		if err != nil && !l.provisionUntilDone(lctx, err) {
			return
		}
		var workers sync.WaitGroup
		for range opts.Concurrency {
			workers.Go(func() { l.loop(lctx) })
		}
		workers.Wait()
	}()
	return l, nil
}

// run runs the handler, telling the broker every AckWait/3 that the event is
// still in hand.
func (l *Listener) run(ctx context.Context, m jetstream.Msg, h func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, l.opts.HandleTimeout)
	defer cancel()
	beat, beating := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(beating)
		t := time.NewTicker(l.opts.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-beat:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	start := time.Now()
	err := h(ctx)
	handleDuration.WithLabelValues(l.config.Durable).Observe(time.Since(start).Seconds())
	// No progress report may follow the answer: a late one would restart
	// AckWait and override a NakWithDelay.
	close(beat)
	<-beating
	return err
}

// answer acks, defers, retries or dead-letters the event after its handler ran.
func (l *Listener) answer(ctx context.Context, m jetstream.Msg, meta *jetstream.MsgMetadata, id string, err error) {
	seq := meta.Sequence.Stream
	var retry *retryError
	var malformed *malformedError
	switch {
	case err == nil:
		l.failures.forget(seq)
		eventsHandled.WithLabelValues(l.config.Durable, outcomeHandled).Inc()
		if err := m.Ack(); err != nil {
			l.log.WarnContext(ctx, "ack failed; the event will be redelivered", "msg_id", id, "err", err)
		}
	case errors.As(err, &malformed):
		l.deadLetter(ctx, m, meta, err.Error())
	case errors.As(err, &retry):
		eventsHandled.WithLabelValues(l.config.Durable, outcomeDeferred).Inc()
		l.log.DebugContext(ctx, "event deferred", "msg_id", id, "delivery", meta.NumDelivered, "reason", err)
		_ = m.NakWithDelay(retry.after)
	default:
		eventsHandled.WithLabelValues(l.config.Durable, outcomeFailed).Inc()
		failures := l.failures.add(seq)
		if failures >= l.opts.MaxFailures {
			l.deadLetter(ctx, m, meta, fmt.Sprintf("failed %d times, last: %v", failures, err))
			return
		}
		delay := l.opts.backoff(failures)
		l.log.WarnContext(ctx, "event failed, will retry", "msg_id", id, "delivery", meta.NumDelivered,
			"failures", failures, "retry_in", delay, "err", err)
		_ = m.NakWithDelay(delay)
	}
}

// deadLetter copies the event to the dead-letter stream and only then
// terminates it, so an event is never dropped without a copy; when the copy
// cannot be stored the event is redelivered later and tried again.
func (l *Listener) deadLetter(ctx context.Context, m jetstream.Msg, meta *jetstream.MsgMetadata, reason string) {
	err := publishDeadLetter(ctx, l.js, m, meta, l.config.Durable, reason)
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		// The dead-letter stream is gone (the broker lost it): make it again.
		if err = ensureDeadLetterStream(ctx, l.js, int(l.replicas.Load())); err == nil {
			err = publishDeadLetter(ctx, l.js, m, meta, l.config.Durable, reason)
		}
	}
	if err != nil {
		l.log.ErrorContext(ctx, "dead-lettering failed; the event will be redelivered", "err", err)
		_ = m.NakWithDelay(l.opts.MaxBackoff)
		return
	}
	l.failures.forget(meta.Sequence.Stream)
	eventsHandled.WithLabelValues(l.config.Durable, outcomeTerminated).Inc()
	total := deadLetters.Add(1)
	l.log.ErrorContext(ctx, "event dead-lettered", "msg_id", m.Headers().Get(nats.MsgIdHdr),
		"stream_seq", meta.Sequence.Stream, "delivery", meta.NumDelivered, "reason", reason,
		"dead_letters_total", total)
	_ = m.TermWithReason(reason)
}

var errNotConnected = errors.New("nats is not connected yet")

// provision creates (or updates) the durable consumer, and the streams if
// the broker lost them after this listener saw them (with as many replicas
// as they had then). Streams it never saw are the connection's keeper's to
// make (events.Connect), with the configured replicas: until then this
// fails with ErrStreamNotFound, which the caller retries.
func (l *Listener) provision(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := l.js.CreateOrUpdateConsumer(ctx, StreamName, l.config)
	if errors.Is(err, jetstream.ErrStreamNotFound) && l.replicas.Load() > 0 {
		if err = EnsureStream(ctx, l.js, int(l.replicas.Load())); err == nil {
			_, err = l.js.CreateOrUpdateConsumer(ctx, StreamName, l.config)
		}
	}
	if err != nil {
		return fmt.Errorf("consumer %s: %w", l.config.Durable, err)
	}
	if s, err := l.js.Stream(ctx, StreamName); err == nil {
		l.replicas.Store(int32(s.CachedInfo().Config.Replicas))
	}
	return nil
}

// unanswered tells a broker that is not there yet (no server, no JetStream
// answering, a cluster electing its leader, the stream not made yet) from
// one that answered and refused.
func unanswered(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, errNotConnected):
		return true
	case errors.As(err, &apiErr):
		return apiErr.Code == 503 || apiErr.Code == 504 // "temporarily unavailable"
	default:
		// Timeouts, no responders, a connection not (yet) up.
		return true
	}
}

// provisionUntilDone retries provisioning with backoff until it works (true)
// or the listener is stopped (false).
func (l *Listener) provisionUntilDone(ctx context.Context, err error) bool {
	for delay := 100 * time.Millisecond; err != nil; delay = min(2*delay, 5*time.Second) {
		l.log.Warn("listener waiting for the broker", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
		err = l.provision(ctx)
	}
	l.log.Info("listener provisioned its consumer")
	return true
}

// loop is one worker: it fetches and handles one event at a time until
// stopped. A failed
// fetch (the broker restarting, the consumer or the stream deleted) is
// followed by provisioning the consumer again, with backoff.
func (l *Listener) loop(ctx context.Context) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		cons, err := l.js.Consumer(ctx, StreamName, l.config.Durable)
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			err = l.provision(ctx)
			if err == nil {
				l.log.Info("listener recreated its consumer")
				continue
			}
		}
		if err == nil {
			var fetched bool
			fetched, err = l.consume(ctx, cons)
			if fetched {
				delay = 100 * time.Millisecond // it worked for a while: a new outage starts afresh
			}
		}
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("listener cannot fetch events yet", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}

// consume handles events from cons until a fetch fails for another reason
// than an idle wait; fetched tells whether any fetch worked before.
func (l *Listener) consume(ctx context.Context, cons jetstream.Consumer) (fetched bool, err error) {
	for ; ; fetched = true {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := cons.Next(jetstream.FetchContext(fctx))
		cancel()
		switch {
		case ctx.Err() != nil:
			if m != nil {
				// Fetched as the listener stopped: let it go back at once.
				_ = m.Nak()
			}
			return fetched, ctx.Err()
		case err == nil:
			// The handler is not cancelled by Stop: an event in hand is finished.
			l.handle(context.WithoutCancel(ctx), m)
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
			// Nothing to do for a while; ask again.
		default:
			return fetched, err
		}
	}
}

// Stop stops fetching, lets the event in hand finish and returns when the
// listener is closed (or after ten seconds).
func (l *Listener) Stop() {
	l.stopOnce.Do(l.stop)
	select {
	case <-l.done:
	case <-time.After(10 * time.Second):
		l.log.Warn("listener did not finish its event in time")
	}
}

// failureCounts counts the failed deliveries of the events a listener is
// retrying, by stream sequence. They are kept in memory: after a restart
// an event starts counting again, so the bound is only ever later, never
// earlier, and MaxDeliveries still ends it.
type failureCounts struct {
	mu sync.Mutex
	m  map[uint64]failure
}

type failure struct {
	n    int
	last time.Time
}

// forgetAfter drops the count of an event that has not failed here for this
// long (another replica handled it, or it was deleted).
const forgetAfter = time.Hour

func (f *failureCounts) add(seq uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if len(f.m) >= 1000 {
		for s, e := range f.m {
			if now.Sub(e.last) > forgetAfter {
				delete(f.m, s)
			}
		}
	}
	e := f.m[seq]
	e.n++
	e.last = now
	f.m[seq] = e
	return e.n
}

func (f *failureCounts) forget(seq uint64) {
	f.mu.Lock()
	delete(f.m, seq)
	f.mu.Unlock()
}

// Group is a service's listeners: it names each durable consumer once, from
// the service's queue group and the subject ("orders-service" and
// "ticket.updated" give "orders-service-ticket-updated"), and stops them all
// at once.
type Group struct {
	js         jetstream.JetStream
	log        *slog.Logger
	queueGroup string
	running    []*Listener
}

// NewGroup returns an empty group for the service's queue group.
func NewGroup(js jetstream.JetStream, log *slog.Logger, queueGroup string) *Group {
	return &Group{js: js, log: log, queueGroup: queueGroup}
}

// Subscribe starts a listener of the group on topic (a function, not a
// method: Go methods take no type parameters). Options, when given, tune
// that listener.
func Subscribe[T any](ctx context.Context, g *Group, topic Topic[T], h Handler[T], opts ...ListenerOptions) error {
	var o ListenerOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	// A service's listeners are the ones its permissions (Services) allow:
	// any other would be refused by the broker, so say so at once.
	if svc := serviceOfQueueGroup(g.queueGroup); svc != "" && !slices.Contains(Services[svc].Listens, topic.Subject) {
		return fmt.Errorf("listener %s of %s: not in events.Services[%q].Listens, so its NATS user may not consume it",
			topic.Subject, g.queueGroup, svc)
	}
	l, err := Listen(ctx, g.js, g.log, topic, Durable(g.queueGroup, topic.Subject), h, o)
	if err != nil {
		return err
	}
	g.running = append(g.running, l)
	return nil
}

// Stop drains every listener of the group in parallel, so that a service's
// shutdown waits for the slowest drain rather than for the sum of them:
// events in hand are finished and answered, no new ones are taken.
func (g *Group) Stop() {
	var wg sync.WaitGroup
	for _, l := range g.running {
		wg.Go(l.Stop)
	}
	wg.Wait()
}
