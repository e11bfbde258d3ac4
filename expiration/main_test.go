package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"ticketing.dev/common/config"
	"ticketing.dev/common/outbox"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr []string // each must appear in the error
	}{
		{
			name: "defaults",
			env:  map[string]string{"NATS_URL": "nats://nats:4222", "REDIS_URL": "redis://redis:6379"},
			want: Config{Port: 3000, NATSURL: "nats://nats:4222", RedisURL: "redis://redis:6379", Queue: "expiration"},
		},
		{
			name: "everything set",
			env: map[string]string{"PORT": "8080", "NATS_URL": "nats://n:4222", "REDIS_URL": "redis://:pw@r:6379/2",
				"ASYNQ_QUEUE": "exp-a"},
			want: Config{Port: 8080, NATSURL: "nats://n:4222", RedisURL: "redis://:pw@r:6379/2", Queue: "exp-a"},
		},
		{
			name: "host and port instead of a URL",
			env:  map[string]string{"NATS_URL": "nats://n:4222", "REDIS_HOST": "redis-srv", "REDIS_PORT": "6380"},
			want: Config{Port: 3000, NATSURL: "nats://n:4222", RedisURL: "redis://redis-srv:6380", Queue: "expiration"},
		},
		{
			name: "the URL wins over host and port",
			env: map[string]string{"NATS_URL": "nats://n:4222", "REDIS_URL": "redis://a:1",
				"REDIS_HOST": "b", "REDIS_PORT": "2"},
			want: Config{Port: 3000, NATSURL: "nats://n:4222", RedisURL: "redis://a:1", Queue: "expiration"},
		},
		{
			name:    "nothing set names every missing variable",
			env:     map[string]string{},
			wantErr: []string{"NATS_URL is required", "REDIS_URL is required"},
		},
		{
			name:    "host without port",
			env:     map[string]string{"NATS_URL": "nats://n:4222", "REDIS_HOST": "r"},
			wantErr: []string{"REDIS_PORT is required"},
		},
		{
			name:    "port out of range",
			env:     map[string]string{"NATS_URL": "nats://n:4222", "REDIS_HOST": "r", "REDIS_PORT": "70000"},
			wantErr: []string{"REDIS_PORT must be an integer"},
		},
		{
			name:    "not a Redis URL",
			env:     map[string]string{"NATS_URL": "nats://n:4222", "REDIS_URL": "http://r:6379"},
			wantErr: []string{"REDIS_URL"},
		},
		{
			name:    "bad port",
			env:     map[string]string{"PORT": "web", "NATS_URL": "nats://n:4222", "REDIS_URL": "redis://r:6379"},
			wantErr: []string{"PORT must be an integer"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkLoad(t, tt.env, tt.want, tt.wantErr)
		})
	}
}

// checkLoad loads the configuration from env and checks it is want, or that
// it fails mentioning each of wantErr; it returns the configuration and
// whether it is valid.
func checkLoad(t *testing.T, env map[string]string, want Config, wantErr []string) (Config, bool) {
	t.Helper()
	r := config.New(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	got, err := loadConfig(r), r.Err()
	if len(wantErr) > 0 {
		if err == nil {
			t.Fatalf("no error, config %+v", got)
		}
		for _, w := range wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
		return got, false
	}
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("config = %+v, want %+v", got, want)
	}
	return got, true
}

// TestRun starts the service as main does: it becomes ready, expires an
// order, and stops cleanly when its context ends.
func TestRun(t *testing.T) {
	h := newHarness(t)
	svc := testkit.Serve(t, name, loadConfig, run, natskit.WithEnv(name, map[string]string{
		"NATS_URL": h.nats.URL, "REDIS_URL": "redis://" + h.rdb.Options().Addr, "ASYNQ_QUEUE": h.queue,
	}))
	base := svc.URL
	client := &http.Client{Timeout: 2 * time.Second}
	status := func(path string) int {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/healthz"); got != http.StatusOK {
		t.Fatalf("/healthz = %d", got)
	}
	if got := status("/api/orders"); got != http.StatusNotFound {
		t.Fatalf("/api/orders = %d, want 404: the service has no API", got)
	}

	fired := recordFirings(t, h.nats.JS)
	id := newID()
	h.orderCreated(t, id, time.Now().Add(300*time.Millisecond), outbox.ID("order.created", id, 0))
	fired.waitFor(t, id, 3*time.Second)
	svc.Stop()
}
