// Package expiry keeps one delayed job per order in Redis (hibiken/asynq):
// the Scheduler puts it there when an order is created and removes it when
// the order is cancelled; the Worker runs it when the order expires and
// publishes expiration.complete.
package expiry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// TaskType names the expiration job in asynq.
const TaskType = "order:expire"

const (
	// keepDone keeps a finished job's id in Redis so that an order.created
	// redelivered after the expiration still conflicts and schedules nothing.
	keepDone = 24 * time.Hour
	// maxRetry is large: a job retries until JetStream confirms the publish
	// (about a day at the ten-second retry cap).
	maxRetry = 10_000
	// jobTimeout bounds one run: the wait for expiresAt plus one publish.
	jobTimeout = time.Minute
)

// job is the payload of an expiration job. ExpiresAt travels with it because
// asynq keeps due times in whole seconds and may start the job early.
type job struct {
	OrderID   string    `json:"orderId"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Scheduler adds and removes expiration jobs.
type Scheduler struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	queue     string
}

// NewScheduler schedules jobs on queue through rdb, which the caller closes
// after Close.
func NewScheduler(rdb redis.UniversalClient, queue string) *Scheduler {
	return &Scheduler{
		client:    asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		queue:     queue,
	}
}

// Schedule makes sure one job expires the order at expiresAt. The order id is
// the task id, so scheduling an order again (a redelivered event) is a no-op.
// An expiresAt in the past runs the job at once.
func (s *Scheduler) Schedule(ctx context.Context, orderID string, expiresAt time.Time) error {
	payload, err := json.Marshal(job{OrderID: orderID, ExpiresAt: expiresAt})
	if err != nil {
		return err
	}
	// The job's publish joins the trace of the event that scheduled it.
	headers := map[string]string{}
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(headers))
	task := asynq.NewTaskWithHeaders(TaskType, payload, headers,
		asynq.TaskID(orderID),
		asynq.Queue(s.queue),
		asynq.ProcessAt(expiresAt),
		asynq.MaxRetry(maxRetry),
		asynq.Timeout(jobTimeout),
		asynq.Retention(keepDone),
	)
	_, err = s.client.EnqueueContext(ctx, task)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("schedule expiration of order %s: %w", orderID, err)
	}
	return nil
}

// Cancel removes the order's job unless it has already run. A job that is
// running right now cannot be removed: the error asks the caller to retry.
// An unknown order is not an error.
func (s *Scheduler) Cancel(orderID string) error {
	info, err := s.inspector.GetTaskInfo(s.queue, orderID)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("cancel expiration of order %s: %w", orderID, err)
	case info.State == asynq.TaskStateCompleted:
		// Keep the finished job: its id blocks a redelivered order.created.
		return nil
	}
	err = s.inspector.DeleteTask(s.queue, orderID)
	if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		return fmt.Errorf("cancel expiration of order %s: %w", orderID, err)
	}
	return nil
}

// Close releases the scheduler (not the Redis client it was given).
func (s *Scheduler) Close() error {
	return errors.Join(s.client.Close(), s.inspector.Close())
}
