package stripepay_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"ticketing.dev/payments/stripepay"
	"ticketing.dev/testkit"
)

func answer(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

func TestChargeOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.Handler
		check   func(error) bool
	}{
		{"declined", answer(402, `{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`),
			func(err error) bool {
				var d *stripepay.Declined
				return errors.As(err, &d) && d.Message == "Your card was declined."
			}},
		{"bad token", answer(400, `{"error":{"type":"invalid_request_error","message":"No such token"}}`),
			func(err error) bool {
				var r *stripepay.Rejected
				return errors.As(err, &r) && r.UserError() && r.Message == "No such token"
			}},
		{"bad key", answer(401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`),
			func(err error) bool {
				var r *stripepay.Rejected
				return errors.As(err, &r)
			}},
		{"stripe failing", answer(500, `{"error":{"type":"api_error","message":"boom"}}`),
			func(err error) bool {
				var u *stripepay.Unreachable
				return errors.As(err, &u)
			}},
		{"key in use", answer(409, `{"error":{"type":"idempotency_error","message":"in use"}}`),
			func(err error) bool {
				var u *stripepay.Unreachable
				return errors.As(err, &u)
			}},
		// The key was used before with other parameters: a charge may
		// exist, so the outcome is unknown, not a refusal.
		{"key reused", answer(400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests `+
			`can only be used with the same parameters they were first used with."}}`),
			func(err error) bool {
				var u *stripepay.Unreachable
				return errors.As(err, &u) && errors.Is(err, stripepay.ErrKeyReused)
			}},
		{"not JSON", answer(502, `<html>bad gateway</html>`),
			func(err error) bool {
				var u *stripepay.Unreachable
				return errors.As(err, &u)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			c := stripepay.New(stripepay.Config{Key: "sk_test_123", BaseURL: srv.URL, Log: testkit.Logger(t)})
			_, err := c.CreateCharge(context.Background(), stripepay.Charge{
				AmountCents: 100, Token: "tok_visa", IdempotencyKey: "k", OrderID: "o"})
			if !tc.check(err) {
				t.Fatalf("error %T %v", err, err)
			}
		})
	}
}

func TestChargeAndRefundAtStripeMock(t *testing.T) {
	t.Parallel()
	c := stripepay.New(stripepay.Config{Key: "sk_test_123", BaseURL: testkit.StripeMockURL(t), Log: testkit.Logger(t)})
	id, err := c.CreateCharge(context.Background(), stripepay.Charge{
		AmountCents: 1999, Token: "tok_visa", IdempotencyKey: "charge-x-1", OrderID: "x"})
	if err != nil || id == "" {
		t.Fatalf("charge %q: %v", id, err)
	}
	rid, err := c.CreateRefund(context.Background(), stripepay.Refund{ChargeID: id, IdempotencyKey: "refund-x"})
	if err != nil || rid == "" {
		t.Fatalf("refund %q: %v", rid, err)
	}
}

func TestRefundOfRefundedCharge(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(answer(400,
		`{"error":{"type":"invalid_request_error","code":"charge_already_refunded","message":"Charge has already been refunded."}}`))
	t.Cleanup(srv.Close)
	c := stripepay.New(stripepay.Config{Key: "sk_test_123", BaseURL: srv.URL})
	if _, err := c.CreateRefund(context.Background(), stripepay.Refund{ChargeID: "ch_1", IdempotencyKey: "r"}); err != nil {
		t.Fatal(err)
	}
}
