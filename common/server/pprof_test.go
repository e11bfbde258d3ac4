package server_test

import (
	"errors"
	"net/http"
	"testing"

	"ticketing.dev/common/server"
)

func TestPprof(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:6060", "nonsense"} {
		if _, _, err := server.Pprof(addr); !errors.Is(err, server.ErrNotLoopback) {
			t.Errorf("Pprof(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
	at, stop, err := server.Pprof("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	res, err := http.Get("http://" + at.String() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("profiler index: %d", res.StatusCode)
	}
}
