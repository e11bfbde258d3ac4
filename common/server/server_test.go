package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/server"
	"ticketing.dev/testkit"
)

func TestHealthAndGracefulShutdown(t *testing.T) {
	log := testkit.Logger(t)
	storeUp := true
	r := chi.NewRouter()
	server.Health(r, log, map[string]server.Check{
		"store": func(context.Context) error {
			if !storeUp {
				return errors.New("store down")
			}
			return nil
		},
	})
	release, arrived := make(chan struct{}), make(chan struct{})
	r.Get("/slow", func(w http.ResponseWriter, _ *http.Request) {
		close(arrived)
		<-release
		_, _ = io.WriteString(w, "done")
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, log, ln, r) }()

	for _, tt := range []struct {
		path   string
		up     bool
		status int
	}{{"/healthz", true, 200}, {"/readyz", true, 200}, {"/readyz", false, 503}, {"/healthz", false, 200}} {
		storeUp = tt.up
		resp, err := http.Get(base + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Fatalf("%s with store up=%v: %d, want %d", tt.path, tt.up, resp.StatusCode, tt.status)
		}
	}

	// An in-flight request finishes after shutdown starts.
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-arrived
	stop()
	// Shutdown has begun once the listener refuses new connections.
	testkit.Eventually(t, 5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, "the listener still accepts connections after stop")
	close(release)
	if body := <-got; body != "done" {
		t.Fatalf("in-flight request got %q", body)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	if resp, err := http.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("server still accepts connections after shutdown")
	}
}
