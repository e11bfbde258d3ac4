package service_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"ticketing.dev/common/config"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/service"
	"ticketing.dev/testkit"
)

type cfg struct {
	port     int
	mongoURI string
	natsURL  string
}

func (c cfg) Needs() service.Needs { return service.Needs{MongoURI: c.mongoURI, NATSURL: c.natsURL} }
func (c cfg) Addr() string         { return fmt.Sprintf("127.0.0.1:%d", c.port) }

func load(r *config.Reader) cfg {
	return cfg{port: r.Int("PORT", 3000, 1, 65535), mongoURI: r.String("MONGO_URI", ""), natsURL: r.String("NATS_URL", "")}
}

func neverRun(context.Context, *slog.Logger, cfg, *service.Conns) error {
	return errors.New("run was called without a store")
}

// Start-up settings are checked before anything is opened, each named.
func TestRunRejectsInvalidSettings(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"NATS_URL": "nats://127.0.0.1:1", "NATS_STREAM_REPLICAS": "9"}, "NATS_STREAM_REPLICAS"},
		{map[string]string{"NATS_URL": "nats://127.0.0.1:1", "NATS_STREAM_REPLICAS": "three"}, "NATS_STREAM_REPLICAS"},
		{map[string]string{"PPROF_ADDR": "0.0.0.0:6060"}, "PPROF_ADDR"},
		{map[string]string{"NATS_URL": "nats://127.0.0.1:1", "NATS_USER": "tickets"}, "NATS_USER and NATS_PASSWORD"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			t.Setenv("PORT", fmt.Sprint(testkit.FreePort(t)))
			err := service.Run(testkit.Context(t), testkit.Logger(t), "test", load, neverRun)
			if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want a configuration error naming %s", err, tt.want)
			}
		})
	}
}

// A service whose store does not answer keeps waiting (alive, not ready)
// and stops cleanly on SIGTERM without ever running.
func TestRunWaitsForItsStoreAndStopsCleanly(t *testing.T) {
	port := testkit.FreePort(t)
	t.Setenv("PORT", fmt.Sprint(port))
	t.Setenv("METRICS_ADDR", "127.0.0.1:0")
	t.Setenv("MONGO_URI", fmt.Sprintf("mongodb://127.0.0.1:%d/test", testkit.FreePort(t)))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, testkit.Logger(t), "test", load, neverRun) }()
	get := func(path string) (int, string) {
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			return 0, ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	testkit.Eventually(t, 15*time.Second, func() bool {
		code, body := get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "waiting for mongodb")
	}, "/readyz does not say the service waits for mongodb")
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz while waiting: %d, want 200 (alive)", code)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after a stop while waiting: %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// LISTEN_HOST=127.0.0.1 keeps the service off every other interface.
func TestListenHost(t *testing.T) {
	var other string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			other = ipn.IP.String()
			break
		}
	}
	if other == "" {
		t.Skip("this machine has no non-loopback IPv4 address to try")
	}
	port := testkit.FreePort(t)
	t.Setenv("PORT", fmt.Sprint(port))
	t.Setenv("METRICS_ADDR", "127.0.0.1:0")
	t.Setenv("LISTEN_HOST", "127.0.0.1")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.Run(ctx, testkit.Logger(t), "test", load, func(ctx context.Context, log *slog.Logger, c cfg, conns *service.Conns) error {
			return conns.Serve(ctx, http.NotFoundHandler())
		})
	}()
	testkit.Eventually(t, 10*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "not listening on loopback")
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(other, fmt.Sprint(port)), 2*time.Second); err == nil {
		c.Close()
		t.Fatalf("reachable on %s with LISTEN_HOST=127.0.0.1", other)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Metrics are served on METRICS_ADDR, apart from the service's routes:
// requests are counted by route pattern, never by path, and the routes'
// port has no /metrics.
func TestMetricsOnTheirOwnPort(t *testing.T) {
	port, metricsPort := testkit.FreePort(t), testkit.FreePort(t)
	t.Setenv("PORT", fmt.Sprint(port))
	t.Setenv("METRICS_ADDR", fmt.Sprintf("127.0.0.1:%d", metricsPort))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.Run(ctx, testkit.Logger(t), "test", load, func(ctx context.Context, log *slog.Logger, c cfg, conns *service.Conns) error {
			r := httpx.NewRouter(log, nil)
			r.Get("/things/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
			return conns.Serve(ctx, r)
		})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	get := func(url string) (int, string) {
		res, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testkit.Eventually(t, 10*time.Second, func() bool { s, _ := get(base + "/things/1"); return s == http.StatusTeapot }, "not serving")
	get(base + "/things/2")
	get(base + "/nowhere")

	status, body := get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	for _, want := range []string{
		`http_requests_total{code="418",method="GET",route="/things/{id}"}`,
		`http_requests_total{code="404",method="GET",route="unmatched"}`,
		`http_request_duration_seconds_count{method="GET",route="/things/{id}"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `route="/things/1"`) {
		t.Error("a path became a label value")
	}
	if s, _ := get(base + "/metrics"); s != http.StatusNotFound {
		t.Errorf("the routes' port answers /metrics with %d", s)
	}
}
