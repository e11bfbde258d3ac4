package platform

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"

	"ticketing.dev/common/tracing"
	"ticketing.dev/devstack/supervisor"
	"ticketing.dev/devstack/traceui"
	"ticketing.dev/testkit"
)

// testPlatform is a platform with what StartTraces uses: the
// configuration, the output and the supervisor.
func testPlatform(t *testing.T, root string) (*platform, *testkit.Buffer) {
	t.Helper()
	buf := &testkit.Buffer{}
	out := supervisor.NewOutput(buf)
	p := &platform{
		cfg: Config{Root: root, DataDir: t.TempDir()}, out: out, notes: out.Writer("devstack"), sup: supervisor.New(out),
		checks: map[string]func(context.Context) error{}, pending: map[string]string{},
		procs: map[string]*supervisor.Proc{}, ports: map[string]string{},
	}
	return p, buf
}

func waitOutput(t *testing.T, buf *testkit.Buffer, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output within %s:\n%s", want, within, buf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func apiGet(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// StartTraces returns at once with the viewer and the intake serving; Jaeger
// joins (built first if no run built it yet) and a trace the services' way
// (common/tracing with ServiceEnv) shows in the viewer; Stop ends it all.
func TestTracesJoinWithoutHoldingBack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Jaeger")
	}
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	p, buf := testPlatform(t, root)
	_, built, err := traceui.JaegerBinary(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tr, err := p.StartTraces(t.Context(), TracePorts{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			tr.Stop()
		}
	}()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("StartTraces took %s: it must not wait for Jaeger", took)
	}
	if note := tr.Note(); !strings.Contains(note, tr.URL()) {
		t.Errorf("Note() = %q, lacks %s", note, tr.URL())
	}
	if status, body := apiGet(t, tr.URL()+"/api/services"); status != 200 && status != 503 {
		t.Fatalf("the viewer answers %d %s at once", status, body)
	}
	p.mu.Lock()
	if p.ports["traces"] == "" || p.ports["traces-intake"] == "" || p.ports["jaeger"] == "" {
		t.Errorf("component addresses %v lack traces, traces-intake and jaeger", p.ports)
	}
	p.mu.Unlock()

	within := 30 * time.Second
	if !built {
		within = 15 * time.Minute
		t.Logf("Jaeger is not built yet: this run builds it")
	}
	waitOutput(t, buf, "traces: Jaeger is up", within)
	t.Logf("StartTraces → Jaeger up: %s (binary built before: %v)", time.Since(start).Round(time.Millisecond), built)
	if note := tr.Note(); note != "traces: "+tr.URL() {
		t.Errorf("Note() = %q once Jaeger is up", note)
	}

	for k, v := range tr.ServiceEnv() {
		t.Setenv(k, v)
	}
	var traceID string
	var parent context.Context // the first service's span, the second's parent
	for _, svc := range []string{"orders", "payments"} {
		stop, err := tracing.Setup(t.Context(), svc, testkit.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if parent != nil {
			ctx = parent
		}
		ctx, span := otel.Tracer("test").Start(ctx, svc+" work")
		if parent == nil {
			traceID, parent = span.SpanContext().TraceID().String(), ctx
		}
		span.End()
		stop()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := apiGet(t, tr.URL()+"/api/traces/"+traceID)
		var got struct {
			Data []struct {
				Processes map[string]struct{ ServiceName string }
			}
		}
		_ = json.Unmarshal([]byte(body), &got)
		if status == 200 && len(got.Data) == 1 && len(got.Data[0].Processes) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s in the viewer: %d %s", traceID, status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	tr.Stop()
	stopped = true
	t.Logf("the platform's output:\n%s", buf.String())
	if res, err := http.Get(tr.URL() + "/"); err == nil {
		res.Body.Close()
		t.Error("the viewer still answers after Stop")
	}
	for _, proc := range tr.procs {
		select {
		case <-proc.Done():
		default:
			t.Errorf("%s still runs after Stop", proc.Name())
		}
	}
}

// A build that fails is said, with what to do, and the platform carries
// on: the viewer says so, Note too, and Stop still stops.
func TestTracesBuildFailureCarriesOn(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("GOFLAGS", "-mod=readonly")
	root := t.TempDir()
	module := traceui.JaegerModule(root)
	if err := os.MkdirAll(module, 0o755); err != nil {
		t.Fatal(err)
	}
	// A module that does not require Jaeger: its build fails at once.
	if err := os.WriteFile(filepath.Join(module, "go.mod"), []byte("module example.com/nojaeger\n\ngo 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(module, "go.sum"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p, buf := testPlatform(t, root)
	tr, err := p.StartTraces(t.Context(), TracePorts{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	waitOutput(t, buf, "warning: traces: building Jaeger failed", 2*time.Minute)
	if !strings.Contains(buf.String(), "[jaeger-build] ") {
		t.Errorf("the build's own output is not shown:\n%s", buf.String())
	}
	t.Logf("the platform's output:\n%s", buf.String())
	if note := tr.Note(); !strings.Contains(note, "could not be built") {
		t.Errorf("Note() = %q after a failed build", note)
	}
	if status, body := apiGet(t, tr.URL()+"/api/services"); status != 503 || !strings.Contains(body, "could not be built") {
		t.Errorf("the viewer answers %d %s after a failed build", status, body)
	}
}

// A nil *Traces (traces skipped) is safe to use.
func TestNilTraces(t *testing.T) {
	var tr *Traces
	if tr.ServiceEnv() != nil || tr.Note() != "" || tr.URL() != "" || tr.Addrs() != nil {
		t.Fatal("a nil *Traces has something to say")
	}
	tr.Stop()
}
