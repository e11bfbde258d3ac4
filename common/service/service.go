// Package service is the skeleton every service's main.go follows, so that
// knowing one service's start-up is knowing them all. config.go holds the
// service's Config, its loader and what it needs; main.go wires:
//
//	func main() { service.Main(name, loadConfig, run) }
//
//	func run(ctx context.Context, log *slog.Logger, cfg Config, conns *service.Conns) error {
//		… store, outbox relay, listeners, sweeps, each stopped by defer …
//		return server.Run(ctx, log, cfg.Addr(), handler)
//	}
//
// Main reads and logs the configuration, connects (tracing, MongoDB, NATS),
// runs, and closes the connections in reverse; the service's packages do
// the work.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	"ticketing.dev/common/tracing"
)

// Config is a service's configuration: it says what the service connects to.
type Config interface {
	Needs() Needs
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
// config.Reader it is given), logs it once with secrets masked, opens what
// it needs, and calls run until ctx ends; the connections are closed when run
// returns. A configuration error names each missing or invalid variable.
// Tests call Run to start the real service.
func Run[C Config](ctx context.Context, log *slog.Logger, name string, load func(r *config.Reader) C,
	run func(context.Context, *slog.Logger, C, *Conns) error) error {
	r := config.FromEnv()
	r.String("LOG_LEVEL", "info") // read by logging.New; listed in the start-up line
	pprofAddr := r.String("PPROF_ADDR", "")
	cfg := load(r)
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
	conns, err := Open(ctx, log, name, cfg.Needs())
	if err != nil {
		return err
	}
	defer conns.Close()
	return run(ctx, log, cfg, conns)
}

// Needs names what a service connects to; an empty URL means none.
type Needs struct {
	MongoURI string // the database is the URI's path, else the service's name
	NATSURL  string
}

// Conns are a service's open connections.
type Conns struct {
	Mongo *mongo.Client
	DB    *mongo.Database
	NATS  *nats.Conn
	JS    jetstream.JetStream
	// Checks are the readiness checks of the connections, for /readyz; a
	// service adds its own (expiration's Redis).
	Checks map[string]server.Check

	closers []func()
}

// Open sets up tracing (exporting only when OTEL_EXPORTER_OTLP_ENDPOINT is
// set) and opens what needs names, in that order. Close releases them in
// reverse.
func Open(ctx context.Context, log *slog.Logger, name string, needs Needs) (*Conns, error) {
	c := &Conns{Checks: map[string]server.Check{}}
	stopTracing, err := tracing.Setup(ctx, name, log)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	c.closers = append(c.closers, stopTracing)
	if needs.MongoURI != "" {
		if c.Mongo, c.DB, err = mongodb.Connect(ctx, needs.MongoURI, name); err != nil {
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
	}
	if needs.NATSURL != "" {
		if c.NATS, c.JS, err = events.Connect(ctx, needs.NATSURL, name, log); err != nil {
			c.Close()
			return nil, err
		}
		c.closers = append(c.closers, c.NATS.Close)
		c.Checks["nats"] = events.Ready(c.NATS)
	}
	return c, nil
}

// Close releases the connections in reverse order of opening.
func (c *Conns) Close() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
	c.closers = nil
}
