// Package traceui is devstack's trace viewer and what it needs around
// Jaeger, which devstack runs as its trace backend:
//
//   - Viewer, an http.Handler: a small page (embedded HTML, JavaScript and
//     CSS; no framework, no build step) that lists the services, searches
//     their recent traces and shows one trace as a waterfall of its spans
//     (/trace/<id>), over Jaeger's query API, which it proxies at /api/;
//   - Intake, an http.Handler the services send OTLP/HTTP to: it passes
//     the spans on to Jaeger's receiver and holds them while Jaeger is not
//     up yet (its first build takes minutes), so the services never see a
//     refused export;
//   - BuildJaeger and Jaeger: building the pinned Jaeger (devstack/jaeger,
//     a module outside go.work) into a cache, and running it with
//     devstack/jaeger/config.yaml on ports the caller chooses.
//
// The Go module of Jaeger ships no UI (release builds embed jaeger-ui,
// which is not on npm), hence the viewer.
package traceui

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

//go:embed ui
var uiFiles embed.FS

// contentSecurityPolicy allows the page's own script, style and API only:
// no inline script or style, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// Viewer serves the trace viewer: the page at / (the services and a
// search: /?service=orders&lookback=1h&limit=20) and /trace/<id> (one
// trace), its files at /static/, and Jaeger's query API at /api/ (GET
// only, proxied to the query address).
//
// It answers only requests addressed to a loopback name (localhost,
// 127.0.0.1, [::1]): a page of another site that rebinds its name to
// 127.0.0.1 cannot read the traces.
type Viewer struct {
	proxy  *httputil.ReverseProxy
	static http.Handler
	index  []byte

	mu     sync.RWMutex
	status string
}

// New returns the viewer of the Jaeger query API at queryAddr (host:port).
func New(queryAddr string) *Viewer {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	target := &url.URL{Scheme: "http", Host: queryAddr}
	v := &Viewer{static: http.FileServerFS(sub), index: index}
	v.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Del("Cookie")
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			v.unavailable(w)
		},
	}
	return v
}

// SetStatus is what the page says while Jaeger's API does not answer
// ("Jaeger is being built: …"); empty for the default.
func (v *Viewer) SetStatus(s string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.status = s
}

func (v *Viewer) unavailable(w http.ResponseWriter) {
	v.mu.RLock()
	msg := v.status
	v.mu.RUnlock()
	if msg == "" {
		msg = "Jaeger is not answering (see devstack's output, lines starting with [jaeger])"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "2")
	w.WriteHeader(http.StatusServiceUnavailable)
	// The shape of Jaeger's own errors, which the page reads.
	_ = json.NewEncoder(w).Encode(map[string]any{
		"data": nil, "errors": []map[string]any{{"code": http.StatusServiceUnavailable, "msg": msg}},
	})
}

func (v *Viewer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopbackHost(r.Host) {
		http.Error(w, "the trace viewer answers only requests to localhost", http.StatusMisdirectedRequest)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "the trace viewer is read-only", http.StatusMethodNotAllowed)
		return
	}
	switch path := r.URL.Path; {
	case strings.HasPrefix(path, "/api/"):
		v.proxy.ServeHTTP(w, r)
	case strings.HasPrefix(path, "/static/") && !strings.HasSuffix(path, "/"):
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		v.static.ServeHTTP(w, r)
	case path == "/" || (strings.HasPrefix(path, "/trace/") && len(path) > len("/trace/")):
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(v.index)
	default:
		http.NotFound(w, r)
	}
}

// loopbackHost tells whether a Host header names this machine by a
// loopback name.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
