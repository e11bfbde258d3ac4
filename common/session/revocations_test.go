package session

import (
	"fmt"
	"testing"
	"time"
)

// The list forgets a session once its token has expired, so it stays about
// the size of one token lifetime's sign-outs.
func TestRevocationsForgetExpiredSessions(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	r := NewRevocations()
	r.now = func() time.Time { return now }

	r.Revoke("expired-already", now)
	r.Revoke("", now.Add(time.Hour))
	if r.Len() != 0 {
		t.Fatalf("kept %d sessions that need no entry", r.Len())
	}
	for i := range 1000 {
		r.Revoke(fmt.Sprint("old", i), now.Add(time.Minute))
	}
	now = now.Add(2 * time.Minute) // every "old" token has expired
	for i := range 1000 {
		r.Revoke(fmt.Sprint("new", i), now.Add(time.Hour))
	}
	if !r.Revoked("new999") || !r.Revoked("new0") {
		t.Fatal("a live revocation was dropped")
	}
	if n := r.Len(); n > 1100 {
		t.Fatalf("holds %d sessions, want about the 1000 live ones", n)
	}
}
