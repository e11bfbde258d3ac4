package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/config"
	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/orders/internal/testenv"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestMissingConfiguration(t *testing.T) {
	for _, name := range []string{"MONGO_URI", "NATS_URL", "JWT_KEY", "ORDER_EXPIRATION_WINDOW"} {
		t.Setenv(name, "")
	}
	t.Setenv("ORDER_EXPIRATION_WINDOW", "soon")
	err := service.Run(context.Background(), testkit.Logger(t), name, loadConfig, run)
	if err == nil {
		t.Fatal("run started without configuration")
	}
	for _, want := range []string{"MONGO_URI is required", "NATS_URL is required", "JWT_KEY is required", "ORDER_EXPIRATION_WINDOW"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestGraceSweepAndLimitConfiguration(t *testing.T) {
	tests := []struct {
		env       map[string]string
		grace     time.Duration
		sweep     time.Duration
		limit     int
		wantError string // "" when valid
	}{
		{env: map[string]string{}, grace: time.Minute, sweep: 5 * time.Second, limit: 10},
		{env: map[string]string{"ORDER_EXPIRATION_GRACE": "0s"}, grace: 0, sweep: 5 * time.Second, limit: 10},
		{env: map[string]string{"ORDER_EXPIRATION_GRACE": "0"}, grace: 0, sweep: 5 * time.Second, limit: 10},
		{env: map[string]string{"ORDER_EXPIRATION_GRACE": "90s", "ORDER_SWEEP": "200ms"}, grace: 90 * time.Second, sweep: 200 * time.Millisecond, limit: 10},
		{env: map[string]string{"ORDER_ACTIVE_LIMIT": "1"}, grace: time.Minute, sweep: 5 * time.Second, limit: 1},
		{env: map[string]string{"ORDER_ACTIVE_LIMIT": "100000"}, grace: time.Minute, sweep: 5 * time.Second, limit: 100000},
		{env: map[string]string{"ORDER_EXPIRATION_GRACE": "-1s"}, wantError: "ORDER_EXPIRATION_GRACE"},
		{env: map[string]string{"ORDER_EXPIRATION_GRACE": "a while"}, wantError: "ORDER_EXPIRATION_GRACE"},
		{env: map[string]string{"ORDER_SWEEP": "0s"}, wantError: "ORDER_SWEEP"},
		{env: map[string]string{"ORDER_SWEEP": "often"}, wantError: "ORDER_SWEEP"},
		{env: map[string]string{"ORDER_ACTIVE_LIMIT": "0"}, grace: time.Minute, sweep: 5 * time.Second, limit: 0}, // no limit
		{env: map[string]string{"ORDER_ACTIVE_LIMIT": "-3"}, wantError: "ORDER_ACTIVE_LIMIT"},
		{env: map[string]string{"ORDER_ACTIVE_LIMIT": "ten"}, wantError: "ORDER_ACTIVE_LIMIT"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.env), func(t *testing.T) {
			env := map[string]string{"MONGO_URI": "mongodb://x/orders", "NATS_URL": "nats://x", "JWT_KEY": testkit.JWTKey}
			for k, v := range tt.env {
				env[k] = v
			}
			r := config.New(func(name string) (string, bool) { v, ok := env[name]; return v, ok })
			s := loadConfig(r)
			err := r.Err()
			switch {
			case tt.wantError != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantError)
				}
			case err != nil:
				t.Fatal(err)
			case s.Grace != tt.grace || s.Sweep != tt.sweep || s.ActiveLimit != tt.limit:
				t.Fatalf("grace %s, sweep %s, active limit %d; want %s, %s, %d", s.Grace, s.Sweep, s.ActiveLimit, tt.grace, tt.sweep, tt.limit)
			}
		})
	}
}

// The service as main wires it: it serves, follows ticket events, answers
// readiness, expires an unpaid order through its sweep when no expiration
// event ever comes, and stops cleanly when its context ends.
func TestRun(t *testing.T) {
	u, err := url.Parse(mongokit.MongoURI(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + testkit.RandomName("orders_main_")
	n := natskit.StartNATS(t)
	svc := testkit.Serve(t, name, loadConfig, run, natskit.WithEnv(name, map[string]string{
		"MONGO_URI": u.String(), "NATS_URL": n.URL, "JWT_KEY": testkit.JWTKey,
		"ORDER_EXPIRATION_WINDOW": "1s", "ORDER_EXPIRATION_GRACE": "0s", "ORDER_SWEEP": "100ms",
	}))
	ctx := testkit.Context(t)
	client := &http.Client{Timeout: 2 * time.Second}

	created := natskit.Record(t, n.JS, events.OrderCreated)
	id := bson.NewObjectID()
	if err := events.Publish(ctx, events.NewPublisher(n.JS), events.TicketCreated, outbox.ID("ticket.created", id.Hex(), 0),
		events.TicketCreatedData{ID: id.Hex(), Title: "main", Price: 100, UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	cookie := testkit.SessionCookie(t, "aaaaaaaaaaaaaaaaaaaaaaaa", "a@test.dev")
	testkit.Eventually(t, 10*time.Second, func() bool {
		req, _ := http.NewRequest(http.MethodPost, svc.URL+"/api/orders", strings.NewReader(`{"ticketId":"`+id.Hex()+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(cookie)
		res, err := client.Do(req)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusCreated
	}, "order never created")
	cancelled := natskit.Record(t, n.JS, events.OrderCancelled)
	order := created.WaitFor(t, 1, 5*time.Second)[0].Data
	// No expiration service runs here: the sweep cancels the order.
	got := cancelled.WaitFor(t, 1, 15*time.Second)[0].Data
	if want := (events.OrderCancelledData{ID: order.ID, Version: 1, Ticket: events.TicketRef{ID: id.Hex()}}); got != want {
		t.Fatalf("order.cancelled = %+v, want %+v", got, want)
	}

	svc.Stop() // fails the test unless run returns nil promptly
}
