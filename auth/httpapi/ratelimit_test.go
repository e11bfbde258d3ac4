package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"ticketing.dev/testkit"
)

func TestRateLimits(t *testing.T) {
	t.Parallel()

	type attempt struct {
		path     string
		email    string
		password string // "" is a wrong one
		addr     string // RemoteAddr host
		xff      string // X-Forwarded-For
		status   int
		slowed   bool // took at least the options' maxDelay
	}
	const signin, signup = "/api/users/signin", "/api/users/signup"
	const right = "secret" // victim@example.com's password
	attacker, owner := "10.0.0.66", "10.0.0.7"
	ten := func(a attempt) []attempt {
		out := make([]attempt, 10)
		for i := range out {
			out[i] = a
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		opts     options
		attempts []attempt
	}{
		{
			// The lockout this design removes: ten wrong passwords from
			// anywhere used to refuse the owner for a minute.
			name: "a stranger's failures do not lock the owner out",
			opts: options{perEmail: 10, maxDelay: 300 * time.Millisecond},
			attempts: append(ten(attempt{path: signin, email: "victim@example.com", addr: attacker, status: 400}),
				// The attacker's address is refused for that email, right password or not...
				attempt{path: signin, email: " Victim@Example.com", addr: attacker, status: 429},
				attempt{path: signin, email: "victim@example.com", password: right, addr: attacker, status: 429},
				// ...but not for another email.
				attempt{path: signin, email: "other@example.com", addr: attacker, status: 400},
				// The owner, from another address, signs in: slowed down, not refused.
				attempt{path: signin, email: "victim@example.com", password: right, addr: owner, status: 200, slowed: true},
				attempt{path: signin, email: "victim@example.com", password: right, addr: owner, status: 200, slowed: true},
				// A third party's wrong password is slowed and answered as usual.
				attempt{path: signin, email: "victim@example.com", addr: "10.0.0.8", status: 400, slowed: true},
			),
		},
		{
			name: "only failures count per client and email",
			opts: options{perEmail: 2},
			attempts: []attempt{
				{path: signin, email: "victim@example.com", addr: owner, status: 400},
				{path: signin, email: "victim@example.com", password: right, addr: owner, status: 200},
				{path: signin, email: "victim@example.com", password: right, addr: owner, status: 200},
				{path: signin, email: "victim@example.com", password: right, addr: owner, status: 200},
				{path: signin, email: "victim@example.com", addr: owner, status: 400},
				{path: signin, email: "victim@example.com", addr: owner, status: 429},
				{path: signin, email: "victim@example.com", password: right, addr: owner, status: 429},
			},
		},
		{
			name: "sign-ups do not count against sign-in",
			opts: options{perEmail: 2},
			attempts: []attempt{
				{path: signup, email: "victim@example.com", addr: owner, status: 400}, // Email in use
				{path: signup, email: "victim@example.com", addr: owner, status: 400},
				{path: signup, email: "victim@example.com", addr: owner, status: 400},
				{path: signin, email: "victim@example.com", addr: owner, status: 400},
				{path: signin, email: "victim@example.com", password: right, addr: owner, status: 200},
				{path: signup, email: "new@example.com", addr: owner, status: 201},
				{path: signup, email: "new2@example.com", addr: owner, status: 201},
				{path: signup, email: "new3@example.com", addr: owner, status: 201},
			},
		},
		{
			name: "per address, whatever the email",
			opts: options{perAddr: 3},
			attempts: []attempt{
				{path: signin, email: "a@example.com", addr: "10.0.0.1", status: 400},
				{path: signin, email: "b@example.com", addr: "10.0.0.1", status: 400},
				{path: signup, email: "c@example.com", addr: "10.0.0.1", status: 201},
				{path: signin, email: "d@example.com", addr: "10.0.0.1", status: 429},
				{path: signup, email: "e@example.com", addr: "10.0.0.1", status: 429},
				{path: signin, email: "victim@example.com", password: right, addr: "10.0.0.1", status: 429},
				{path: signin, email: "d@example.com", addr: "10.0.0.2", status: 400},
			},
		},
		{
			name: "X-Forwarded-For ignored by default",
			opts: options{perAddr: 2},
			attempts: []attempt{
				{path: signin, email: "a@example.com", addr: "10.0.0.1", xff: "203.0.113.1", status: 400},
				{path: signin, email: "b@example.com", addr: "10.0.0.1", xff: "203.0.113.2", status: 400},
				{path: signin, email: "c@example.com", addr: "10.0.0.1", xff: "203.0.113.3", status: 429},
			},
		},
		{
			name: "behind one trusted proxy, the address it saw",
			opts: options{perAddr: 2, hops: 1},
			attempts: []attempt{
				{path: signin, email: "a@example.com", addr: "10.0.0.1", xff: "203.0.113.1", status: 400},
				{path: signin, email: "b@example.com", addr: "10.0.0.1", xff: "203.0.113.2", status: 400},
				// Entries left of the proxy's are the client's to forge.
				{path: signin, email: "c@example.com", addr: "10.0.0.1", xff: "198.51.100.7, 203.0.113.1", status: 400},
				{path: signin, email: "d@example.com", addr: "10.0.0.1", xff: "198.51.100.8, 203.0.113.1", status: 429},
				{path: signin, email: "e@example.com", addr: "10.0.0.1", xff: "203.0.113.3", status: 400},
			},
		},
		{
			name: "per client and email behind a trusted proxy",
			opts: options{perEmail: 1, hops: 1, maxDelay: 200 * time.Millisecond},
			attempts: []attempt{
				{path: signin, email: "victim@example.com", addr: "10.0.0.1", xff: "203.0.113.1", status: 400},
				{path: signin, email: "victim@example.com", addr: "10.0.0.1", xff: "203.0.113.1", status: 429},
				{path: signin, email: "victim@example.com", password: right, addr: "10.0.0.1", xff: "203.0.113.2", status: 200, slowed: true},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, tc.opts)
			// From httptest's 192.0.2.1, which no attempt uses.
			svc.signup(t, "victim@example.com", right)
			for i, a := range tc.attempts {
				pw := a.password
				if pw == "" {
					pw = "wrong-pw"
				}
				start := time.Now()
				res := testkit.Call(t, fromAddr(svc.handler, a.addr, a.xff), http.MethodPost, a.path, credentials(a.email, pw))
				took := time.Since(start)
				if res.Status != a.status {
					t.Fatalf("attempt %d (%+v): %d %s, want %d", i+1, a, res.Status, res.Body, a.status)
				}
				if a.slowed && took < tc.opts.maxDelay {
					t.Fatalf("attempt %d (%+v) took %s, want it slowed down by %s", i+1, a, took, tc.opts.maxDelay)
				}
				if a.status == http.StatusOK && len(cookies(res)) == 0 {
					t.Fatalf("attempt %d: signed in without a cookie", i+1)
				}
				if a.status != http.StatusTooManyRequests {
					continue
				}
				res.WantErrors(t, http.StatusTooManyRequests, testkit.Msg("Too many requests, try again later"))
				retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
				if err != nil || retry < 1 || retry > 60 {
					t.Fatalf("attempt %d: Retry-After %q, want whole seconds in [1, 60]", i+1, res.Header.Get("Retry-After"))
				}
				if len(cookies(res)) != 0 {
					t.Fatalf("attempt %d: a refused attempt set a cookie", i+1)
				}
			}
		})
	}
}
