package main

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
)

func TestMain(m *testing.M) { mongokit.Main(m) }

// TestRun starts the service as main does, uses it over HTTP and stops it
// the way SIGTERM would.
func TestRun(t *testing.T) {
	uri, err := url.Parse(os.Getenv("MONGO_URL"))
	if err != nil {
		t.Fatal(err)
	}
	uri.Path = "/" + testkit.RandomName("auth_run_")
	svc := testkit.Serve(t, name, loadConfig, run, map[string]string{
		"MONGO_URI": uri.String(), "JWT_KEY": testkit.JWTKey, "COOKIE_SECURE": "false",
	})
	base := svc.URL
	client := &http.Client{Timeout: 5 * time.Second}

	res, err := client.Post(base+"/api/users/signup", "application/json",
		strings.NewReader(`{"email":"run@example.com","password":"secret"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d", res.StatusCode)
	}
	if got := res.Header.Get("Set-Cookie"); !strings.HasPrefix(got, "session=") || strings.Contains(got, "Secure") {
		t.Fatalf("Set-Cookie %q: want a session cookie without Secure (COOKIE_SECURE=false)", got)
	}
}
