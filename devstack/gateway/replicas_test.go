package gateway

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// replicas are test servers standing for the replicas of one Service: each
// answers 201 with its name and the body it received, and counts requests.
type replicas struct {
	mu   sync.Mutex
	hits map[string]int
}

func (rs *replicas) start(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		rs.hits[name]++
		rs.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, name+":"+string(body))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func (rs *replicas) count(name string) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.hits[name]
}

// deadAddr is an address nothing listens on: connections are refused.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// post sends a body to orders through the gateway and returns the status
// and the answer.
func post(t *testing.T, gw http.Handler, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

func TestRoundRobinOverReadyReplicas(t *testing.T) {
	t.Parallel()
	rs := &replicas{hits: map[string]int{}}
	a, b, c := rs.start(t, "a"), rs.start(t, "b"), rs.start(t, "c")
	gw := New(loadRoutes(t), slog.New(slog.DiscardHandler))
	gw.SetBackend("orders-srv", a, b, c)

	// None ready yet (none probed): requests go to all of them.
	for range 3 {
		if status, _ := post(t, gw, "x"); status != http.StatusCreated {
			t.Fatalf("status %d", status)
		}
	}
	if rs.count("a") != 1 || rs.count("b") != 1 || rs.count("c") != 1 {
		t.Fatalf("before any probe: hits %v, want one each", rs.hits)
	}

	// Only the ready ones get requests, in turn.
	gw.SetReady("orders-srv", a, true)
	gw.SetReady("orders-srv", c, true)
	for range 10 {
		post(t, gw, "x")
	}
	if rs.count("a") != 6 || rs.count("b") != 1 || rs.count("c") != 6 {
		t.Fatalf("a and c ready: hits %v, want a=6 b=1 c=6", rs.hits)
	}
}

func TestRefusedReplicaCostsNoRequest(t *testing.T) {
	t.Parallel()
	rs := &replicas{hits: map[string]int{}}
	alive, dead := rs.start(t, "alive"), deadAddr(t)
	gw := New(loadRoutes(t), slog.New(slog.DiscardHandler))
	gw.SetBackend("orders-srv", dead, alive)
	// Both passed their last probe: the dead one was killed since.
	gw.SetReady("orders-srv", dead, true)
	gw.SetReady("orders-srv", alive, true)
	for i := range 10 {
		body := strings.Repeat("ticket ", i+1)
		status, got := post(t, gw, body)
		if status != http.StatusCreated || got != "alive:"+body {
			t.Fatalf("request %d: %d %q, want 201 from alive with the whole body", i, status, got)
		}
	}

	// No replica left: the envelope says so.
	gw.SetBackend("tickets-srv", deadAddr(t), deadAddr(t))
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/tickets", nil))
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "tickets-srv is not reachable") {
		t.Fatalf("every replica refused: %d %s", rec.Code, rec.Body.String())
	}
}

func TestRequestThatReachedAReplicaIsNotRetried(t *testing.T) {
	t.Parallel()
	rs := &replicas{hits: map[string]int{}}
	// This replica dies with the request in hand: it may have acted on it.
	crashing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(crashing.Close)
	other := rs.start(t, "other")
	gw := New(loadRoutes(t), slog.New(slog.DiscardHandler))
	crashAddr := strings.TrimPrefix(crashing.URL, "http://")
	gw.SetBackend("orders-srv", crashAddr, other)
	gw.SetReady("orders-srv", crashAddr, true) // first in line: the other is not ready

	if status, got := post(t, gw, "order once"); status != http.StatusBadGateway {
		t.Fatalf("%d %q, want 502", status, got)
	}
	if n := rs.count("other"); n != 0 {
		t.Fatalf("the request was sent again to another replica (%d times)", n)
	}
}
