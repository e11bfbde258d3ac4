// Package sweep runs a service's reconciliation passes: periodic, idempotent
// repairs of what an event that never arrived (or was dead-lettered) left
// undone, such as an overdue order nobody expired or a refund that failed.
//
// A pass must be safe to run at the same time in several replicas: it only
// makes changes that are guarded by the state it read (a versioned update,
// a conditional state change), so two replicas repairing the same thing
// make one change.
package sweep

import (
	"context"
	"log/slog"
	"time"
)

// Pass repairs what it finds and reports how many things it repaired. An
// error is logged and the next pass tries again.
type Pass func(ctx context.Context) (repaired int, err error)

// Sweeper runs one pass at a fixed interval.
type Sweeper struct {
	name     string
	interval time.Duration
	pass     Pass
	log      *slog.Logger
}

// New returns a sweeper named for what it repairs (it appears in the logs).
func New(name string, interval time.Duration, log *slog.Logger, pass Pass) *Sweeper {
	return &Sweeper{name: name, interval: interval, pass: pass, log: log.With("component", "sweep", "sweep", name)}
}

// Once runs one pass now (tests use it to check a repair).
func (s *Sweeper) Once(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, max(s.interval, 30*time.Second))
	defer cancel()
	n, err := s.pass(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("sweep pass failed; the next one retries", "repaired", n, "err", err)
	case n > 0:
		s.log.Info("sweep repaired", "repaired", n)
	}
	return n, err
}

// Start runs a pass at once and then every interval in the background, until
// the returned stop is called; stop waits for a pass in progress to end.
func (s *Sweeper) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			_, _ = s.Once(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
