// Package ratelimit counts attempts per key (a client address, an email) in
// memory. Counters live in this process only: N replicas of the service
// allow N times the configured rate.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter allows each key perMinute attempts a minute, in a burst or spread
// out: a token bucket of perMinute tokens refilled at perMinute/60 a second.
type Limiter struct {
	perSecond float64
	burst     float64
	now       func() time.Time

	mu        sync.Mutex
	keys      map[string]*bucket
	lastSweep time.Time
}

// bucket is one key's tokens as of at.
type bucket struct {
	tokens float64
	at     time.Time
}

// PerMinute returns a Limiter of n attempts a minute per key.
func PerMinute(n int) *Limiter { return newLimiter(n, time.Now) }

func newLimiter(n int, now func() time.Time) *Limiter {
	return &Limiter{
		perSecond: float64(n) / 60,
		burst:     float64(n),
		now:       now,
		keys:      map[string]*bucket{},
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
	b, ok := l.keys[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.keys[key] = b
	}
	tokens := l.tokens(b, now)
	if tokens < 1 {
		return l.until(tokens)
	}
	b.tokens, b.at = tokens-1, now
	return 0
}

// Refund gives back an attempt that Allow took, for an attempt that turned
// out not to count (a sign-in that succeeded).
func (l *Limiter) Refund(key string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.keys[key]; ok {
		b.tokens, b.at = min(l.tokens(b, now)+1, l.burst), now
	}
}

// Wait is how long until key would be allowed an attempt (zero: now),
// taking nothing.
func (l *Limiter) Wait(key string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.keys[key]
	if !ok {
		return 0
	}
	if tokens := l.tokens(b, now); tokens < 1 {
		return l.until(tokens)
	}
	return 0
}

// tokens is b's tokens at now, refilled since b.at.
func (l *Limiter) tokens(b *bucket, now time.Time) float64 {
	return min(b.tokens+now.Sub(b.at).Seconds()*l.perSecond, l.burst)
}

// until is how long a bucket holding tokens (< 1) takes to reach one.
func (l *Limiter) until(tokens float64) time.Duration {
	return time.Duration((1 - tokens) / l.perSecond * float64(time.Second))
}

// sweep forgets the keys whose bucket has filled up again: such a key behaves
// exactly like one never seen, so memory holds only keys active within
// about the last minute. It runs at most once per refill period.
func (l *Limiter) sweep(now time.Time) {
	period := time.Duration(l.burst / l.perSecond * float64(time.Second))
	if now.Sub(l.lastSweep) < period {
		return
	}
	l.lastSweep = now
	for key, b := range l.keys {
		if l.tokens(b, now) >= l.burst {
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
