// Package service is the skeleton every service's main.go follows, so that
// knowing one service's start-up is knowing them all. config.go holds the
// service's Config, its loader and what it needs; main.go wires:
//
//	func main() { service.Main(name, loadConfig, run) }
//
//	func run(ctx context.Context, log *slog.Logger, cfg Config, conns *service.Conns) error {
//		… store, outbox relay, listeners, sweeps, each stopped by defer …
//		return conns.Serve(ctx, handler)
//	}
//
// Main reads and logs the configuration, listens on the service's address
// at once (probes answer while it starts), waits for its store (retrying
// with backoff, never exiting for it), connects to NATS in the background,
// runs, and closes the connections in reverse; the service's packages do
// the work.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/config"
	"ticketing.dev/common/events"
	"ticketing.dev/common/logging"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/server"
	"ticketing.dev/common/session"
	"ticketing.dev/common/tracing"
)

// Config is a service's configuration: it says what the service connects
// to and where it listens.
type Config interface {
	Needs() Needs
	Addr() string
}

// Main runs a service as a process: a JSON logger named for it, a context
// that SIGINT and SIGTERM cancel (the service then shuts down gracefully),
// and Run. An error is logged and ends the process with status 1; a
// configuration error is also printed on stderr, for the person starting it.
func Main[C Config](name string, load func(r *config.Reader) C, run func(context.Context, *slog.Logger, C, *Conns) error) {
	log := logging.New(name)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := Run(ctx, log, name, load, run)
	stop()
	if err == nil {
		return
	}
	if errors.Is(err, config.ErrInvalid) {
		fmt.Fprintln(os.Stderr, err)
	}
	log.Error(name+" stopped", "err", err)
	os.Exit(1)
}

// Run reads the configuration with load (every variable through the
// config.Reader it is given), logs it once with secrets masked, listens on
// the service's address (a Gate answers the probes meanwhile), opens what it
// needs, and calls run until ctx ends; the connections are closed when run
// returns. A configuration error names each missing or invalid variable.
// Tests call Run to start the real service.
func Run[C Config](ctx context.Context, log *slog.Logger, name string, load func(r *config.Reader) C,
	run func(context.Context, *slog.Logger, C, *Conns) error) error {
	r := config.FromEnv()
	r.String("LOG_LEVEL", "info") // read by logging.New; listed in the start-up line
	pprofAddr := r.String("PPROF_ADDR", "")
	// METRICS_ADDR is where Prometheus scrapes /metrics: a port of its own,
	// which the ingress never routes to.
	metricsAddr := r.String("METRICS_ADDR", ":9090")
	// LISTEN_HOST narrows where the service listens (devstack: 127.0.0.1);
	// unset, every interface, as a pod needs.
	listenHost := r.String("LISTEN_HOST", "")
	cfg := load(r)
	needs := cfg.Needs()
	if needs.NATSURL != "" {
		// The event streams' replica count; never lowered on a stream that
		// has more (an operator's choice stands).
		needs.StreamReplicas = r.Int("NATS_STREAM_REPLICAS", 1, 1, 5)
		// The service's own NATS user (events.Services gives its
		// permissions); unset, a broker without authentication.
		needs.NATSUser = r.String("NATS_USER", "")
		needs.NATSPassword = r.OptionalSecret("NATS_PASSWORD")
		if (needs.NATSUser == "") != (needs.NATSPassword == "") {
			r.Problem("NATS_USER and NATS_PASSWORD go together")
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	log.Info("starting", "config", r.Describe())
	if pprofAddr != "" {
		at, stop, err := server.Pprof(pprofAddr)
		if errors.Is(err, server.ErrNotLoopback) {
			return fmt.Errorf("%w: PPROF_ADDR: %w", config.ErrInvalid, err)
		}
		if err != nil {
			return fmt.Errorf("PPROF_ADDR: %w", err)
		}
		defer stop()
		log.Info("profiler listening", "addr", "http://"+at.String()+"/debug/pprof/")
	}
	if h, p, err := net.SplitHostPort(metricsAddr); err == nil && h == "" && listenHost != "" {
		metricsAddr = net.JoinHostPort(listenHost, p)
	}
	mAddr, stopMetrics, err := server.Metrics(metricsAddr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR %q: %w", metricsAddr, err)
	}
	defer stopMetrics()
	log.Info("metrics listening", "addr", "http://"+mAddr.String()+"/metrics")
	addr := cfg.Addr()
	if listenHost != "" {
		_, port, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort(listenHost, port)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if listenHost != "" {
			return fmt.Errorf("LISTEN_HOST %q: %w", listenHost, err)
		}
		return err
	}
	sctx, stopServing := context.WithCancel(ctx)
	gate := server.NewGate()
	served := make(chan error, 1)
	go func() { served <- server.Serve(sctx, log, ln, gate) }()
	// Whatever ends run (a signal, an error), the server has stopped
	// before the connections close.
	defer func() {
		stopServing()
		if err := <-served; err != nil {
			log.Warn("http server stopped with an error", "err", err)
		}
	}()

	conns, err := Open(ctx, log, name, needs, gate)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while waiting: a clean stop
		}
		return err
	}
	conns.serving, conns.stopServing = served, stopServing
	defer conns.Close()
	return run(ctx, log, cfg, conns)
}

