package gateway

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// manifest is the routing table of infra/k8s, which the platform reads at
// run time too: the gateway must route exactly as it says.
var manifest = filepath.Join("..", "..", "infra", "k8s", "routes.yaml")

func loadRoutes(t *testing.T) *Routes {
	t.Helper()
	routes, err := LoadRoutes(manifest)
	if err != nil {
		t.Fatal(err)
	}
	return routes
}

// Every path the platform uses (the API's routes, the client's pages and
// assets) goes where it went when the gateway read the Ingress, and the
// neighbours of the API's prefixes go to the client.
func TestRoutesOfTheRealManifest(t *testing.T) {
	t.Parallel()
	routes := loadRoutes(t)
	if got, want := strings.Join(routes.Backends(), ","), "auth-srv,client-srv,orders-srv,payments-srv,tickets-srv"; got != want {
		t.Fatalf("backends = %s, want %s", got, want)
	}
	const id = "6570f0e0e0e0e0e0e0e0e0e0"
	tests := []struct {
		host, path, want string
	}{
		{"ticketing.dev", "/api/users/signup", "auth-srv"},
		{"ticketing.dev", "/api/users/signin", "auth-srv"},
		{"ticketing.dev", "/api/users/signout", "auth-srv"},
		{"ticketing.dev", "/api/users", "auth-srv"},
		{"ticketing.dev", "/api/users/", "auth-srv"},
		{"localhost:8080", "/api/users/currentuser", "auth-srv"},
		{"127.0.0.1:8080", "/api/tickets", "tickets-srv"},
		{"localhost", "/api/tickets/" + id, "tickets-srv"},
		{"localhost", "/api/orders", "orders-srv"},
		{"localhost", "/api/orders/" + id, "orders-srv"},
		{"localhost", "/api/payments", "payments-srv"},
		{"[::1]:8080", "/api/payments/", "payments-srv"},
		// PathPrefix matches whole path elements: these fall through to "/".
		{"localhost", "/api/usersx", "client-srv"},
		{"localhost", "/api/ticketsfoo/1", "client-srv"},
		{"localhost", "/api", "client-srv"},
		{"localhost", "/api/unknown", "client-srv"},
		// The client's pages (client/pages) and assets.
		{"localhost", "/", "client-srv"},
		{"ticketing.dev", "/auth/signin", "client-srv"},
		{"localhost", "/auth/signup", "client-srv"},
		{"localhost", "/auth/signout", "client-srv"},
		{"localhost", "/tickets/new", "client-srv"},
		{"localhost", "/tickets/" + id, "client-srv"},
		{"localhost", "/tickets/" + id + "/edit", "client-srv"},
		{"localhost", "/orders", "client-srv"},
		{"localhost", "/orders/" + id, "client-srv"},
		{"localhost", "/_next/static/chunks/x.js", "client-srv"},
		{"localhost", "/favicon.ico", "client-srv"},
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

// route is an HTTPRoute for host with one rule per path match: "Prefix
// /api=api" routes PathPrefix /api to Service api, port 1.
func route(host string, rules ...string) string {
	doc := "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: " + strings.ReplaceAll(host, ".", "-") + "}\nspec:\n"
	if host != "" {
		doc += "  hostnames: [" + host + "]\n"
	}
	doc += "  rules:\n"
	for _, r := range rules {
		kind, rest, _ := strings.Cut(r, " ")
		path, backend, _ := strings.Cut(rest, "=")
		doc += "    - matches: [{path: {type: " + kind + ", value: " + path + "}}]\n      backendRefs: [{name: " + backend + ", port: 1}]\n"
	}
	return doc
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	routes, err := ParseRoutes([]byte(route("a.test", "PathPrefix /=root", "PathPrefix /api=api", "PathPrefix /api/v2/=v2", "Exact /api/v2=v2exact") +
		"---\n# the second route\n" + route("b.test", "PathPrefix /api=bapi")))
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

// A route without host names answers for every host, and a rule without
// matches matches every path, as the API defaults them.
func TestDefaults(t *testing.T) {
	t.Parallel()
	routes, err := ParseRoutes([]byte(route("a.test", "PathPrefix /api=api") + "---\n" + route("c.test", "PathPrefix /c=c") + "---\n" + `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: rest}
spec:
  rules:
    - backendRefs: [{name: rest, port: 1}]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ host, path, want string }{
		{"a.test", "/api/x", "api"}, {"a.test", "/x", "rest"}, {"b.test", "/api/x", "rest"},
	} {
		if rule, ok := routes.Match(tc.host, tc.path); !ok || rule.Backend != tc.want {
			t.Errorf("%s%s → %q, want %s", tc.host, tc.path, rule.Backend, tc.want)
		}
	}
}

// What the gateway does not implement is refused, never ignored: the local
// routing would differ from the cluster's.
func TestRefusesWhatItDoesNotImplement(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, old, new, want string }{
		{"a misspelt field", "type: PathPrefix", "typ: PathPrefix", "typ"},
		{"a filter", "      backendRefs:", "      filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]\n      backendRefs:", "filters"},
		{"a header match", "{path: {type: PathPrefix, value: /api}}", "{path: {type: PathPrefix, value: /api}, headers: [{name: x, value: y}]}", "headers"},
		{"a regular expression", "type: PathPrefix", "type: RegularExpression", "RegularExpression"},
		{"a weight", "port: 1}", "port: 1, weight: 2}", "weight"},
		{"a backend in another namespace", "port: 1}", "port: 1, namespace: other}", "namespace"},
		{"two backends", "backendRefs: [{name: api, port: 1}]", "backendRefs: [{name: api, port: 1}, {name: api2, port: 1}]", "2 backends"},
		{"a backend that is no Service", "backendRefs: [{name: api, port: 1}]", "backendRefs: [{kind: Bucket, name: api, port: 1}]", "must be a Service"},
		{"a wildcard host", "hostnames: [a.test]", "hostnames: ['*.a.test']", "wildcard"},
		{"a path not starting with /", "value: /api", "value: api", "must start with /"},
		{"another kind", "kind: HTTPRoute", "kind: GRPCRoute", "want a gateway.networking.k8s.io/v1 HTTPRoute"},
	}
	valid := route("a.test", "PathPrefix /api=api")
	if _, err := ParseRoutes([]byte(valid)); err != nil {
		t.Fatalf("the unmutated route must parse: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(valid, tt.old) {
				t.Fatalf("the route no longer contains %q: update the test", tt.old)
			}
			_, err := ParseRoutes([]byte(strings.Replace(valid, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
	if _, err := ParseRoutes([]byte("# nothing\n---\n")); err == nil {
		t.Error("a file of no route must fail")
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
	routes, err := ParseRoutes([]byte(route("", "PathPrefix /api/users=auth-srv", "PathPrefix /api/tickets=tickets-srv")))
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
