package ratelimit

import (
	"sync"
	"testing"
	"time"

	"ticketing.dev/testkit"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	c := testkit.NewClock(time.Unix(1_700_000_000, 0))
	l := newLimiter(10, c.Now)

	for i := range 10 {
		if d := l.Allow("a@b.c"); d != 0 {
			t.Fatalf("attempt %d refused (retry after %s), want allowed", i+1, d)
		}
	}
	d := l.Allow("a@b.c")
	if d <= 0 || d > 6*time.Second {
		t.Fatalf("11th attempt: retry after %s, want in (0, 6s]", d)
	}
	if d := l.Allow("other@b.c"); d != 0 {
		t.Fatalf("another key is limited too (retry after %s)", d)
	}
	// Refused attempts are not counted: after the announced wait, one more goes through.
	for range 5 {
		l.Allow("a@b.c")
	}
	c.Advance(6 * time.Second)
	if d := l.Allow("a@b.c"); d != 0 {
		t.Fatalf("after the wait: refused (retry after %s)", d)
	}
	if d := l.Allow("a@b.c"); d == 0 {
		t.Fatal("only one token refills in 6 s, but two attempts went through")
	}
}

func TestLimiterForgetsIdleKeys(t *testing.T) {
	t.Parallel()
	c := testkit.NewClock(time.Unix(1_700_000_000, 0))
	l := newLimiter(60, c.Now)
	for _, key := range []string{"a", "b", "c"} {
		l.Allow(key)
	}
	if n := l.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	c.Advance(30 * time.Second)
	l.Allow("d")
	if n := l.Len(); n != 4 {
		t.Fatalf("keys swept before a full refill period: Len = %d, want 4", n)
	}
	c.Advance(31 * time.Second)
	l.Allow("e")
	// At one token a second, a, b, c and d have all refilled and are forgotten.
	if n := l.Len(); n != 1 {
		t.Fatalf("after a minute: Len = %d, want 1 (only e)", n)
	}
}

func TestLimiterIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	l := PerMinute(100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 200 {
		wg.Go(func() {
			if l.Allow("k") == 0 {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// The bucket may refill a token or two while the goroutines run.
	if allowed < 100 || allowed > 102 {
		t.Fatalf("allowed %d of 200 concurrent attempts, want 100", allowed)
	}
}

// Refund gives back what Allow took, never more than the burst; Wait tells
// how long until an attempt without taking one.
func TestRefundAndWait(t *testing.T) {
	t.Parallel()
	c := testkit.NewClock(time.Unix(1_700_000_000, 0))
	l := newLimiter(2, c.Now) // one token every 30 s

	if d := l.Wait("k"); d != 0 {
		t.Fatalf("Wait of an unseen key = %s, want 0", d)
	}
	l.Refund("unseen") // nothing to give back to
	if n := l.Len(); n != 0 {
		t.Fatalf("Refund of an unseen key made a bucket: Len = %d", n)
	}
	for i := range 2 {
		if d := l.Allow("k"); d != 0 {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if d := l.Wait("k"); d != 30*time.Second {
		t.Fatalf("Wait of an empty bucket = %s, want 30s", d)
	}
	if d := l.Wait("k"); d != 30*time.Second {
		t.Fatalf("Wait took a token: the second Wait = %s, want 30s", d)
	}
	l.Refund("k")
	if d := l.Wait("k"); d != 0 {
		t.Fatalf("after a refund: Wait = %s, want 0", d)
	}
	if d := l.Allow("k"); d != 0 {
		t.Fatalf("after a refund: refused (retry after %s)", d)
	}
	if d := l.Allow("k"); d == 0 {
		t.Fatal("a refund gave back more than one attempt")
	}
	// Refunds never raise a bucket above its burst.
	for range 5 {
		l.Refund("k")
	}
	for i := range 3 {
		if d := l.Allow("k"); (d == 0) != (i < 2) {
			t.Fatalf("after many refunds, attempt %d: retry after %s; want exactly 2 allowed", i+1, d)
		}
	}
	c.Advance(15 * time.Second)
	if d := l.Wait("k"); d != 15*time.Second {
		t.Fatalf("half refilled: Wait = %s, want 15s", d)
	}
}
