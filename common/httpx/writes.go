package httpx

import (
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"ticketing.dev/common/apperr"
)

// The messages of guardWrites' refusals.
const (
	MsgNotJSON   = "Content-Type must be application/json"
	MsgCrossSite = "Cross-site request refused"
)

// guardWrites refuses, on every method that changes something (POST, PUT,
// PATCH, DELETE), what a page of another site could make a browser send
// with the user's cookie:
//
//   - a body that is not JSON: 415. An HTML form or a "simple" fetch can
//     only send form, multipart or text bodies without asking the server
//     first (CORS preflight), and none of them is application/json. A
//     request without a body (Content-Length 0: a sign-out, a cancel) carries
//     nothing and needs no Content-Type.
//   - a cross-site request: 403. When the browser says where the request
//     comes from (Sec-Fetch-Site, every current browser), only cross-site is
//     refused: same-origin, same-site and none (typed by the user) pass.
//     Otherwise, when it sends an Origin, that origin's host must be the
//     request's Host (the ingress and the gateway keep the browser's Host).
//
// Non-browser clients (curl, the client's server-side rendering, other
// services) send neither header and pass. Reads (GET, HEAD, OPTIONS) are
// never refused: they change nothing.
func guardWrites(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := checkWrite(r); err != nil {
				WriteError(log, w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// checkWrite is guardWrites' decision: nil lets the request through.
func checkWrite(r *http.Request) error {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil
	}
	if crossSite(r) {
		return apperr.Forbidden(MsgCrossSite)
	}
	if r.ContentLength == 0 {
		return nil // no body (a chunked one has ContentLength -1)
	}
	media, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || media != "application/json" {
		return apperr.UnsupportedMediaType(MsgNotJSON)
	}
	return nil
}

// crossSite reports whether a browser says the request comes from another
// site: Sec-Fetch-Site when it sends one, else an Origin whose host is not
// the request's.
func crossSite(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return strings.EqualFold(site, "cross-site")
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" { // "null" (a sandboxed or opaque origin) included
		return true
	}
	return !strings.EqualFold(withoutDefaultPort(u.Host, u.Scheme), withoutDefaultPort(r.Host, u.Scheme))
}

// withoutDefaultPort drops :80 from an http host and :443 from an https
// one, so that "https://shop.dev" and Host "shop.dev:443" are one origin.
func withoutDefaultPort(host, scheme string) string {
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return host
	}
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		if strings.Contains(h, ":") {
			return "[" + h + "]" // an IPv6 literal keeps its brackets
		}
		return h
	}
	return host
}
