package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"ticketing.dev/testkit"
)

type ticket struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Price   float64 `json:"price"`
	Version int     `json:"version"`
	OrderID string  `json:"orderId"`
}

type order struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Ticket struct {
		ID string `json:"id"`
	} `json:"ticket"`
}

// TestUpSmokeDownUpAgain is `make up`, `make smoke`, Ctrl-C, and a second
// `make up` on the same data: the full flow passes, the stop leaves no
// process behind, and the second run finds the first one's users and tickets.
func TestUpSmokeDownUpAgain(t *testing.T) {
	requirePlatform(t)
	t.Parallel()
	dataDir := t.TempDir()

	// Telemetry failures never fail a request: every service exports its
	// spans to a collector that is not there, and the flow still passes.
	deadCollector := fmt.Sprintf("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d", testkit.FreePort(t))
	p := startPlatform(t, dataDir, "ORDER_EXPIRATION_WINDOW=10s", deadCollector, "OTEL_BSP_SCHEDULE_DELAY=100")
	keeper := newUser(t, p.URL, fmt.Sprintf("keeper-%d@devstack.test", time.Now().UnixNano()))
	keeper.must(201, "POST", "/api/users/signup", map[string]string{"email": keeper.email, "password": "keep-me-1"}, nil)
	var kept ticket
	keeper.must(201, "POST", "/api/tickets", map[string]any{"title": "Kept across runs", "price": 12.5}, &kept)

	smoke := exec.Command("bash", filepath.Join("..", "scripts", "smoke.sh"))
	smoke.Env = append(os.Environ(), "BASE_URL="+p.URL, "SMOKE_GRACE=5") // the window is read from the order
	out, err := smoke.CombinedOutput()
	t.Logf("smoke.sh:\n%s", out)
	if err != nil {
		t.Fatalf("smoke.sh failed: %v", err)
	}
	// Every service's counters moved along the flow (devstack.json lists
	// where each serves /metrics).
	checkMetrics(t, dataDir)
	// An order whose expiration is scheduled when the platform stops: Redis
	// keeps the job, so it fires after the restart.
	buyer := newUser(t, p.URL, fmt.Sprintf("buyer-%d@devstack.test", time.Now().UnixNano()))
	buyer.must(201, "POST", "/api/users/signup", map[string]string{"email": buyer.email, "password": "buy-me-1"}, nil)
	var pending ticket
	keeper.must(201, "POST", "/api/tickets", map[string]any{"title": "Ordered across runs", "price": 7}, &pending)
	var pendingOrder order
	testkit.Eventually(t, 30*time.Second, func() bool {
		status, _, _ := buyer.do("POST", "/api/orders", map[string]string{"ticketId": pending.ID}, &pendingOrder)
		return status == 201
	}, "ordering before the stop")
	p.stop()

	again := startPlatform(t, dataDir, "ORDER_EXPIRATION_WINDOW=10s")
	buyerBack := newUser(t, again.URL, buyer.email)
	buyerBack.must(200, "POST", "/api/users/signin", map[string]string{"email": buyer.email, "password": "buy-me-1"}, nil)
	testkit.Eventually(t, 60*time.Second, func() bool {
		var o order
		status, _, _ := buyerBack.do("GET", "/api/orders/"+pendingOrder.ID, nil, &o)
		return status == 200 && o.Status == "cancelled"
	}, "the order placed before the restart expires after it")
	back := newUser(t, again.URL, keeper.email)
	back.must(200, "POST", "/api/users/signin", map[string]string{"email": keeper.email, "password": "keep-me-1"}, nil)
	var got ticket
	back.must(200, "GET", "/api/tickets/"+kept.ID, nil, &got)
	if got.Title != kept.Title || got.Price != 12.5 {
		t.Fatalf("ticket after restart: %+v, want %+v", got, kept)
	}
	// Events still flow after the restart: durable consumers resumed.
	var fresh ticket
	back.must(201, "POST", "/api/tickets", map[string]any{"title": "After restart", "price": 3}, &fresh)
	var o order
	testkit.Eventually(t, 30*time.Second, func() bool {
		status, _, _ := back.do("POST", "/api/orders", map[string]string{"ticketId": fresh.ID}, &o)
		return status == 201
	}, "ordering a ticket created after the restart")
	again.stop()
}
