// Package ratelimit counts attempts per key (a client address, an email) in
// memory. Counters live in this process only: N replicas of the service
// allow N times the configured rate.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter allows each key perMinute attempts a minute, in a burst or spread
// out (a token bucket refilled at perMinute/60 tokens a second).
type Limiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	keys      map[string]*rate.Limiter
	lastSweep time.Time
}

// PerMinute returns a Limiter of n attempts a minute per key.
func PerMinute(n int) *Limiter { return newLimiter(n, time.Now) }

func newLimiter(n int, now func() time.Time) *Limiter {
	return &Limiter{
		limit:     rate.Limit(float64(n) / 60),
		burst:     n,
		now:       now,
		keys:      map[string]*rate.Limiter{},
		lastSweep: now(),
	}
}

// Allow takes one attempt for key. It returns zero when the attempt may go
// ahead, otherwise how long until the next one would be allowed; a refused
// attempt is not counted.
func (l *Limiter) Allow(key string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	lim, ok := l.keys[key]
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.keys[key] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// sweep forgets the keys whose bucket has filled up again: such a key behaves
// exactly like one never seen, so memory holds only keys active within
// about the last minute. It runs at most once per refill period.
func (l *Limiter) sweep(now time.Time) {
	period := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
	if now.Sub(l.lastSweep) < period {
		return
	}
	l.lastSweep = now
	for key, lim := range l.keys {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.keys, key)
		}
	}
}

// Len is the number of keys held, for tests and metrics.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
