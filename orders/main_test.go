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

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
	"ticketing.dev/orders/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestMissingConfiguration(t *testing.T) {
	for _, name := range []string{"MONGO_URI", "NATS_URL", "JWT_KEY", "ORDER_EXPIRATION_WINDOW"} {
		t.Setenv(name, "")
	}
	t.Setenv("ORDER_EXPIRATION_WINDOW", "soon")
	err := run(context.Background(), testkit.Logger(t))
	if err == nil {
		t.Fatal("run started without configuration")
	}
	for _, want := range []string{"MONGO_URI is required", "NATS_URL is required", "JWT_KEY is required", "ORDER_EXPIRATION_WINDOW"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// The service as main wires it: it serves, follows ticket events, answers
// readiness, and stops cleanly when its context ends.
func TestRun(t *testing.T) {
	u, err := url.Parse(testkit.MongoURI(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + testkit.RandomName("orders_main_")
	n := testkit.StartNATS(t)
	port := testkit.FreePort(t)
	t.Setenv("MONGO_URI", u.String())
	t.Setenv("NATS_URL", n.URL)
	t.Setenv("JWT_KEY", testkit.JWTKey)
	t.Setenv("PORT", fmt.Sprint(port))
	t.Setenv("ORDER_EXPIRATION_WINDOW", "1m")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, testkit.Logger(t)) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 2 * time.Second}
	testkit.Eventually(t, 10*time.Second, func() bool {
		res, err := client.Get(base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, "never ready")

	created := testkit.Record(t, n.JS, events.OrderCreated)
	id := bson.NewObjectID()
	if err := events.Publish(ctx, events.NewPublisher(n.JS), events.TicketCreated, outbox.ID("ticket.created", id.Hex(), 0),
		events.TicketCreatedData{ID: id.Hex(), Title: "main", Price: 100, UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	cookie := testkit.SessionCookie(t, "aaaaaaaaaaaaaaaaaaaaaaaa", "a@test.dev")
	testkit.Eventually(t, 10*time.Second, func() bool {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/orders", strings.NewReader(`{"ticketId":"`+id.Hex()+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(cookie)
		res, err := client.Do(req)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusCreated
	}, "order never created")
	created.WaitFor(t, 1, 5*time.Second)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
}
