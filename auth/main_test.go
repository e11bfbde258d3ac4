package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"ticketing.dev/common/service"
	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestRun starts the service as main does, uses it over HTTP and stops it
// the way SIGTERM would.
func TestRun(t *testing.T) {
	uri, err := url.Parse(os.Getenv("MONGO_URL"))
	if err != nil {
		t.Fatal(err)
	}
	uri.Path = "/" + testkit.RandomName("auth_run_")
	port := testkit.FreePort(t)
	t.Setenv("MONGO_URI", uri.String())
	t.Setenv("JWT_KEY", testkit.JWTKey)
	t.Setenv("PORT", strconv.Itoa(port))
	t.Setenv("COOKIE_SECURE", "false")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, testkit.Logger(t), name, loadConfig, run) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("run did not return after its context ended")
		}
	})

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	client := &http.Client{Timeout: 5 * time.Second}
	testkit.Eventually(t, 10*time.Second, func() bool {
		res, err := client.Get(base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, "auth never became ready")

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
