package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/server"
	"ticketing.dev/testkit"
)

// While closed the gate keeps the process alive and not ready, and answers
// every route with the error envelope; once open the service answers.
func TestGate(t *testing.T) {
	g := server.NewGate()
	g.Waiting("waiting for mongodb: connection refused")
	svc := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "service") })
	tests := []struct {
		open       bool
		method     string
		path       string
		wantStatus int
		wantBody   string
	}{
		{false, http.MethodGet, "/healthz", 200, `"ok"`},
		{false, http.MethodGet, "/readyz", 503, "waiting for mongodb"},
		{false, http.MethodPost, "/api/tickets", 503, `{"errors":[{"message":"Service is starting, try again shortly"}]}`},
		{true, http.MethodGet, "/readyz", 200, "service"},
		{true, http.MethodPost, "/api/tickets", 200, "service"},
	}
	for _, tt := range tests {
		if tt.open {
			g.Open(svc)
		}
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
			t.Errorf("open=%v %s %s: %d %s, want %d with %s", tt.open, tt.method, tt.path,
				rec.Code, rec.Body.String(), tt.wantStatus, tt.wantBody)
		}
	}
}

// A failing Degraded check leaves the service ready and names it; any other
// failing check makes it not ready.
func TestReadinessWithDegradedChecks(t *testing.T) {
	down := func(context.Context) error { return errors.New("down") }
	up := func(context.Context) error { return nil }
	tests := []struct {
		name       string
		checks     map[string]server.Check
		wantStatus int
		wantBody   []string
	}{
		{"all up", map[string]server.Check{"mongodb": up, "nats": server.Degraded(up)}, 200, []string{`"ready"`}},
		{"broker down", map[string]server.Check{"mongodb": up, "nats": server.Degraded(down)}, 200,
			[]string{`"degraded"`, `"nats":"degraded: down"`}},
		{"store down", map[string]server.Check{"mongodb": down, "nats": server.Degraded(up)}, 503,
			[]string{`"unavailable"`, `"mongodb":"down"`}},
		{"both down", map[string]server.Check{"mongodb": down, "nats": server.Degraded(down)}, 503,
			[]string{`"mongodb":"down"`, `"nats":"degraded: down"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := chi.NewRouter()
			server.Health(r, testkit.Logger(t), tt.checks)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("/readyz: %d %s, want %d", rec.Code, rec.Body.String(), tt.wantStatus)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(rec.Body.String(), want) {
					t.Fatalf("/readyz body %s lacks %s", rec.Body.String(), want)
				}
			}
		})
	}
}
