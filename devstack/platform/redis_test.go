package platform

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"ticketing.dev/devstack/runfile"
	"ticketing.dev/devstack/stores"
	"ticketing.dev/testkit"
)

// TestRedisLeftByACrashIsFoundAndStopped starts redis-server as the platform
// does and leaves it running as a devstack that crashed would: no pid file,
// nothing tying it to a parent. redis-server writes its title over its
// environment, marker included; `devstack ps` (runfile.Processes) still
// lists it as the platform's redis, and `devstack down` stops it with
// SIGTERM, so it exits cleanly (its append-only file flushed).
func TestRedisLeftByACrashIsFoundAndStopped(t *testing.T) {
	t.Parallel()
	// A data directory reached through a symbolic link: the kernel reports
	// redis-server's working directory with the link resolved.
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(t.TempDir(), dir); err != nil {
		t.Fatal(err)
	}
	p := &platform{cfg: Config{DataDir: dir}}
	port, err := stores.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	command, err := p.redisCommand(port)
	if err != nil {
		t.Fatal(err)
	}
	cmd := command()
	// Its own session and no Pdeathsig: it outlives whoever started it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	testkit.Eventually(t, 30*time.Second, func() bool { return stores.RedisReady(context.Background(), addr) == nil }, "redis-server answering on %s", addr)

	want := []runfile.Process{{Pid: cmd.Process.Pid, Name: "redis"}}
	if got := runfile.Processes(dir); !slices.Equal(got, want) {
		t.Fatalf("processes of the platform: %v, want %v", got, want)
	}
	if other := runfile.Processes(dir + "-other"); len(other) != 0 {
		t.Fatalf("another data directory's processes: %v", other)
	}

	if err := runfile.Down(dir, time.Second, func(s string) { t.Log(s) }); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}, "redis-server collected after down")
	if !cmd.ProcessState.Success() {
		t.Fatalf("redis-server ended with %v, want a clean exit on SIGTERM", cmd.ProcessState)
	}
	if left := runfile.Processes(dir); len(left) != 0 {
		t.Fatalf("left after down: %v", left)
	}
}
