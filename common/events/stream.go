package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/config"
)

// StreamName is the one stream that keeps every event; limits retention, so
// each service's durable consumers read it independently.
const StreamName = "TICKETING"

// MaxAge is how long the stream keeps an event. Services may forget what
// guards them against an event older than that (tickets prunes its
// cancelled-order markers), so a dead letter published longer ago than
// MaxAge is not replayed.
const MaxAge = 30 * 24 * time.Hour

// SessionStream keeps the session.revoked events apart from the others:
// every replica reads all of it (Follow), and the permissions that allow
// that read nothing else. Its MaxAge bounds a token's lifetime (auth's
// TOKEN_TTL): a revocation must outlive the token it refuses.
const SessionStream = "SESSIONS"

// StreamOf is the stream a subject is stored in.
func StreamOf(subject string) string {
	if strings.HasPrefix(subject, "session.") {
		return SessionStream
	}
	return StreamName
}

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id.
const DuplicateWindow = 10 * time.Minute

// Connect returns a connection to the NATS servers at url (one URL or a
// comma-separated list of a cluster's) that reconnects forever, also when no
// server answers yet: a service starts before its broker and its events wait
// in the outbox meanwhile. In the background it makes sure the streams exist
// with at least replicas copies, at start and again after every reconnect
// (a server that lost its store comes back without them). opts come last
// (UserOptions: the connection's user).
func Connect(ctx context.Context, url, name string, replicas int, log *slog.Logger, opts ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	keeper := &streamKeeper{log: log, replicas: replicas, wake: make(chan struct{}, 1)}
	nc, err := nats.Connect(url, append([]nats.Option{
		nats.Name(name),
		nats.Timeout(5 * time.Second),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ConnectHandler(func(c *nats.Conn) {
			log.Info("nats connected", "url", c.ConnectedUrlRedacted())
			keeper.poke()
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil on a deliberate Close
				log.Warn("nats disconnected: events wait in the outbox until it is back", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
			keeper.poke()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			// A permissions violation names what this user was refused.
			log.Warn("nats error", "err", err)
		}),
	}, opts...)...)
	if err != nil {
		// Only a malformed URL or option fails here: an absent server is retried.
		return nil, nil, fmt.Errorf("NATS_URL %s: %w", config.MaskURL(url), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	keeper.js = js
	if nc.IsConnected() {
		keeper.poke()
	} else {
		log.Warn("nats not reachable yet; connecting in the background", "url", config.MaskURL(url))
	}
	kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	go keeper.run(kctx)
	nc.SetClosedHandler(func(*nats.Conn) { stop() })
	return nc, js, nil
}

// streamKeeper ensures the streams whenever it is poked (a connect or a
// reconnect), retrying with backoff until the broker accepts.
type streamKeeper struct {
	js       jetstream.JetStream
	log      *slog.Logger
	replicas int
	wake     chan struct{}
}

func (k *streamKeeper) poke() {
	select {
	case k.wake <- struct{}{}:
	default: // already due
	}
}

func (k *streamKeeper) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.wake:
		}
		// Up to 30 s apart: a broker that keeps refusing (three replicas
		// asked of one server) is reported, not flooded.
		for delay := 100 * time.Millisecond; ; delay = min(2*delay, 30*time.Second) {
			err := EnsureStream(ctx, k.js, k.replicas)
			if err == nil {
				k.log.Info("streams ready", "stream", StreamName, "min_replicas", k.replicas)
				break
			}
			if errors.Is(err, nats.ErrConnectionClosed) {
				return
			}
			k.log.Warn("streams not ready yet", "err", err, "retry_in", delay)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
	}
}

// EnsureStream creates or updates the dead-letter stream, the event stream
// and the session stream with at least replicas copies (at least 1). It
// never lowers what is there: an operator who raised a stream to 3 replicas
// keeps them when a pod with a smaller setting starts. The dead-letter
// stream comes first, so that once events can be published (and handled,
// and given up on) there is always somewhere to put the ones given up on.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int) error {
	if err := ensureDeadLetterStream(ctx, js, replicas); err != nil {
		return err
	}
	for _, st := range []struct {
		name     string
		subjects []string
	}{
		{StreamName, []string{"ticket.>", "order.>", "expiration.>", "payment.>"}},
		{SessionStream, []string{"session.>"}},
	} {
		err := ensure(ctx, js, jetstream.StreamConfig{
			Name:       st.name,
			Subjects:   st.subjects,
			Retention:  jetstream.LimitsPolicy,
			Storage:    jetstream.FileStorage,
			MaxAge:     MaxAge,
			Duplicates: DuplicateWindow,
		}, replicas)
		if err != nil {
			return err
		}
	}
	return nil
}

// ensure creates a missing stream with cfg, or updates it to cfg keeping its
// replica count when that is higher than replicas. The count written is
// always read just before: when another process creates the stream first,
// it is read again, never overwritten blindly.
//
// Each stream has ten seconds of its own: a cluster busy electing its
// leaders may take that long for one, and what one call made stays made.
func ensure(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, replicas int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for attempt := 1; ; attempt++ {
		cfg.Replicas = max(replicas, 1)
		s, err := js.Stream(ctx, cfg.Name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			_, err = js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) && attempt < 3 {
				continue // made meanwhile: read what it has
			}
		case err == nil:
			have := s.CachedInfo().Config
			cfg.Replicas = max(cfg.Replicas, have.Replicas)
			if !unchanged(have, cfg) {
				_, err = js.UpdateStream(ctx, cfg)
			}
		}
		if err != nil {
			return fmt.Errorf("stream %s with %d replicas: %w", cfg.Name, cfg.Replicas, err)
		}
		return nil
	}
}

// unchanged reports whether the stream already is what want asks for, in
// every field want sets (a MaxBytes of 0 is the server's -1, no limit).
// Then ensure writes nothing: every start and every listener that makes its
// consumer again would otherwise update all three streams, and nats-server
// 2.15 races a stream update against a consumer being made on the same
// stream (its race detector caught it in TestDeadLettersSurviveAStreamRecreated).
func unchanged(have, want jetstream.StreamConfig) bool {
	maxBytes := want.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return slices.Equal(have.Subjects, want.Subjects) && have.Retention == want.Retention &&
		have.Storage == want.Storage && have.MaxAge == want.MaxAge && have.Duplicates == want.Duplicates &&
		have.Description == want.Description && have.MaxBytes == maxBytes && have.Replicas == want.Replicas
}

// Durable names the durable consumer of a service's listener on a subject,
// e.g. "orders-service-ticket-created": replicas of the service share it.
func Durable(queueGroup, subject string) string {
	return queueGroup + "-" + strings.ReplaceAll(subject, ".", "-")
}

// Ready is a readiness check on the NATS connection.
func Ready(nc *nats.Conn) func(context.Context) error {
	return func(context.Context) error {
		if s := nc.Status(); s != nats.CONNECTED {
			return fmt.Errorf("nats connection is %s", s)
		}
		return nil
	}
}
