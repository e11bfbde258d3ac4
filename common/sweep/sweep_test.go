package sweep_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"ticketing.dev/common/sweep"
	"ticketing.dev/testkit"
)

func TestSweeperRunsUntilStopped(t *testing.T) {
	var passes atomic.Int32
	var running atomic.Bool
	s := sweep.New("test", 10*time.Millisecond, testkit.Logger(t), func(ctx context.Context) (int, error) {
		if running.Swap(true) {
			t.Error("two passes at once")
		}
		defer running.Store(false)
		if passes.Add(1)%2 == 0 {
			return 0, errors.New("store down") // logged; the next pass tries again
		}
		return 1, nil
	})
	stop := s.Start()
	testkit.Eventually(t, 5*time.Second, func() bool { return passes.Load() >= 5 }, "passes: %d", passes.Load())
	stop()
	after := passes.Load()
	if running.Load() {
		t.Fatal("a pass still runs after stop returned")
	}
	time.Sleep(50 * time.Millisecond) // five intervals: no pass may start now
	if passes.Load() != after {
		t.Fatalf("%d passes after stop", passes.Load()-after)
	}
}

func TestOnceReportsThePass(t *testing.T) {
	s := sweep.New("test", time.Hour, testkit.Logger(t), func(ctx context.Context) (int, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("a pass has no deadline")
		}
		return 3, nil
	})
	n, err := s.Once(testkit.Context(t))
	if n != 3 || err != nil {
		t.Fatalf("Once = %d, %v", n, err)
	}
}
