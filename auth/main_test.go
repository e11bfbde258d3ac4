package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
)

func TestMain(m *testing.M) { mongokit.Main(m) }

// TestRun starts two replicas of the service as main does and uses them over
// HTTP: a sign-up on one, a sign-out on the other, published as
// session.revoked, after which the first refuses the signed-out cookie too.
// They stop the way SIGTERM would.
func TestRun(t *testing.T) {
	uri, err := url.Parse(os.Getenv("MONGO_URL"))
	if err != nil {
		t.Fatal(err)
	}
	uri.Path = "/" + testkit.RandomName("auth_run_")
	n := natskit.StartNATS(t)
	revoked := natskit.Record(t, n.JS, events.SessionRevoked)
	env := func() map[string]string {
		return natskit.WithEnv(name, map[string]string{
			"MONGO_URI": uri.String(), "NATS_URL": n.URL, "JWT_KEY": testkit.JWTKey, "COOKIE_SECURE": "false",
		})
	}
	one := testkit.Serve(t, name, loadConfig, run, env())
	other := testkit.Serve(t, name, loadConfig, run, env())
	client := &http.Client{Timeout: 5 * time.Second}
	// call answers the status, headers and body of one request.
	call := func(method, url, body, cookie string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}

	status, header, _ := call(http.MethodPost, one.URL+"/api/users/signup", `{"email":"run@example.com","password":"secret"}`, "")
	if status != http.StatusCreated {
		t.Fatalf("signup: %d", status)
	}
	setCookie := header.Get("Set-Cookie")
	if !strings.HasPrefix(setCookie, "session=") || strings.Contains(setCookie, "Secure") {
		t.Fatalf("Set-Cookie %q: want a session cookie without Secure (COOKIE_SECURE=false)", setCookie)
	}
	cookie, _, _ := strings.Cut(setCookie, ";")
	signedIn := func(s *testkit.Service) bool {
		_, _, body := call(http.MethodGet, s.URL+"/api/users/currentuser", "", cookie)
		return strings.Contains(body, "run@example.com")
	}
	if !signedIn(one) || !signedIn(other) {
		t.Fatal("the cookie is not valid on both replicas")
	}

	if status, _, _ := call(http.MethodPost, other.URL+"/api/users/signout", "", cookie); status != http.StatusOK {
		t.Fatalf("signout: %d", status)
	}
	if signedIn(other) {
		t.Fatal("the replica that signed out still accepts the cookie")
	}
	testkit.Eventually(t, 20*time.Second, func() bool { return !signedIn(one) },
		"the other replica still accepts the signed-out cookie")
	if msgs := revoked.WaitFor(t, 1, 10*time.Second); msgs[0].Data.SessionID == "" {
		t.Fatalf("session.revoked %+v names no session", msgs[0].Data)
	}
}
