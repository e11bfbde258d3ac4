package runfile

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOnePlatformPerDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lock, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(dir); err == nil || !strings.Contains(err.Error(), "make down") {
		t.Fatalf("a second platform on the same data must be refused, got %v", err)
	}
	if pid := runningPid(dir); pid != os.Getpid() {
		t.Fatalf("running pid %d, want %d", pid, os.Getpid())
	}
	lock.Release()
	if runningPid(dir) != 0 {
		t.Fatal("released, yet seen as running")
	}
	again, err := Acquire(dir)
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	again.Release()
}

func TestDownStopsMarkedLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A process of a platform whose devstack is gone: no pid file, only
	// the marker in its environment.
	cmd := exec.Command("sleep", "300")
	cmd.Env = append(os.Environ(), MarkerEnv+"="+dir, ComponentEnv+"=orders-2")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	if got := Processes(dir); len(got) != 1 || got[0] != (Process{Pid: cmd.Process.Pid, Name: "orders-2"}) {
		t.Fatalf("processes %v, want [%d orders-2]", got, cmd.Process.Pid)
	}
	if other := Processes(dir + "-other"); len(other) != 0 {
		t.Fatalf("another data dir's marker matched: %v", other)
	}
	var said []string
	if err := Down(dir, time.Second, func(s string) { said = append(said, s) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("leftover still running")
	}
	if !strings.Contains(strings.Join(said, "\n"), "leftover") {
		t.Fatalf("Down said %q", said)
	}
}
