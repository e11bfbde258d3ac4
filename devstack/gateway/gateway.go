package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Gateway proxies each request to a replica of the Service its route names. Host, cookies and the rest of the request travel unchanged;
// X-Forwarded-* headers are added.
type Gateway struct {
	routes    *Routes
	log       *slog.Logger
	transport *http.Transport

	mu       sync.RWMutex
	backends map[string]*backend
}

// New returns a gateway with no backends yet: requests for a Service that has
// none answer 503 until SetBackend names its replicas.
func New(routes *Routes, log *slog.Logger) *Gateway {
	return &Gateway{
		routes: routes, log: log, backends: map[string]*backend{},
		transport: &http.Transport{
			Proxy:                 nil,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       30 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
		},
	}
}

// backend is a Service: its replicas, and the proxy that spreads requests
// over them.
type backend struct {
	service   string
	replicas  []*replica
	next      atomic.Uint64 // round-robin position
	transport http.RoundTripper
	log       *slog.Logger
	proxy     *httputil.ReverseProxy
}

// replica is one process of a Service. ready is its last readiness probe's
// answer (SetReady), or false once a connection to it failed.
type replica struct {
	addr  string
	ready atomic.Bool
}

// SetBackend points a Service name (e.g. "auth-srv") at the local addresses
// of its replicas ("127.0.0.1:41234", …). They start not ready: until a
// probe says otherwise (SetReady), requests go to any of them.
func (g *Gateway) SetBackend(service string, addrs ...string) {
	b := &backend{service: service, transport: g.transport, log: g.log}
	for _, addr := range addrs {
		b.replicas = append(b.replicas, &replica{addr: addr})
	}
	// The URL names the Service; RoundTrip puts a replica's address in it.
	target := &url.URL{Scheme: "http", Host: service}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
			r.Out.Host = r.In.Host // as the edge does: backends see the browser's host
		},
		FlushInterval: 100 * time.Millisecond,
		Transport:     b,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.log.Warn("backend unreachable", "service", service, "path", r.URL.Path, "err", err)
			writeError(w, http.StatusBadGateway, service+" is not reachable")
		},
	}
	g.mu.Lock()
	g.backends[service] = b
	g.mu.Unlock()
}

// SetReady records a replica's readiness: requests go only to the ready
// replicas of a Service, as its Endpoints list only ready pods (to all of
// them while none is).
func (g *Gateway) SetReady(service, addr string, ready bool) {
	g.mu.RLock()
	b := g.backends[service]
	g.mu.RUnlock()
	if b == nil {
		return
	}
	for _, r := range b.replicas {
		if r.addr == addr {
			r.ready.Store(ready)
		}
	}
}

// ServeHTTP routes by the HTTPRoutes: no rule → 404 envelope; a rule whose
// Service is not running here → 503 envelope.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rule, ok := g.routes.Match(r.Host, r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	g.mu.RLock()
	b := g.backends[rule.Backend]
	g.mu.RUnlock()
	if b == nil || len(b.replicas) == 0 {
		writeError(w, http.StatusServiceUnavailable, rule.Backend+" is not running")
		return
	}
	b.proxy.ServeHTTP(w, r)
}

// RoundTrip sends the request to the next ready replica, round-robin. A
// replica that refuses the connection (killed, restarting) got nothing of
// the request, so the next one is tried; an error after the connection was
// made is returned as it is, since the replica may have acted on the
// request.
func (b *backend) RoundTrip(req *http.Request) (*http.Response, error) {
	var err error
	for _, r := range b.order() {
		out := req.Clone(req.Context())
		out.URL.Host = r.addr
		if req.Body != nil {
			// A failed dial closes the body it was given: the proxy closes
			// the real one when the request is over.
			out.Body = io.NopCloser(req.Body)
		}
		var res *http.Response
		res, err = b.transport.RoundTrip(out)
		var op *net.OpError
		if err == nil || !errors.As(err, &op) || op.Op != "dial" {
			return res, err
		}
		if r.ready.Swap(false) {
			b.log.Warn("replica unreachable: trying the others until its probe passes", "service", b.service, "addr", r.addr, "err", err)
		}
	}
	return nil, err
}

// order lists the replicas to try: the ready ones first, then the others,
// each group rotated to the next round-robin position.
func (b *backend) order() []*replica {
	var ready, rest []*replica
	for _, r := range b.replicas {
		if r.ready.Load() {
			ready = append(ready, r)
		} else {
			rest = append(rest, r)
		}
	}
	n := b.next.Add(1)
	return slices.Concat(rotate(ready, n), rotate(rest, n))
}

// rotate starts rs at position n (modulo its length).
func rotate(rs []*replica, n uint64) []*replica {
	if len(rs) == 0 {
		return nil
	}
	i := int(n % uint64(len(rs)))
	return slices.Concat(rs[i:], rs[:i])
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
