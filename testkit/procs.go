package testkit

import (
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a 127.0.0.1 TCP port that was free a moment ago. It is
// chosen below Linux's ephemeral range (32768–60999): a port found free
// there can be taken before its server starts by the local end of an
// outgoing connection — even by a client dialling that very port, which
// then connects to itself (TCP simultaneous open) and holds it.
func FreePort(t testing.TB) int {
	t.Helper()
	const low, high = 20000, 32768
	for range 100 {
		port := low + mrand.IntN(high-low)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			_ = ln.Close()
			return port
		}
	}
	t.Fatal("no free port between 20000 and 32767")
	return 0
}

// Linux sends Pdeathsig when the *thread* that started the child exits, not
// the process, and the Go runtime may retire threads. So every helper
// process is started from one goroutine locked to a thread that never exits.
var spawnRequests = make(chan spawnRequest)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the test binary
		for req := range spawnRequests {
			req.done <- req.cmd.Start()
		}
	}()
}

// Spawn starts cmd so that it is killed when the test binary dies, even when
// it is killed before its cleanups run.
func Spawn(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	done := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// startProcess runs a helper server that dies with the test binary.
func startProcess(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := Spawn(cmd); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// RedisURL returns REDIS_URL when set; otherwise it starts Redis for this
// test: a container where a Docker engine answers, else the machine's
// redis-server on a free port. Tests must still keep their
// keys apart (RandomName) since REDIS_URL may be shared.
func RedisURL(t testing.TB) string {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		return url
	}
	if ok, _ := Docker(); ok {
		return "redis://" + StartContainer(t, RedisImage, "6379/tcp", "Ready to accept connections")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("Redis is needed: set REDIS_URL=redis://host:port, or install redis-server " +
			"(apt-get install redis-server) so the tests can start one")
	}
	port := FreePort(t)
	startProcess(t, bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir())
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := WaitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("redis-server did not start: %v", err)
	}
	return "redis://" + addr
}

var (
	stripeOnce sync.Once
	stripeURL  string
	stripeErr  error
)

// StripeMockURL returns STRIPE_API_BASE when set; otherwise it starts
// stripe-mock once for the test binary (see StartStripeMock).
func StripeMockURL(t testing.TB) string {
	t.Helper()
	if url := os.Getenv("STRIPE_API_BASE"); url != "" {
		return url
	}
	stripeOnce.Do(func() { stripeURL, _, stripeErr = StartStripeMock() })
	if stripeErr != nil {
		t.Fatal(stripeErr)
	}
	return stripeURL
}

// StartStripeMock starts stripe-mock (from PATH or $(go env GOPATH)/bin) on a
// free port and checks that what answers there is stripe-mock, trying a few
// ports (another process may take a port picked this way). The process dies
// with the test binary at the latest.
func StartStripeMock() (url string, stop func(), err error) {
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			home, _ := os.UserHomeDir()
			gopath = filepath.Join(home, "go")
		}
		bin = filepath.Join(gopath, "bin", "stripe-mock")
		if _, err := os.Stat(bin); err != nil {
			return "", nil, fmt.Errorf("stripe-mock is needed: go install github.com/stripe/stripe-mock@v0.203.0, " +
				"or set STRIPE_API_BASE to a running one")
		}
	}
	var lastErr error
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		// An explicit HTTPS address too: by default it takes the fixed port
		// 12112, which another run may hold.
		cmd := exec.Command(bin, "-http-addr", addr, "-https-addr", "127.0.0.1:")
		if err := Spawn(cmd); err != nil {
			return "", nil, err
		}
		stop := func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		url := "http://" + addr
		if lastErr = pingStripe(url); lastErr == nil {
			return url, stop, nil
		}
		stop()
	}
	return "", nil, fmt.Errorf("stripe-mock did not start: %w", lastErr)
}

func pingStripe(url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url+"/v1/balance", nil)
		req.SetBasicAuth("sk_test_123", "")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /v1/balance: %s", res.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
