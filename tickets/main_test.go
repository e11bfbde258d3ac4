package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// run wires the real service: it becomes ready, sells a ticket, publishes
// its event, and stops cleanly when its context ends.
func TestRun(t *testing.T) {
	n := testkit.StartNATS(t)
	port := testkit.FreePort(t)
	t.Setenv("MONGO_URI", testkit.MongoURI(t))
	t.Setenv("NATS_URL", n.URL)
	t.Setenv("JWT_KEY", testkit.JWTKey)
	t.Setenv("PORT", fmt.Sprint(port))
	created := testkit.Record(t, n.JS, events.TicketCreated)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, testkit.Logger(t)) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testkit.Eventually(t, 10*time.Second, func() bool {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, "not ready")

	req, _ := http.NewRequest(http.MethodPost, base+"/api/tickets", strings.NewReader(`{"title":"concert","price":10}`))
	req.AddCookie(testkit.SessionCookie(t, "5f0000000000000000000a11", "a@test.dev"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", res.StatusCode)
	}
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
