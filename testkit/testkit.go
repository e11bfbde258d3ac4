// Package testkit is the tests' kit: it starts the real dependencies tests
// need, each isolated per test — Redis (REDIS_URL, a container where a Docker
// engine answers, or the machine's redis-server on a free port) and
// stripe-mock; the MongoDB-wire store is in mongokit, JetStream in natskit —
// runs a real service (Serve) and calls its API (Call, WantErrors).
package testkit

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"ticketing.dev/common/session"
)

// Logger writes to the test's output, at LOG_LEVEL=debug when asked,
// warnings and errors otherwise.
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("LOG_LEVEL") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// Context returns a context that ends with the test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond until it holds or timeout passes: every 10 ms at
// first, backing off to every 200 ms, so a quick condition is seen at once
// and a slow one (an HTTP call, a process) does not spin the machine.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for delay := 10 * time.Millisecond; !cond(); delay = min(2*delay, 200*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(delay)
	}
}

// JWTKey is the signing key tests use.
const JWTKey = "test-jwt-key-of-at-least-32-bytes"

// Keys returns session keys for JWTKey.
func Keys() *session.Keys { return session.NewKeys(JWTKey) }

// SessionCookie returns a valid session cookie for a user, minted the way any
// holder of JWT_KEY may (the contract allows it).
func SessionCookie(t testing.TB, userID, email string) *http.Cookie {
	t.Helper()
	token, err := Keys().Mint(userID, email, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return session.Cookie(token, false)
}

// Clock is a clock the test moves by hand, safe for concurrent use: its
// time stands still unless Set or Advance moves it. Pass its Now where a
// service takes a clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at at.
func NewClock(at time.Time) *Clock { return &Clock{now: at} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to at.
func (c *Clock) Set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Buffer collects a process's output for a test that reads it while it is
// written (an io.Writer safe for concurrent use).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
