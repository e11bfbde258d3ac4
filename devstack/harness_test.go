package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ticketing.dev/devstack/platform"
	"ticketing.dev/devstack/runfile"
	"ticketing.dev/testkit"
)

// These tests run the platform the way `make up` does: the devstack binary,
// which builds the services, starts the stores, the services and the
// gateway; then they drive it over HTTP.

// builds are the binaries built once for the test binary, by package path.
var builds sync.Map // package → *built

type built struct {
	once sync.Once
	path string
	err  error
}

// binary builds a command of the workspace (a package path relative to the
// repository, e.g. "./devstack") once for the test binary.
func binary(t *testing.T, pkg string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &built{})
	b := v.(*built)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "devstack-test-bin")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// devstackBinary is the devstack command, built once.
func devstackBinary(t *testing.T) string { return binary(t, "./devstack") }

func requirePlatform(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the whole platform; skipped with -short")
	}
	for _, svc := range platform.Services {
		if _, err := os.Stat(filepath.Join("..", svc, "main.go")); err != nil {
			t.Skipf("%s is not there yet", svc)
		}
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is needed: apt-get install redis-server")
	}
}

// running is a devstack process started by a test.
type running struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	out     *testkit.Buffer
	exited  chan struct{}
	URL     string
	State   runfile.State
	// seen are every process of the platform noticed while it ran: none
	// may outlive it.
	seen map[int]string
}

// startPlatform runs devstack on dataDir with a free gateway port, the
// client skipped unless DEVSTACK_TEST_CLIENT=1, and env on top; it returns
// once the platform says it is ready.
func startPlatform(t *testing.T, dataDir string, env ...string) *running {
	t.Helper()
	cmd := exec.Command(devstackBinary(t))
	cmd.Env = append(os.Environ(), "DATA_DIR="+dataDir, "GATEWAY_ADDR=127.0.0.1:0", "JWT_KEY=devstack-test-key-of-at-least-32-bytes",
		// Tests that do not pay wait for expirations: a short grace (a test
		// may set its own, the last value wins).
		"ORDER_EXPIRATION_GRACE=5s",
		// Platforms of parallel tests must not share one PostgreSQL
		// database: SQLite (in dataDir) unless a test database is named.
		"FERRETDB_POSTGRESQL_URL="+os.Getenv("DEVSTACK_TEST_POSTGRESQL_URL"))
	// Traces are the e2e's to check (scripts/e2e.sh runs with them); here
	// they would only add a Jaeger per platform.
	if os.Getenv("DEVSTACK_TEST_CLIENT") != "1" {
		cmd.Env = append(cmd.Env, "DEVSTACK_SKIP=client,traces")
	} else {
		cmd.Env = append(cmd.Env, "DEVSTACK_SKIP=traces")
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r := &running{t: t, cmd: cmd, dataDir: dataDir, out: &testkit.Buffer{}, exited: make(chan struct{}), seen: map[int]string{}}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = r.out.Write([]byte(line + "\n"))
			if i := strings.Index(line, platform.ReadyBanner); i >= 0 && strings.HasPrefix(line, "[devstack]") {
				select {
				case ready <- strings.Fields(line[i+len(platform.ReadyBanner):])[0]:
				default:
				}
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(r.exited)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("devstack output (access logs left out):\n%s", tail(quiet(r.out.String()), 150))
		}
		select {
		case <-r.exited:
		default:
			_ = cmd.Process.Kill()
			<-r.exited
		}
	})
	deadline := time.After(5 * time.Minute)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case r.URL = <-ready:
			break wait
		case <-r.exited:
			t.Fatalf("devstack exited before it was ready:\n%s", tail(r.out.String(), 80))
		case <-deadline:
			t.Fatalf("devstack not ready within 5 minutes:\n%s", tail(r.out.String(), 80))
		case <-tick.C:
			if name := crashLooping(r.out.String()); name != "" {
				t.Fatalf("%s keeps crashing before the platform is ready:\n%s", name, tail(quiet(r.out.String()), 40))
			}
		}
	}
	st, err := runfile.ReadState(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	r.State = st
	r.snapshot()
	return r
}

// snapshot records every descendant of devstack now running.
func (r *running) snapshot() {
	for pid, name := range descendants(r.cmd.Process.Pid) {
		r.seen[pid] = name
	}
}

