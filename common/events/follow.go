package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Follower hands every event of one topic to this process: first all its
// stream holds, then each new one. Unlike Listen, where the replicas of a
// service share a durable and each event goes to one of them, every replica
// follows on its own (an ordered consumer, no acks): what a deny list in
// memory needs. Applying an event must be idempotent (a restart replays the
// stream) and order-free.
type Follower struct {
	stream, subject string
	loaded          atomic.Bool
	stop            context.CancelFunc
	done            chan struct{}
}

// Follow starts following topic in the background, retrying with backoff
// while no broker answers or the stream does not exist yet (the connection's
// keeper makes it). handle is called from one goroutine, in stream order.
func Follow[T any](js jetstream.JetStream, log *slog.Logger, topic Topic[T], handle func(T)) *Follower {
	ctx, stop := context.WithCancel(context.Background())
	f := &Follower{stream: StreamOf(topic.Subject), subject: topic.Subject, stop: stop, done: make(chan struct{})}
	log = log.With("subject", topic.Subject, "stream", f.stream)
	apply := func(data []byte) {
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			// Nothing to apply and nobody to hand it back to: say so.
			log.Error("follow: malformed event skipped", "err", err)
			return
		}
		handle(v)
	}
	go func() {
		defer close(f.done)
		var next uint64 // the stream sequence to resume at; 0: from the start
		for delay := 100 * time.Millisecond; ctx.Err() == nil; delay = min(2*delay, 30*time.Second) {
			err := f.follow(ctx, js, &next, apply)
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, nats.ErrConnectionClosed) {
				return
			}
			log.Warn("follow: not following yet", "err", err, "retry_in", delay)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
	}()
	return f
}

// follow reads the stream until ctx ends. *next advances with each event so
// that a new attempt resumes after the last one applied.
func (f *Follower) follow(ctx context.Context, js jetstream.JetStream, next *uint64, apply func([]byte)) error {
	s, err := js.Stream(ctx, f.stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", f.stream, err)
	}
	// Loaded once what the stream held at this moment has been applied.
	var target uint64
	if st := s.CachedInfo().State; st.Msgs > 0 {
		target = st.LastSeq
	}
	if target < max(*next, 1) {
		f.loaded.Store(true)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{f.subject}}
	if *next > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, *next
	}
	cons, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("ordered consumer on %s: %w", f.stream, err)
	}
	var mu sync.Mutex // the ordered consumer calls back from one goroutine; next is read after Stop
	cc, err := cons.Consume(func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			return
		}
		apply(m.Data())
		mu.Lock()
		*next = meta.Sequence.Stream + 1
		mu.Unlock()
		if meta.Sequence.Stream >= target || meta.NumPending == 0 {
			f.loaded.Store(true)
		}
	})
	if err != nil {
		return fmt.Errorf("consume %s: %w", f.stream, err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	mu.Lock()
	defer mu.Unlock()
	return ctx.Err()
}

// Loaded is a readiness check: nil once everything the stream held when
// following began has been applied.
func (f *Follower) Loaded(context.Context) error {
	if f.loaded.Load() {
		return nil
	}
	return fmt.Errorf("%s not read yet from stream %s", f.subject, f.stream)
}

// Stop ends following and waits for the last event in hand.
func (f *Follower) Stop() {
	f.stop()
	<-f.done
}
