package gateway

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manifest is the real Ingress of infra/k8s: the gateway must route exactly
// as it says.
var manifest = filepath.Join("..", "..", "infra", "k8s", "ingress-srv.yaml")

func loadRoutes(t *testing.T) *Routes {
	t.Helper()
	path := manifest
	if _, err := os.Stat(path); err != nil {
		path = filepath.Join("testdata", "ingress-srv.yaml")
	}
	routes, err := LoadIngress(path)
	if err != nil {
		t.Fatal(err)
	}
	return routes
}

func TestRoutesOfTheRealManifest(t *testing.T) {
	t.Parallel()
	routes := loadRoutes(t)
	if got, want := strings.Join(routes.Backends(), ","), "auth-srv,client-srv,orders-srv,payments-srv,tickets-srv"; got != want {
		t.Fatalf("backends = %s, want %s", got, want)
	}
	tests := []struct {
		host, path, want string
	}{
		{"ticketing.dev", "/api/users/signup", "auth-srv"},
		{"ticketing.dev", "/api/users", "auth-srv"},
		{"ticketing.dev", "/api/users/", "auth-srv"},
		{"localhost:8080", "/api/users/currentuser", "auth-srv"},
		{"127.0.0.1:8080", "/api/tickets", "tickets-srv"},
		{"localhost", "/api/tickets/6570f0e0e0e0e0e0e0e0e0e0", "tickets-srv"},
		{"localhost", "/api/orders", "orders-srv"},
		{"localhost", "/api/orders/6570f0e0e0e0e0e0e0e0e0e0", "orders-srv"},
		{"localhost", "/api/payments", "payments-srv"},
		{"[::1]:8080", "/api/payments/", "payments-srv"},
		// Prefix matches whole path elements: these fall through to "/".
		{"localhost", "/api/usersx", "client-srv"},
		{"localhost", "/api/ticketsfoo/1", "client-srv"},
		{"localhost", "/api", "client-srv"},
		{"localhost", "/api/unknown", "client-srv"},
		{"localhost", "/", "client-srv"},
		{"localhost", "/tickets/new", "client-srv"},
		{"localhost", "/orders/abc", "client-srv"},
		{"localhost", "/_next/static/chunks/x.js", "client-srv"},
		{"localhost", "/auth/signin", "client-srv"},
	}
	for _, tc := range tests {
		rule, ok := routes.Match(tc.host, tc.path)
		if !ok || rule.Backend != tc.want {
			t.Errorf("%s%s → %q (matched %v), want %s", tc.host, tc.path, rule.Backend, ok, tc.want)
		}
		if ok && rule.Port != 3000 {
			t.Errorf("%s: port %d, want 3000", tc.path, rule.Port)
		}
	}
}

func TestLongestPrefixAndExact(t *testing.T) {
	t.Parallel()
	routes, err := ParseIngress([]byte(`
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: x}
spec:
  rules:
    - host: a.test
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: root, port: {number: 1}}}}
          - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 1}}}}
          - {path: /api/v2/, pathType: Prefix, backend: {service: {name: v2, port: {number: 1}}}}
          - {path: /api/v2, pathType: Exact, backend: {service: {name: v2exact, port: {number: 1}}}}
    - host: b.test
      http:
        paths:
          - {path: /api, pathType: Prefix, backend: {service: {name: bapi, port: {number: 1}}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, path, want string
	}{
		{"a.test", "/api/v2", "v2exact"},
		{"a.test", "/api/v2/x", "v2"},
		{"a.test", "/api/v2x", "api"},
		{"a.test", "/api", "api"},
		{"a.test", "/other", "root"},
		{"b.test", "/api/x", "bapi"},
		{"b.test", "/other", ""},    // b.test has no "/": 404
		{"localhost", "/api/x", ""}, // two hosts: an unknown host is not guessed
	}
	for _, tc := range tests {
		rule, ok := routes.Match(tc.host, tc.path)
		if tc.want == "" {
			if ok {
				t.Errorf("%s%s → %s, want no match", tc.host, tc.path, rule.Backend)
			}
			continue
		}
		if rule.Backend != tc.want {
			t.Errorf("%s%s → %q, want %s", tc.host, tc.path, rule.Backend, tc.want)
		}
	}
}

func TestStrictParsing(t *testing.T) {
	t.Parallel()
	_, err := ParseIngress([]byte(`
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: x}
spec:
  rules:
    - http:
        paths:
          - {path: /, pathTyp: Prefix, backend: {service: {name: root, port: {number: 1}}}}
`))
	if err == nil || !strings.Contains(err.Error(), "pathTyp") {
		t.Fatalf("a misspelt field must fail, got %v", err)
	}
	if _, err := ParseIngress([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n")); err == nil {
		t.Fatal("a Service is not an Ingress")
	}
}

func TestProxyForwardsHostAndCookies(t *testing.T) {
	t.Parallel()
	var gotHost, gotCookie, gotPath, gotFwd string
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotCookie, gotPath, gotFwd = r.Host, r.Header.Get("Cookie"), r.URL.RequestURI(), r.Header.Get("X-Forwarded-Host")
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "new", Path: "/"})
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"1"}`)
	}))
	defer auth.Close()
	gw := New(loadRoutes(t), slog.New(slog.DiscardHandler))
	gw.SetBackend("auth-srv", strings.TrimPrefix(auth.URL, "http://"))
	srv := httptest.NewServer(gw)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/users/signup?x=1", strings.NewReader(`{}`))
	req.Host = "ticketing.dev"
	req.Header.Set("Cookie", "session=old")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("status %d", res.StatusCode)
	}
	if gotHost != "ticketing.dev" || gotCookie != "session=old" || gotPath != "/api/users/signup?x=1" || gotFwd != "ticketing.dev" {
		t.Fatalf("backend saw host=%q cookie=%q path=%q x-forwarded-host=%q", gotHost, gotCookie, gotPath, gotFwd)
	}
	if c := res.Header.Get("Set-Cookie"); !strings.HasPrefix(c, "session=new") {
		t.Fatalf("Set-Cookie %q not passed back", c)
	}
}

func TestErrorEnvelopes(t *testing.T) {
	t.Parallel()
	routes, err := ParseIngress([]byte(`
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: x}
spec:
  rules:
    - http:
        paths:
          - {path: /api/users, pathType: Prefix, backend: {service: {name: auth-srv, port: {number: 3000}}}}
          - {path: /api/tickets, pathType: Prefix, backend: {service: {name: tickets-srv, port: {number: 3000}}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	gw := New(routes, slog.New(slog.DiscardHandler))
	dead := httptest.NewServer(http.NotFoundHandler())
	deadAddr := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	gw.SetBackend("tickets-srv", deadAddr)

	tests := []struct {
		path   string
		status int
		msg    string
	}{
		{"/nothing/here", http.StatusNotFound, "Not Found"},
		{"/api/users/signup", http.StatusServiceUnavailable, "auth-srv is not running"},
		{"/api/tickets", http.StatusBadGateway, "tickets-srv is not reachable"},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		var body errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: body %q: %v", tc.path, rec.Body.String(), err)
		}
		if rec.Code != tc.status || len(body.Errors) != 1 || body.Errors[0].Message != tc.msg {
			t.Errorf("%s: %d %s, want %d %q", tc.path, rec.Code, rec.Body.String(), tc.status, tc.msg)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.path, ct)
		}
	}
}