// stop sends SIGTERM as Ctrl-C or `make down` would, waits for devstack to
// exit cleanly, and fails if any process of the platform is left.
func (r *running) stop() {
	t := r.t
	t.Helper()
	r.snapshot()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.exited:
	case <-time.After(90 * time.Second):
		t.Fatalf("devstack did not stop within 90s:\n%s", tail(r.out.String(), 60))
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("devstack exited with %d:\n%s", code, tail(r.out.String(), 60))
	}
	var left []string
	for pid, name := range r.seen {
		if alive(pid) && cmdline(pid) == name {
			left = append(left, fmt.Sprintf("%d %s", pid, name))
		}
	}
	for _, proc := range runfile.Processes(r.dataDir) {
		left = append(left, fmt.Sprintf("%s: %s (marked)", proc, cmdline(proc.Pid)))
	}
	if len(left) > 0 {
		t.Fatalf("processes left after stop: %v", left)
	}
	if _, err := os.Stat(filepath.Join(r.dataDir, runfile.PidFile)); err == nil {
		t.Fatal("pid file left behind")
	}
	if !strings.Contains(r.out.String(), "[devstack] stopped") {
		t.Fatal("no orderly stop in the output")
	}
}

// pidOf finds the running process of a component: a service ("orders"),
// or one of its replicas ("orders-2") when it runs several.
func (r *running) pidOf(name string) int {
	for _, proc := range runfile.Processes(r.dataDir) {
		if proc.Name == name {
			return proc.Pid
		}
	}
	return 0
}

// descendants maps the pid of every live descendant of root to its command line.
func descendants(root int) map[int]string {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) > 1 {
			parent[pid], _ = strconv.Atoi(fields[1])
		}
	}
	out := map[int]string{}
	for pid := range parent {
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == root {
				if alive(pid) {
					out[pid] = cmdline(pid)
				}
				break
			}
		}
	}
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// crashLooping names a component the supervisor restarted five times.
func crashLooping(out string) string {
	counts := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "[supervisor] "); ok && strings.Contains(rest, " ended unexpectedly") {
			name := strings.Fields(rest)[0]
			if counts[name]++; counts[name] >= 5 {
				return name
			}
		}
	}
	return ""
}

// quiet drops access-log lines and repeats of the gateway's warnings.
func quiet(s string) string {
	var keep []string
	skipped := 0
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, `"msg":"request"`) || strings.Contains(line, "backend unreachable") {
			skipped++
			continue
		}
		if skipped > 0 {
			keep = append(keep, fmt.Sprintf("(%d access-log or gateway lines)", skipped))
			skipped = 0
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// user is an HTTP client with its own cookies.
type user struct {
	t      *testing.T
	base   string
	client *http.Client
	email  string
}

func newUser(t *testing.T, base, email string) *user {
	jar, _ := cookiejar.New(nil)
	return &user{t: t, base: base, email: email, client: &http.Client{Jar: jar, Timeout: 15 * time.Second}}
}

// signUp signs a new user up, with an address unique to this run.
func signUp(t *testing.T, base, name string) *user {
	t.Helper()
	u := newUser(t, base, fmt.Sprintf("%s-%d@devstack.test", name, time.Now().UnixNano()))
	u.must(201, "POST", "/api/users/signup", map[string]string{"email": u.email, "password": "pass-1234"}, nil)
	return u
}

// order orders the ticket, retrying while orders' replica has not heard of it.
func (u *user) order(ticketID string) order {
	u.t.Helper()
	var o order
	testkit.Eventually(u.t, 30*time.Second, func() bool {
		status, _, _ := u.do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, &o)
		return status == 201
	}, "order for ticket %s", ticketID)
	return o
}

// pay pays the order with tok_visa, retrying for 10 s while payments'
// replica has not heard of it (404), and returns the first other answer (0:
// no answer). It never fails the test, so a goroutine may call it.
func (u *user) pay(orderID string) int {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		status, _, _ := u.do("POST", "/api/payments", map[string]string{"token": "tok_visa", "orderId": orderID}, nil)
		if status != 404 || time.Now().After(deadline) {
			return status
		}
	}
}

// do sends a JSON request and decodes a JSON answer into out (when not nil).
func (u *user) do(method, path string, body any, out any) (int, string, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	url := path
	if !strings.HasPrefix(path, "http") {
		url = u.base + path
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := u.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, string(b), err
		}
	}
	return res.StatusCode, string(b), nil
}

// must sends a request that must answer want.
func (u *user) must(want int, method, path string, body any, out any) {
	u.t.Helper()
	status, text, err := u.do(method, path, body, out)
	if err != nil || status != want {
		u.t.Fatalf("%s %s: %d %s %v (want %d)", method, path, status, text, err, want)
	}
}
