package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"

	"ticketing.dev/testkit"
)

func TestRateLimits(t *testing.T) {
	t.Parallel()

	type attempt struct {
		path   string
		email  string
		addr   string // RemoteAddr host
		xff    string // X-Forwarded-For
		status int
	}
	const signin, signup = "/api/users/signin", "/api/users/signup"
	for _, tc := range []struct {
		name     string
		opts     options
		attempts []attempt
	}{
		{
			name: "per email, whatever the address",
			opts: options{perEmail: 4}, // the sign-up before the attempts is the first
			attempts: []attempt{
				{signin, "victim@example.com", "10.0.0.1", "", 400},
				{signin, "victim@example.com", "10.0.0.2", "", 400},
				{signin, " Victim@Example.com", "10.0.0.3", "", 400},
				{signin, "victim@example.com", "10.0.0.4", "", 429},
				{signup, "VICTIM@example.com", "10.0.0.5", "", 429},
				{signin, "other@example.com", "10.0.0.1", "", 400},
			},
		},
		{
			name: "per address, whatever the email",
			opts: options{perAddr: 3},
			attempts: []attempt{
				{signin, "a@example.com", "10.0.0.1", "", 400},
				{signin, "b@example.com", "10.0.0.1", "", 400},
				{signup, "c@example.com", "10.0.0.1", "", 201},
				{signin, "d@example.com", "10.0.0.1", "", 429},
				{signup, "e@example.com", "10.0.0.1", "", 429},
				{signin, "d@example.com", "10.0.0.2", "", 400},
			},
		},
		{
			name: "X-Forwarded-For ignored by default",
			opts: options{perAddr: 2},
			attempts: []attempt{
				{signin, "a@example.com", "10.0.0.1", "203.0.113.1", 400},
				{signin, "b@example.com", "10.0.0.1", "203.0.113.2", 400},
				{signin, "c@example.com", "10.0.0.1", "203.0.113.3", 429},
			},
		},
		{
			name: "behind one trusted proxy, the address it saw",
			opts: options{perAddr: 2, hops: 1},
			attempts: []attempt{
				{signin, "a@example.com", "10.0.0.1", "203.0.113.1", 400},
				{signin, "b@example.com", "10.0.0.1", "203.0.113.2", 400},
				// Entries left of the proxy's are the client's to forge.
				{signin, "c@example.com", "10.0.0.1", "198.51.100.7, 203.0.113.1", 400},
				{signin, "d@example.com", "10.0.0.1", "198.51.100.8, 203.0.113.1", 429},
				{signin, "e@example.com", "10.0.0.1", "203.0.113.3", 400},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, tc.opts)
			// One attempt for victim@example.com and for httptest's 192.0.2.1.
			svc.signup(t, "victim@example.com", "secret")
			for i, a := range tc.attempts {
				res := testkit.Call(t, fromAddr(svc.handler, a.addr, a.xff), http.MethodPost, a.path, credentials(a.email, "wrong-pw"))
				if res.Status != a.status {
					t.Fatalf("attempt %d (%+v): %d %s, want %d", i+1, a, res.Status, res.Body, a.status)
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
