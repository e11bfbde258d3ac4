package testkit

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"ticketing.dev/common/config"
	"ticketing.dev/common/service"
)

// Service is a real service started by Serve.
type Service struct {
	URL string // http://127.0.0.1:PORT

	t    *testing.T
	stop context.CancelFunc
	done chan error
	once sync.Once
}

// Serve runs a service as its main does (service.Run with the service's
// name, loader and run function) with env set for the test on top of PORT,
// a free port; it waits until /readyz answers 200 and returns the service.
// Stop (also called at the test's end) ends it and fails the test unless run
// returned nil promptly.
func Serve[C service.Config](t *testing.T, name string, load func(*config.Reader) C,
	run func(context.Context, *slog.Logger, C, *service.Conns) error, env map[string]string) *Service {
	t.Helper()
	s := Start(t, name, load, run, env)
	s.WaitReady(20 * time.Second)
	return s
}

// Start is Serve without the wait: the service may still be waiting for its
// dependencies when it returns.
func Start[C service.Config](t *testing.T, name string, load func(*config.Reader) C,
	run func(context.Context, *slog.Logger, C, *service.Conns) error, env map[string]string) *Service {
	t.Helper()
	port := FreePort(t)
	t.Setenv("PORT", fmt.Sprint(port))
	t.Setenv("METRICS_ADDR", "127.0.0.1:0") // never a fixed port: tests run side by side
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{URL: fmt.Sprintf("http://127.0.0.1:%d", port), t: t, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- service.Run(ctx, Logger(t), name, load, run) }()
	t.Cleanup(s.Stop)
	return s
}

// Ended fails the test if the service's run has returned.
func (s *Service) Ended() {
	s.t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		s.t.Fatalf("the service ended: %v", err)
	default:
	}
}

// WaitReady waits until /readyz answers 200, failing the test if the
// service ends first or is not ready within timeout.
func (s *Service) WaitReady(timeout time.Duration) {
	s.t.Helper()
	Eventually(s.t, timeout, func() bool {
		s.Ended()
		res, err := http.Get(s.URL + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, "%s/readyz not 200", s.URL)
}

// Stop ends the service (as SIGTERM does) and waits for run to return; an
// error, or no return within 20 seconds, fails the test.
func (s *Service) Stop() {
	s.once.Do(func() {
		s.t.Helper()
		s.stop()
		select {
		case err := <-s.done:
			if err != nil {
				s.t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			s.t.Error("the service did not stop within 20 s")
		}
	})
}
