package gateway

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// Gateway proxies each request to the local address of the Service its
// Ingress rule names. Host, cookies and the rest of the request travel
// unchanged; X-Forwarded-* headers are added.
type Gateway struct {
	routes *Routes
	log    *slog.Logger

	mu       sync.RWMutex
	backends map[string]*httputil.ReverseProxy
}

// New returns a gateway with no backends yet: requests for a Service that has
// none answer 503 until SetBackend names its address.
func New(routes *Routes, log *slog.Logger) *Gateway {
	return &Gateway{routes: routes, log: log, backends: map[string]*httputil.ReverseProxy{}}
}

// SetBackend points a Service name (e.g. "auth-srv") at a local address
// ("127.0.0.1:41234").
func (g *Gateway) SetBackend(service, addr string) {
	target := &url.URL{Scheme: "http", Host: addr}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
			r.Out.Host = r.In.Host // as the ingress does: backends see the browser's host
		},
		FlushInterval: 100 * time.Millisecond,
		Transport: &http.Transport{
			Proxy:                 nil,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       30 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.log.Warn("backend unreachable", "service", service, "path", r.URL.Path, "err", err)
			writeError(w, http.StatusBadGateway, service+" is not reachable")
		},
	}
	g.mu.Lock()
	g.backends[service] = proxy
	g.mu.Unlock()
}

// ServeHTTP routes by the Ingress rules: no rule → 404 envelope; a rule whose
// Service is not running here → 503 envelope.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rule, ok := g.routes.Match(r.Host, r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	g.mu.RLock()
	proxy := g.backends[rule.Backend]
	g.mu.RUnlock()
	if proxy == nil {
		writeError(w, http.StatusServiceUnavailable, rule.Backend+" is not running")
		return
	}
	proxy.ServeHTTP(w, r)
}

type errorBody struct {
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Errors: []errorItem{{Message: msg}}})
}
