package supervisor

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"ticketing.dev/testkit"
)

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// A zombie ("Z") is dead: it waits only for its parent to reap it.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func TestOutputIsPrefixedPerLine(t *testing.T) {
	t.Parallel()
	var buf testkit.Buffer
	out := NewOutput(&buf)
	w := out.Writer("auth")
	_, _ = w.Write([]byte("one\ntw"))
	_, _ = w.Write([]byte("o\r\nthree"))
	_ = w.Close()
	if got, want := buf.String(), "[auth] one\n[auth] two\n[auth] three\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRestartsAfterSIGKILLAndStopsTheWholeGroup(t *testing.T) {
	t.Parallel()
	var buf testkit.Buffer
	sup := New(NewOutput(&buf))
	sup.MinBackoff = 20 * time.Millisecond
	dir := t.TempDir()
	var started atomic.Int32
	// The shell starts a grandchild that records its pid, as npm starts node.
	p := sup.Start(Spec{
		Name:    "svc",
		Restart: true,
		OnStart: func() { started.Add(1) },
		Command: func() *exec.Cmd {
			return exec.Command("sh", "-c", `sleep 300 & echo $! > "$0/child"; echo started; wait`, dir)
		},
		StopTimeout: 5 * time.Second,
	})
	testkit.Eventually(t, 5*time.Second, func() bool { return p.Pid() != 0 && strings.Contains(buf.String(), "[svc] started") }, `the first start of svc (a pid, "[svc] started" in the output)`)
	first := p.Pid()
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return p.Starts() == 2 && p.Pid() != 0 && p.Pid() != first }, "svc restarted after SIGKILL (a second start, a new pid)")
	testkit.Eventually(t, 5*time.Second, func() bool { return started.Load() == 2 }, "OnStart called for each start")
	if !strings.Contains(buf.String(), "[supervisor] svc ended unexpectedly") {
		t.Fatalf("no restart note in:\n%s", buf.String())
	}
	var child int
	testkit.Eventually(t, 5*time.Second, func() bool {
		b, _ := os.ReadFile(dir + "/child")
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return child != 0 && alive(child)
	}, "the grandchild svc started recorded its pid and runs")
	second := p.Pid()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.Stop(ctx)
	select {
	case <-p.Done():
	default:
		t.Fatal("Stop returned before the process ended")
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return !alive(second) && !alive(child) }, "svc and its grandchild gone after Stop (the whole process group)")
}

func TestNoRestartWhenNotAsked(t *testing.T) {
	t.Parallel()
	var buf testkit.Buffer
	sup := New(NewOutput(&buf))
	p := sup.Start(Spec{Name: "once", Command: func() *exec.Cmd { return exec.Command("sh", "-c", "exit 3") }})
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("did not end")
	}
	if p.Starts() != 1 || p.LastExit() == nil || !strings.Contains(p.LastExit().Error(), "exit status 3") {
		t.Fatalf("starts=%d last=%v", p.Starts(), p.LastExit())
	}
}

func TestSIGKILLAfterTimeout(t *testing.T) {
	t.Parallel()
	var buf testkit.Buffer
	sup := New(NewOutput(&buf))
	p := sup.Start(Spec{
		Name: "stubborn",
		Command: func() *exec.Cmd {
			return exec.Command("sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.05; done`)
		},
		StopTimeout: 300 * time.Millisecond,
	})
	testkit.Eventually(t, 5*time.Second, func() bool { return strings.Contains(buf.String(), "[stubborn] ready") }, `stubborn started ("[stubborn] ready" in the output)`)
	pid := p.Pid()
	start := time.Now()
	p.Stop(context.Background())
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stop took %s", d)
	}
	if alive(pid) {
		t.Fatal("still alive")
	}
	if !strings.Contains(buf.String(), "did not stop within") {
		t.Fatalf("no kill note:\n%s", buf.String())
	}
}
