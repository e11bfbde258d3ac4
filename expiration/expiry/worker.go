package expiry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
)

const (
	// concurrency bounds the orders that can expire in one second without
	// delay: asynq hands a job out up to a second early and the job holds its
	// slot while it waits for its exact expiresAt. A waiting job costs a
	// goroutine, nothing in Redis.
	concurrency = 1000
	// pollInterval is how often due jobs are moved to the queue and how
	// often an idle worker looks for work; asynq's defaults (5 s and 1 s)
	// would make an expiration seconds late.
	pollInterval = 100 * time.Millisecond
	// maxWait bounds the in-job wait for expiresAt. asynq starts a job at
	// most a second early; a longer wait (clocks of replicas apart) puts the
	// job back until expiresAt instead of holding a worker.
	maxWait = 2 * time.Second
	// Retry delays after a failed publish: 1 s, 2 s, 4 s, 8 s, then 10 s.
	firstRetry = time.Second
	maxRetryIn = 10 * time.Second
	// shutdownTimeout lets running jobs finish (a wait plus a publish).
	shutdownTimeout = 10 * time.Second
)

// earlyError sends a job that started too early back to the queue.
type earlyError struct{ wait time.Duration }

func (e *earlyError) Error() string { return fmt.Sprintf("expires in %s", e.wait) }

// Worker runs expiration jobs: when an order's job is due it publishes
// expiration.complete and fails (asynq retries) until JetStream confirms.
type Worker struct {
	srv *asynq.Server
	pub *events.Publisher
	log *slog.Logger
}

// NewWorker returns a worker for queue's jobs; Start it, then Shutdown.
func NewWorker(rdb redis.UniversalClient, queue string, pub *events.Publisher, log *slog.Logger) *Worker {
	w := &Worker{pub: pub, log: log}
	w.srv = asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   map[string]int{queue: 1},
		TaskCheckInterval:        pollInterval,
		DelayedTaskCheckInterval: pollInterval,
		RetryDelayFunc:           retryDelay,
		IsFailure:                func(err error) bool { return !isEarly(err) },
		ErrorHandler:             asynq.ErrorHandlerFunc(w.failed),
		ShutdownTimeout:          shutdownTimeout,
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.WarnLevel,
	})
	return w
}

// Start starts processing jobs in the background.
func (w *Worker) Start() error {
	return w.srv.Start(asynq.HandlerFunc(w.process))
}

// Shutdown stops taking jobs and waits for the running ones to finish.
func (w *Worker) Shutdown() {
	w.srv.Shutdown()
}

func (w *Worker) process(ctx context.Context, t *asynq.Task) error {
	if t.Type() != TaskType {
		return fmt.Errorf("unknown task type %q: %w", t.Type(), asynq.SkipRetry)
	}
	var j job
	if err := json.Unmarshal(t.Payload(), &j); err != nil || j.OrderID == "" {
		return fmt.Errorf("malformed expiration job %q: %w", t.Payload(), asynq.SkipRetry)
	}
	ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(t.Headers()))

	// Never expire an order before its time, whatever asynq's rounding.
	if wait := time.Until(j.ExpiresAt); wait > 0 {
		if wait > maxWait {
			return &earlyError{wait: wait}
		}
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
	}
	err := events.Publish(ctx, w.pub, events.ExpirationComplete,
		outbox.ID(events.ExpirationComplete.Subject, j.OrderID),
		events.ExpirationCompleteData{OrderID: j.OrderID})
	if err != nil {
		return err
	}
	late := time.Since(j.ExpiresAt)
	lateness.Observe(late.Seconds())
	w.log.InfoContext(ctx, "order expired", "order_id", j.OrderID, "late_by", late.String())
	return nil
}

// lateness is how long after its expiresAt an order's expiration.complete
// was published.
var lateness = promauto.NewHistogram(prometheus.HistogramOpts{
	Name:    "expiration_lateness_seconds",
	Help:    "Time from an order's expiresAt to the publish of its expiration.complete.",
	Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
})

func retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	if early, ok := errors.AsType[*earlyError](err); ok {
		return early.wait
	}
	if n >= 4 {
		return maxRetryIn
	}
	return min(firstRetry<<n, maxRetryIn)
}

func (w *Worker) failed(ctx context.Context, t *asynq.Task, err error) {
	id, _ := asynq.GetTaskID(ctx)
	if isEarly(err) {
		w.log.DebugContext(ctx, "expiration job started early, put back", "order_id", id, "err", err)
		return
	}
	if errors.Is(err, asynq.SkipRetry) {
		w.log.ErrorContext(ctx, "expiration job can never run, dropped", "order_id", id, "type", t.Type(), "err", err)
		return
	}
	retried, _ := asynq.GetRetryCount(ctx)
	w.log.WarnContext(ctx, "expiration job failed, will retry", "order_id", id, "type", t.Type(),
		"retried", retried, "err", err)
}

// asynqLogger routes asynq's own messages to the service's logger.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.log.Info(fmt.Sprint(args...)) }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.log.Error(fmt.Sprint(args...)) }

// Fatal is asynq's last word before it gives up on the process.
func (l asynqLogger) Fatal(args ...any) {
	l.log.Error(fmt.Sprint(args...))
	os.Exit(1)
}

func isEarly(err error) bool {
	_, ok := errors.AsType[*earlyError](err)
	return ok
}
