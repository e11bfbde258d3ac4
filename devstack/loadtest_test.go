package main

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"ticketing.dev/loadtest/flow"
)

// TestLoadGenerator runs `make loadtest` briefly against the real platform:
// every step of the load generator (sign up, list, sell, order, pay,
// complete, purchase, the race) succeeds at least once with no error, and
// the race has exactly one winner. It asserts no figure: the numbers depend
// on the machine.
func TestLoadGenerator(t *testing.T) {
	requirePlatform(t)
	t.Parallel()
	// The other tests' platforms are killed, restarted or faulted on purpose;
	// this one gets its own. auth's per-address limit would count every
	// sign-up of the run against the one loopback address.
	p := startPlatform(t, t.TempDir(), "RATE_LIMIT_PER_ADDR=100000", "RATE_LIMIT_PER_EMAIL=100000")

	var out, progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rep, err := flow.Run(ctx, flow.Options{
		Base: p.URL, Concurrency: 2, Duration: time.Second, RaceBuyers: 5, RaceRounds: 1, Log: &progress,
	}, &out)
	t.Logf("loadtest output:\n%s", out.String())
	if err != nil {
		t.Fatalf("loadtest: %v\nprogress:\n%s", err, progress.String())
	}

	var names []string
	for _, s := range rep.Steps {
		names = append(names, s.Name)
		if s.OK == 0 || s.Errors != 0 {
			t.Errorf("step %s: %d ok, %d errors (%v), want some ok and none failed", s.Name, s.OK, s.Errors, s.Samples)
		}
		if s.Name == flow.StepRace && !slices.Equal(s.Winners, []int{1}) {
			t.Errorf("race winners per round %v, want [1]", s.Winners)
		}
	}
	want := []string{"signup", "list", "sell", "order", "order-wait", "pay", "pay-wait", "complete", "purchase", "race"}
	if !slices.Equal(names, want) {
		t.Errorf("steps %v, want %v", names, want)
	}
	if len(rep.Failures) != 0 {
		t.Errorf("failures: %q", rep.Failures)
	}
	p.stop()
}
