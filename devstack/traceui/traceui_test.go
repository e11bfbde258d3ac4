package traceui_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketing.dev/devstack/traceui"
)

func get(t *testing.T, h http.Handler, method, target, host string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Host = host
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// The page, its files and the API proxy, each where the page expects them;
// only to loopback names, read-only.
func TestViewerRoutes(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	jaeger := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RequestURI()+" cookie="+r.Header.Get("Cookie"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":["orders"]}`)
	}))
	defer jaeger.Close()
	v := traceui.New(strings.TrimPrefix(jaeger.URL, "http://"))

	for _, tt := range []struct {
		method, target, host string
		status               int
		contentType, body    string
	}{
		{"GET", "/", "localhost:1234", 200, "text/html", "<title>Traces"},
		{"GET", "/?service=orders", "127.0.0.1:1234", 200, "text/html", "/static/app.js"},
		{"GET", "/trace/4bf92f3577b34da6a3ce929d0e0e4736", "[::1]:1234", 200, "text/html", "<h1>"},
		{"GET", "/static/app.js", "localhost", 200, "javascript", "tracePage"},
		{"GET", "/static/app.css", "localhost", 200, "text/css", ".waterfall"},
		{"GET", "/api/services", "localhost:1", 200, "application/json", `"orders"`},
		{"GET", "/api/traces?service=orders&limit=5", "localhost:1", 200, "application/json", `"orders"`},
		{"HEAD", "/", "localhost", 200, "text/html", ""},
		{"GET", "/trace/", "localhost", 404, "", ""},
		{"GET", "/static/", "localhost", 404, "", ""},
		{"GET", "/elsewhere", "localhost", 404, "", ""},
		{"POST", "/api/archive/4bf92f3577b34da6", "localhost", 405, "", ""},
		{"GET", "/", "evil.example:1234", 421, "", ""},
		{"GET", "/api/services", "192.168.1.5:1234", 421, "", ""},
	} {
		w := get(t, v, tt.method, tt.target, tt.host)
		if w.Code != tt.status {
			t.Errorf("%s %s (Host %s) = %d, want %d", tt.method, tt.target, tt.host, w.Code, tt.status)
			continue
		}
		if ct := w.Header().Get("Content-Type"); !strings.Contains(ct, tt.contentType) {
			t.Errorf("%s %s: Content-Type %q, want %q", tt.method, tt.target, ct, tt.contentType)
		}
		if !strings.Contains(w.Body.String(), tt.body) {
			t.Errorf("%s %s: body lacks %q", tt.method, tt.target, tt.body)
		}
		if tt.status == 200 && !strings.HasPrefix(tt.target, "/api/") {
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
				t.Errorf("%s: Content-Security-Policy %q", tt.target, csp)
			}
		}
	}
	// The proxy keeps the path and query and drops cookies.
	req := httptest.NewRequest("GET", "/api/traces/abc?raw=false", nil)
	req.Host = "localhost"
	req.Header.Set("Cookie", "session=secret")
	v.ServeHTTP(httptest.NewRecorder(), req)
	mu.Lock()
	defer mu.Unlock()
	if last := seen[len(seen)-1]; last != "/api/traces/abc?raw=false cookie=" {
		t.Errorf("Jaeger got %q", last)
	}
}

// While Jaeger is not up, the API answers 503 in Jaeger's error shape with
// the status the platform set, which the page shows.
func TestViewerSaysWhyJaegerIsAway(t *testing.T) {
	v := traceui.New("127.0.0.1:1") // nothing listens on port 1
	v.SetStatus("Jaeger is being built")
	w := get(t, v, "GET", "/api/services", "localhost")
	var body struct {
		Errors []struct {
			Code int
			Msg  string
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err, w.Body.String())
	}
	if w.Code != 503 || len(body.Errors) != 1 || body.Errors[0].Msg != "Jaeger is being built" || w.Header().Get("Retry-After") == "" {
		t.Fatalf("got %d %s", w.Code, w.Body.String())
	}
}

// The intake holds what arrives before Jaeger, answers it as accepted,
// and hands it over in order once Jaeger is there; then it passes requests
// and Jaeger's answers through.
func TestIntakeHoldsUntilJaeger(t *testing.T) {
	var mu sync.Mutex
	var got []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("Content-Encoding")+" "+string(b))
		mu.Unlock()
		if string(b) == "bad" {
			http.Error(w, "malformed", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
	}))
	defer receiver.Close()

	in := traceui.NewIntake()
	in.Hold = 10
	post := func(body, contentType string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/traces", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		in.ServeHTTP(w, req)
		return w
	}
	for _, b := range []string{"aaaa", "bbbb", "cccc"} { // 12 bytes: "aaaa" is dropped
		if w := post(b, "application/x-protobuf"); w.Code != 200 {
			t.Fatalf("held export answered %d", w.Code)
		}
	}
	if w := post("", "application/json"); w.Code != 200 || w.Body.String() != "{}" {
		t.Fatalf("held JSON export answered %d %q", w.Code, w.Body.String())
	}
	if held, dropped := in.Held(); held != 3 || dropped != 1 {
		t.Fatalf("held %d, dropped %d; want 3, 1", held, dropped)
	}
	in.SetTarget(strings.TrimPrefix(receiver.URL, "http://"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if held, _ := in.Held(); held == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the held exports were not handed over")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if w := post("bad", "application/x-protobuf"); w.Code != 400 {
		t.Fatalf("Jaeger's 400 passed on as %d", w.Code)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"/v1/traces application/x-protobuf gzip bbbb",
		"/v1/traces application/x-protobuf gzip cccc",
		"/v1/traces application/json gzip ",
		"/v1/traces application/x-protobuf gzip bad",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Jaeger got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The binary's name follows go.mod and go.sum; a build goes through run
// once, lands under that name, and is reused after.
func TestBuildJaegerCaches(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	root := t.TempDir()
	module := traceui.JaegerModule(root)
	if err := os.MkdirAll(module, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(module, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/j\n")
	write("go.sum", "")
	ctx := t.Context()
	first, built, err := traceui.JaegerBinary(ctx, root)
	if err != nil || built {
		t.Fatalf("JaegerBinary = %s, %v, %v", first, built, err)
	}
	var runs []string
	run := func(cmd *exec.Cmd) error {
		runs = append(runs, strings.Join(cmd.Args, " "))
		if cmd.Dir != module || !bytes.Contains([]byte(strings.Join(cmd.Env, "\n")), []byte("GOWORK=off")) {
			t.Errorf("%s: Dir %s, GOWORK=off missing or not", cmd.Args, cmd.Dir)
		}
		for i, a := range cmd.Args {
			if a == "-o" {
				return os.WriteFile(cmd.Args[i+1], []byte("#!/bin/sh\n"), 0o755)
			}
		}
		return nil
	}
	for range 2 {
		bin, err := traceui.BuildJaeger(ctx, root, run)
		if err != nil || bin != first {
			t.Fatalf("BuildJaeger = %s, %v; want %s", bin, err, first)
		}
	}
	if len(runs) != 2 || !strings.Contains(runs[0], "go mod download") || !strings.Contains(runs[1], "go build -buildvcs=false -o "+first+".tmp "+traceui.JaegerPackage) {
		t.Fatalf("runs %q", runs)
	}
	write("go.sum", "example.com/x v1.0.0 h1:x\n")
	if other, built, _ := traceui.JaegerBinary(ctx, root); other == first || built {
		t.Fatalf("a changed go.sum keeps the binary %s (built %v)", other, built)
	}
}
