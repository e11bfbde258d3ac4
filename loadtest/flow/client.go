package flow

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds how much of one answer is read.
const maxBody = 8 << 20

// answer is one HTTP exchange: the status (0 when err is set), the body,
// the session cookie a sign-up set, and the time from sending the request
// to having read the whole body.
type answer struct {
	status     int
	body       []byte
	cookie     string
	retryAfter time.Duration
	took       time.Duration
	err        error
}

// key names the outcome in status counts.
func (a answer) key() string {
	if a.err != nil {
		return "neterr"
	}
	return strconv.Itoa(a.status)
}

// is reports whether the exchange completed with status.
func (a answer) is(status int) bool { return a.err == nil && a.status == status }

// describe is a one-line account of an unexpected answer.
func (a answer) describe(what string) string {
	if a.err != nil {
		return what + ": " + a.err.Error()
	}
	body := strings.Join(strings.Fields(string(a.body)), " ")
	if len(body) > 200 {
		body = body[:200] + "…"
	}
	return fmt.Sprintf("%s: HTTP %d %s", what, a.status, body)
}

// client speaks the ticketing API through one base URL (the gateway or the
// ingress), optionally with another Host header.
type client struct {
	base string
	host string
	hc   *http.Client
}

func newClient(o Options) (*client, error) {
	u, err := url.Parse(o.Base)
	if err != nil {
		return nil, fmt.Errorf("base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: want http://host[:port] or https://host[:port]", o.Base)
	}
	conns := max(o.Concurrency, o.RaceBuyers) + 8
	tlsConfig := &tls.Config{InsecureSkipVerify: o.Insecure} //nolint:gosec // -insecure: a self-signed ingress, on request
	if o.Host != "" {
		tlsConfig.ServerName = hostOnly(o.Host) // the certificate the ingress picks by SNI
	}
	tr := &http.Transport{
		// A load generator talks to its target directly, never through HTTP_PROXY.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
	}
	hc := &http.Client{
		Transport: tr,
		Timeout:   requestTimeout,
		// The API never redirects: a redirect (an ingress sending plain HTTP
		// to HTTPS, say) is reported as the answer it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &client{base: strings.TrimRight(u.String(), "/"), host: o.Host, hc: hc}, nil
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// do sends one request, with a JSON body when payload is not nil and the
// session cookie when cookie is not empty.
func (c *client) do(ctx context.Context, method, path, cookie string, payload any) answer {
	var body io.Reader
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return answer{err: err}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return answer{err: err}
	}
	if c.host != "" {
		req.Host = c.host
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	start := time.Now()
	res, err := c.hc.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	a := answer{status: res.StatusCode, body: b, took: time.Since(start), err: err}
	var pairs []string
	for _, ck := range res.Cookies() {
		if ck.Value != "" {
			pairs = append(pairs, ck.Name+"="+ck.Value)
		}
	}
	a.cookie = strings.Join(pairs, "; ")
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
		a.retryAfter = time.Duration(s) * time.Second
	}
	return a
}

var errNoCookie = errors.New("201 without a session cookie")

// signup signs a new user up; on 201 the answer carries the session cookie.
func (c *client) signup(ctx context.Context, email string) answer {
	a := c.do(ctx, http.MethodPost, "/api/users/signup", "", map[string]string{"email": email, "password": password})
	if a.is(http.StatusCreated) && a.cookie == "" {
		a.err = errNoCookie
	}
	return a
}

// listTickets lists the unreserved tickets (the first page) and counts
// them; on 200 the body must be a JSON array.
func (c *client) listTickets(ctx context.Context) (int, answer) {
	a := c.do(ctx, http.MethodGet, "/api/tickets", "", nil)
	if !a.is(http.StatusOK) {
		return 0, a
	}
	var items []json.RawMessage
	if err := json.Unmarshal(a.body, &items); err != nil {
		a.err = fmt.Errorf("the list is not a JSON array: %w", err)
	}
	return len(items), a
}

// sell creates a ticket and returns its id.
func (c *client) sell(ctx context.Context, cookie, title string, price float64) (string, answer) {
	a := c.do(ctx, http.MethodPost, "/api/tickets", cookie, map[string]any{"title": title, "price": price})
	return a.id(http.StatusCreated)
}

// order orders a ticket and returns the order's id.
func (c *client) order(ctx context.Context, cookie, ticketID string) (string, answer) {
	a := c.do(ctx, http.MethodPost, "/api/orders", cookie, map[string]string{"ticketId": ticketID})
	return a.id(http.StatusCreated)
}

// pay pays an order with Stripe's test card token.
func (c *client) pay(ctx context.Context, cookie, orderID string) answer {
	return c.do(ctx, http.MethodPost, "/api/payments", cookie, map[string]string{"orderId": orderID, "token": "tok_visa"})
}

// orderStatus reads an order's status.
func (c *client) orderStatus(ctx context.Context, cookie, orderID string) (string, answer) {
	a := c.do(ctx, http.MethodGet, "/api/orders/"+url.PathEscape(orderID), cookie, nil)
	if !a.is(http.StatusOK) {
		return "", a
	}
	var o struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(a.body, &o); err != nil || o.Status == "" {
		a.err = fmt.Errorf("order body without a status: %q", a.body)
	}
	return o.Status, a
}

// id reads the "id" of a JSON object answered with want; a missing id is an
// error of the answer.
func (a answer) id(want int) (string, answer) {
	if !a.is(want) {
		return "", a
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(a.body, &v); err != nil || v.ID == "" {
		a.err = fmt.Errorf("HTTP %d without an id: %q", a.status, a.body)
		return "", a
	}
	return v.ID, a
}

// past404 repeats call while it answers 404 (the service has not heard of
// the ticket or order yet), for at most limit: first after pollInterval,
// each wait half again as long as the one before, up to maxInterval (polls
// compete with the listener they wait for). It returns the first other
// answer, or the last 404 once the limit is over.
func past404(ctx context.Context, limit, maxInterval time.Duration, call func() answer) answer {
	deadline := time.Now().Add(limit)
	interval := pollInterval
	for {
		a := call()
		if !a.is(http.StatusNotFound) || !time.Now().Before(deadline) || !sleep(ctx, interval) {
			return a
		}
		interval = min(interval*3/2, maxInterval)
	}
}

// sleep waits d, or less if ctx ends first; it reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
