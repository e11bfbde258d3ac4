// The expiration service schedules one job per order in Redis when the order
// is created and publishes expiration.complete when the order's time is up.
package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/events"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/server"
	"ticketing.dev/common/service"
	"ticketing.dev/expiration/expiry"
	"ticketing.dev/expiration/listeners"
)

func run(ctx context.Context, log *slog.Logger, cfg Config, conns *service.Conns) error {
	rdb, err := newRedis(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	conns.Checks["redis"] = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	// Redis is the service's store: it waits for it (retrying, never
	// exiting for it) while /readyz says so.
	if err := conns.WaitFor(ctx, "redis", conns.Checks["redis"]); err != nil {
		return nil // stopped while waiting
	}

	work, err := startExpirations(ctx, log, conns.JS, rdb, cfg.Queue)
	if err != nil {
		return err
	}
	defer work.stop()

	// No route needs a user: without keys every request is anonymous.
	router := httpx.NewRouter(log, nil)
	server.Health(router, log, conns.Checks)
	return conns.Serve(ctx, router)
}

// expirations is the service's work: the worker that runs due jobs and the
// listeners that schedule and drop them.
type expirations struct {
	sched     *expiry.Scheduler
	worker    *expiry.Worker
	listeners *events.Group
}

func startExpirations(ctx context.Context, log *slog.Logger, js jetstream.JetStream, rdb redis.UniversalClient,
	queue string) (*expirations, error) {
	sched := expiry.NewScheduler(rdb, queue)
	worker := expiry.NewWorker(rdb, queue, events.NewPublisher(js), log)
	if err := worker.Start(); err != nil {
		_ = sched.Close()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	ls, err := listeners.Start(ctx, js, log, sched)
	if err != nil {
		worker.Shutdown()
		_ = sched.Close()
		return nil, err
	}
	return &expirations{sched: sched, worker: worker, listeners: ls}, nil
}

// stop drains the listeners, lets running jobs finish, then lets go of Redis.
func (s *expirations) stop() {
	s.listeners.Stop()
	s.worker.Shutdown()
	_ = s.sched.Close()
}

func main() { service.Main(name, loadConfig, run) }
