package expiry

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/events"
	"ticketing.dev/expiration/internal/redistest"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

func TestScheduleAndCancel(t *testing.T) {
	t.Parallel()
	rdb, queue := redistest.Queue(t)
	s := NewScheduler(rdb, queue)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	inspector := asynq.NewInspectorFromRedisClient(rdb)

	// Before any job exists the queue does not either: still not an error.
	if err := s.Cancel("unknown"); err != nil {
		t.Fatalf("cancel on an empty queue: %v", err)
	}
	expiresAt := time.Now().Add(time.Hour)
	for range 3 {
		if err := s.Schedule(ctx, "o1", expiresAt); err != nil {
			t.Fatalf("schedule: %v", err)
		}
	}
	info, err := inspector.GetTaskInfo(queue, "o1")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStateScheduled || info.NextProcessAt.Unix() != expiresAt.Unix() {
		t.Fatalf("job = %s at %s, want scheduled at %s", info.State, info.NextProcessAt, expiresAt)
	}
	var j job
	if err := json.Unmarshal(info.Payload, &j); err != nil || j.OrderID != "o1" || !j.ExpiresAt.Equal(expiresAt) {
		t.Fatalf("payload %s (%v), want order o1 expiring at %s", info.Payload, err, expiresAt)
	}
	if n, _ := inspector.ListScheduledTasks(queue); len(n) != 1 {
		t.Fatalf("%d jobs after scheduling one order three times", len(n))
	}

	if err := s.Cancel("o1"); err != nil {
		t.Fatal(err)
	}
	if _, err := inspector.GetTaskInfo(queue, "o1"); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatalf("job after cancel: %v", err)
	}
	for _, id := range []string{"o1", "unknown"} {
		if err := s.Cancel(id); err != nil {
			t.Fatalf("cancel %s again: %v", id, err)
		}
	}
}

func TestScheduleInThePastRunsAtOnce(t *testing.T) {
	t.Parallel()
	rdb, queue := redistest.Queue(t)
	s := NewScheduler(rdb, queue)
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Schedule(context.Background(), "o1", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(queue, "o1")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStatePending {
		t.Fatalf("job state %s, want pending", info.State)
	}
}

func TestJob(t *testing.T) {
	t.Parallel()
	n := natskit.StartNATS(t)
	// process needs no Redis: the client is never used.
	unused := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = unused.Close() })
	w := NewWorker(unused, "unused", events.NewPublisher(n.As(t, "expiration")), testkit.Logger(t))
	ctx := context.Background()
	task := func(typ string, payload any) *asynq.Task {
		b, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		return asynq.NewTask(typ, b)
	}

	t.Run("started early, waits for expiresAt", func(t *testing.T) {
		expiresAt := time.Now().Add(400 * time.Millisecond)
		if err := w.process(ctx, task(TaskType, job{OrderID: "o1", ExpiresAt: expiresAt})); err != nil {
			t.Fatal(err)
		}
		if now := time.Now(); now.Before(expiresAt) {
			t.Fatalf("published %s before expiresAt", expiresAt.Sub(now))
		}
	})
	t.Run("started far too early, goes back until expiresAt", func(t *testing.T) {
		err := w.process(ctx, task(TaskType, job{OrderID: "o2", ExpiresAt: time.Now().Add(time.Minute)}))
		if !isEarly(err) {
			t.Fatalf("err = %v, want an early error", err)
		}
		if d := retryDelay(0, err, nil); d < 59*time.Second || d > time.Minute {
			t.Fatalf("put back for %s, want the remaining minute", d)
		}
	})
	t.Run("malformed payload is dropped", func(t *testing.T) {
		err := w.process(ctx, asynq.NewTask(TaskType, []byte(`{"orderId": 3`)))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("err = %v, want SkipRetry", err)
		}
	})
	t.Run("unknown type is dropped", func(t *testing.T) {
		err := w.process(ctx, task("other", job{OrderID: "o3"}))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("err = %v, want SkipRetry", err)
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		err := w.process(ctx, task(TaskType, job{OrderID: "o4", ExpiresAt: time.Now().Add(time.Second)}))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the context's error", err)
		}
	})
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	failed := errors.New("no response from stream")
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		10 * time.Second, 10 * time.Second} {
		if got := retryDelay(n, failed, nil); got != want {
			t.Errorf("retry %d after %s, want %s", n, got, want)
		}
	}
	if got := retryDelay(5000, failed, nil); got != maxRetryIn {
		t.Errorf("retry 5000 after %s, want %s", got, maxRetryIn)
	}
}