// Needs names what a service connects to; an empty URL means none.
type Needs struct {
	MongoURI string // the database is the URI's path, else the service's name
	NATSURL  string
	// StreamReplicas is the least replica count of the event streams
	// (NATS_STREAM_REPLICAS, read by Run when NATSURL is set).
	StreamReplicas int
	// NATSUser and NATSPassword are the service's NATS credentials
	// (NATS_USER, NATS_PASSWORD; read by Run when NATSURL is set).
	NATSUser, NATSPassword string
}

// Conns are a service's open connections, and its HTTP server's gate.
type Conns struct {
	Mongo *mongo.Client
	DB    *mongo.Database
	NATS  *nats.Conn
	JS    jetstream.JetStream
	// Checks are the readiness checks of the connections, for /readyz: the
	// service's own store (a service adds its own: expiration's Redis), and
	// NATS as server.Degraded (its outage is absorbed by the outbox).
	Checks map[string]server.Check

	log         *slog.Logger
	gate        *server.Gate
	serving     chan error
	stopServing context.CancelFunc
	closers     []func()
}

// Open sets up tracing (exporting only when OTEL_EXPORTER_OTLP_ENDPOINT is
// set) and opens what needs names, in that order: it waits until MongoDB
// answers (retrying with backoff until ctx ends, naming what it waits for on
// gate) and connects to NATS in the background. Close releases them in
// reverse. gate may be nil.
func Open(ctx context.Context, log *slog.Logger, name string, needs Needs, gate *server.Gate) (*Conns, error) {
	if gate == nil {
		gate = server.NewGate()
	}
	c := &Conns{Checks: map[string]server.Check{}, log: log, gate: gate}
	stopTracing, err := tracing.Setup(ctx, name, log)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	c.closers = append(c.closers, stopTracing)
	if needs.MongoURI != "" {
		if c.Mongo, c.DB, err = mongodb.Connect(needs.MongoURI, name); err != nil {
			c.Close()
			return nil, err
		}
		client := c.Mongo
		c.closers = append(c.closers, func() {
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = client.Disconnect(dctx)
		})
		c.Checks["mongodb"] = mongodb.Ping(client)
		if err := c.WaitFor(ctx, "mongodb", c.Checks["mongodb"]); err != nil {
			c.Close()
			return nil, err
		}
	}
	if needs.NATSURL != "" {
		if c.NATS, c.JS, err = events.Connect(ctx, needs.NATSURL, name, needs.StreamReplicas, log,
			events.UserOptions(needs.NATSUser, needs.NATSPassword)...); err != nil {
			c.Close()
			return nil, err
		}
		c.closers = append(c.closers, c.NATS.Close)
		c.Checks["nats"] = server.Degraded(events.Ready(c.NATS))
	}
	return c, nil
}

// Sessions returns the Keys that verify the session cookie with jwtKey and
// refuse signed-out sessions: this replica follows every session.revoked
// event (events.Follow) into the Keys' deny list, from the start of the
// session stream. Until it has read what the stream held, /readyz reports
// "sessions" as degraded: a replica that starts while NATS is unreachable
// serves, and cannot yet know older sign-outs (the tokens still expire).
func (c *Conns) Sessions(jwtKey string) *session.Keys {
	keys := session.NewKeys(jwtKey)
	if c.JS == nil {
		return keys
	}
	revoked := keys.Revocations()
	f := events.Follow(c.JS, c.log, events.SessionRevoked, func(d events.SessionRevokedData) {
		revoked.Revoke(d.SessionID, d.ExpiresAt)
	})
	c.closers = append(c.closers, f.Stop)
	c.Checks["sessions"] = server.Degraded(f.Loaded)
	return keys
}

// WaitFor runs check until it passes, with backoff (100 ms doubling to 5 s),
// logging each failure and saying on /readyz what the service waits for. It
// returns only when check passes (nil) or ctx ends (its error).
func (c *Conns) WaitFor(ctx context.Context, what string, check server.Check) error {
	for attempt, delay := 1, 100*time.Millisecond; ; attempt, delay = attempt+1, min(2*delay, 5*time.Second) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(cctx)
		cancel()
		if err == nil {
			c.gate.Waiting("starting")
			if attempt > 1 {
				c.log.Info(what+" is reachable", "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.gate.Waiting("waiting for " + what + ": " + err.Error())
		c.log.Warn("waiting for "+what, "attempt", attempt, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// Serve hands the service's requests to h (the server has listened since
// start-up) and returns when ctx has ended and in-flight requests are done,
// or when the server failed.
func (c *Conns) Serve(ctx context.Context, h http.Handler) error {
	if c.serving == nil {
		return errors.New("service: Serve without Run")
	}
	c.gate.Open(h)
	select {
	case err := <-c.serving:
		c.serving <- err // Run's deferred wait reads it again
		if ctx.Err() == nil {
			return fmt.Errorf("http server: %w", err)
		}
		return err
	case <-ctx.Done():
	}
	c.stopServing() // ctx may be run's own, ended before Run's
	err := <-c.serving
	c.serving <- err
	return err
}

// Close releases the connections in reverse order of opening.
func (c *Conns) Close() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
	c.closers = nil
}
