// The expiration service schedules one job per order in Redis when the order
// is created and publishes expiration.complete when the order's time is up.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/config"
	"ticketing.dev/common/events"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/logging"
	"ticketing.dev/common/server"
	"ticketing.dev/common/session"
	"ticketing.dev/common/tracing"
	"ticketing.dev/expiration/expiry"
	"ticketing.dev/expiration/listeners"
)

const serviceName = "expiration"

func main() {
	log := logging.New(serviceName)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, log)
	stop()
	if err != nil {
		log.Error("expiration service failed", "err", err)
		os.Exit(1)
	}
}

// settings is the service's configuration.
type settings struct {
	Port     int
	NATSURL  string
	RedisURL string
	Queue    string // asynq queue; separate names keep deployments (and tests) apart on one Redis
}

func loadSettings(r *config.Reader) (settings, error) {
	s := settings{
		Port:     r.Int("PORT", 3000, 1, 65535),
		NATSURL:  r.Required("NATS_URL"),
		RedisURL: redisURL(r),
		Queue:    r.String("ASYNQ_QUEUE", "expiration"),
	}
	if err := r.Err(); err != nil {
		return s, err
	}
	if _, err := redis.ParseURL(s.RedisURL); err != nil {
		return s, fmt.Errorf("invalid configuration: REDIS_URL: %w", err)
	}
	return s, nil
}

// redisURL reads REDIS_URL, or builds it from REDIS_HOST and REDIS_PORT.
// With neither, the error names REDIS_URL, the preferred form.
func redisURL(r *config.Reader) string {
	if url := r.String("REDIS_URL", ""); url != "" {
		return url
	}
	host := r.String("REDIS_HOST", "")
	port := r.Int("REDIS_PORT", 0, 1, 65535)
	switch {
	case host == "" && port == 0:
		return r.Required("REDIS_URL")
	case host == "":
		return r.Required("REDIS_HOST")
	case port == 0:
		return r.Required("REDIS_PORT")
	}
	return "redis://" + host + ":" + strconv.Itoa(port)
}

func run(ctx context.Context, log *slog.Logger) error {
	r := config.FromEnv()
	cfg, err := loadSettings(r)
	if err != nil {
		return err
	}
	log.Info("starting", "config", r.Describe())

	stopTracing, err := tracing.Setup(ctx, serviceName, log)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer stopTracing()

	rdb, err := connectRedis(ctx, cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()

	nc, js, err := events.Connect(ctx, cfg.NATSURL, serviceName, log)
	if err != nil {
		return err
	}
	defer nc.Close()

	svc, err := startService(ctx, log, js, rdb, cfg.Queue)
	if err != nil {
		return err
	}
	defer svc.stop()

	// No route needs a user; a throwaway key keeps any cookie anonymous.
	router := httpx.NewRouter(log, session.NewKeys(rand.Text()))
	server.Health(router, log, map[string]server.Check{
		"redis": func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		"nats":  events.Ready(nc),
	})
	return server.Run(ctx, log, ":"+strconv.Itoa(cfg.Port), router)
}

func connectRedis(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	return rdb, nil
}

// service is the expiration work: the worker that runs due jobs and the
// listeners that schedule and drop them.
type service struct {
	sched     *expiry.Scheduler
	worker    *expiry.Worker
	listeners *listeners.Set
}

func startService(ctx context.Context, log *slog.Logger, js jetstream.JetStream, rdb redis.UniversalClient,
	queue string) (*service, error) {
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
	return &service{sched: sched, worker: worker, listeners: ls}, nil
}

// stop drains the listeners, lets running jobs finish, then lets go of Redis.
func (s *service) stop() {
	s.listeners.Stop()
	s.worker.Shutdown()
	_ = s.sched.Close()
}
