// Package stripepay charges and refunds through Stripe's API (or stripe-mock)
// and sorts Stripe's failures into what the caller must do about them.
package stripepay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// Config configures a Client.
type Config struct {
	Key     string // secret key; never logged
	BaseURL string // API base URL; empty means Stripe itself
	// Timeout bounds one HTTP exchange with Stripe.
	Timeout time.Duration
	// MaxRetries bounds stripe-go's own retries of network failures, 409s
	// and 503s; every call carries an idempotency key, so they are safe.
	MaxRetries int64
	Log        *slog.Logger
}

// Client is a Stripe client with its own backend, so several clients with
// different base URLs can live in one process (tests run in parallel).
type Client struct {
	api *client.API
}

// New builds a Client.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	httpClient := &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: cfg.Timeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   16,
		},
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        httpClient,
		MaxNetworkRetries: stripe.Int64(cfg.MaxRetries),
		LeveledLogger:     leveled{cfg.Log.With("component", "stripe")},
	}
	if cfg.BaseURL != "" {
		bc.URL = stripe.String(cfg.BaseURL)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	// Connect and Uploads are never used; they get the same backend so that
	// nothing falls back to the package-global one.
	return &Client{api: client.New(cfg.Key, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})}
}

// Declined means the card was refused; Message is Stripe's, fit for the user.
type Declined struct{ Message string }

func (e *Declined) Error() string { return "card declined: " + e.Message }

// Rejected means Stripe refused the request itself (a bad token, a bad key):
// nothing was charged. Message is Stripe's.
type Rejected struct {
	Message string
	Status  int
	Type    string
}

func (e *Rejected) Error() string {
	return fmt.Sprintf("stripe rejected the request (%d %s): %s", e.Status, e.Type, e.Message)
}

// UserError reports whether the rejection is about what the user sent
// (an invalid request) rather than about our account or key.
func (e *Rejected) UserError() bool { return e.Type == string(stripe.ErrorTypeInvalidRequest) }

// Unreachable means the outcome is unknown: Stripe could not be reached, timed
// out, failed on its side, or reported the key as used before. A repeat with
// the same idempotency key is safe.
type Unreachable struct{ Err error }

func (e *Unreachable) Error() string { return "stripe unreachable: " + e.Err.Error() }
func (e *Unreachable) Unwrap() error { return e.Err }

// ErrKeyReused is inside the Unreachable that Stripe's idempotency_error
// (400) becomes: the key was used before with other parameters, so a charge
// may exist under it. Not a refusal: nothing says nothing was charged.
var ErrKeyReused = errors.New("idempotency key already used with other parameters")

// classify turns a stripe-go error into Declined, Rejected or Unreachable.
// Rejected is only for answers that mean nothing was done: the caller then
// treats the attempt as over and may make a new one.
func classify(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return &Unreachable{Err: err}
	}
	switch {
	case se.Type == stripe.ErrorTypeCard:
		return &Declined{Message: se.Msg}
	case se.Type == stripe.ErrorTypeIdempotency && se.HTTPStatusCode != http.StatusConflict:
		return &Unreachable{Err: fmt.Errorf("stripe %d %s: %s: %w", se.HTTPStatusCode, se.Type, se.Msg, ErrKeyReused)}
	// 409 (idempotency key in use), 429 and 5xx: Stripe may or may not have
	// acted, or will act; only a repeat with the same key can tell.
	case se.HTTPStatusCode == http.StatusConflict, se.HTTPStatusCode == http.StatusTooManyRequests,
		se.HTTPStatusCode >= 500, se.HTTPStatusCode == 0:
		return &Unreachable{Err: fmt.Errorf("stripe %d %s: %s", se.HTTPStatusCode, se.Type, se.Msg)}
	default:
		return &Rejected{Message: se.Msg, Status: se.HTTPStatusCode, Type: string(se.Type)}
	}
}

// Charge asks for one charge.
type Charge struct {
	AmountCents    int64
	Token          string // a card token such as tok_visa, used as the source
	IdempotencyKey string
	OrderID        string // recorded in the charge's metadata
}

// Stripe calls by operation (charge, refund) and outcome: ok, declined
// (the card), rejected (nothing done), unreachable (unknown: retried with
// the same idempotency key).
var (
	stripeCalls = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "stripe_requests_total",
		Help: "Calls to Stripe's API by operation (charge, refund) and outcome (ok, declined, rejected, unreachable).",
	}, []string{"operation", "outcome"})
	stripeDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "stripe_request_duration_seconds",
		Help:    "Time of one call to Stripe's API, by operation.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"operation"})
)

// observe counts a call that started at start and ended with err (as
// classify gives it).
func observe(operation string, start time.Time, err error) {
	stripeDuration.WithLabelValues(operation).Observe(time.Since(start).Seconds())
	var declined *Declined
	var rejected *Rejected
	outcome := "ok"
	switch {
	case err == nil:
	case errors.As(err, &declined):
		outcome = "declined"
	case errors.As(err, &rejected):
		outcome = "rejected"
	default:
		outcome = "unreachable"
	}
	stripeCalls.WithLabelValues(operation, outcome).Inc()
}

// CreateCharge charges in usd and returns the charge id.
func (c *Client) CreateCharge(ctx context.Context, ch Charge) (id string, err error) {
	params := &stripe.ChargeParams{
		Amount:      stripe.Int64(ch.AmountCents),
		Currency:    stripe.String(string(stripe.CurrencyUSD)),
		Description: stripe.String("Ticketing order " + ch.OrderID),
		Metadata:    map[string]string{"orderId": ch.OrderID},
	}
	if err := params.SetSource(ch.Token); err != nil {
		return "", &Rejected{Message: "Invalid card token", Status: http.StatusBadRequest,
			Type: string(stripe.ErrorTypeInvalidRequest)}
	}
	params.Context = ctx
	params.SetIdempotencyKey(ch.IdempotencyKey)
	defer func(start time.Time) { observe("charge", start, err) }(time.Now())
	res, err := c.api.Charges.New(params)
	if err != nil {
		return "", classify(err)
	}
	return res.ID, nil
}

// Refund asks for a full refund of a charge.
type Refund struct {
	ChargeID       string
	IdempotencyKey string
}

// CreateRefund refunds the whole charge and returns the refund id. A charge
// that is already refunded counts as success with an empty id.
func (c *Client) CreateRefund(ctx context.Context, r Refund) (id string, err error) {
	params := &stripe.RefundParams{Charge: stripe.String(r.ChargeID)}
	params.Context = ctx
	params.SetIdempotencyKey(r.IdempotencyKey)
	defer func(start time.Time) { observe("refund", start, err) }(time.Now())
	res, err := c.api.Refunds.New(params)
	var se *stripe.Error
	if errors.As(err, &se) && se.Code == stripe.ErrorCodeChargeAlreadyRefunded {
		return "", nil
	}
	if err != nil {
		return "", classify(err)
	}
	return res.ID, nil
}

// leveled sends stripe-go's own log lines to slog. Those carry request paths
// and Stripe's error bodies, never the key; its debug lines (whole response
// bodies, which describe the card) are dropped.
type leveled struct{ log *slog.Logger }

func (l leveled) Debugf(string, ...any)          {}
func (l leveled) Infof(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l leveled) Warnf(format string, v ...any)  { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l leveled) Errorf(format string, v ...any) { l.log.Warn(fmt.Sprintf(format, v...)) }
