package traceui_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"ticketing.dev/common/tracing"
	"ticketing.dev/devstack/stores"
	"ticketing.dev/devstack/traceui"
	"ticketing.dev/testkit"
)

// repoRoot is the directory holding go.work, above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test's directory")
		}
		dir = parent
	}
}

// jaegerBinary is the cached Jaeger binary, built first if it is not yet
// (minutes the first time on this machine, then nothing). The test is
// skipped only when the build cannot happen here at all: no Go, or
// Jaeger's modules neither in the module cache nor downloadable.
func jaegerBinary(t *testing.T, root string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH: Jaeger cannot be built")
	}
	ctx := t.Context()
	bin, built, err := traceui.JaegerBinary(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if !built {
		t.Logf("building Jaeger %s into %s (the first build takes minutes; cached afterwards)", traceui.JaegerVersion, bin)
	}
	start := time.Now()
	bin, err = traceui.BuildJaeger(ctx, root, func(cmd *exec.Cmd) error {
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
		return nil
	})
	if err != nil {
		if cannotDownload(err.Error()) {
			t.Skipf("Jaeger cannot be built here, its modules cannot be downloaded: %v", err)
		}
		t.Fatalf("building Jaeger: %v", err)
	}
	if !built {
		t.Logf("built Jaeger in %s", time.Since(start).Round(time.Second))
	}
	return bin
}

func cannotDownload(out string) bool {
	for _, s := range []string{"dial tcp", "no such host", "GOPROXY=off", "module lookup disabled", "i/o timeout", "TLS handshake timeout"} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

// startJaeger runs Jaeger on free loopback ports until the test ends and
// says how long it took to answer.
func startJaeger(t *testing.T, bin, root string) traceui.Jaeger {
	t.Helper()
	j := traceui.Jaeger{Bin: bin, Root: root, MaxTraces: 1000}
	for _, port := range []*int{&j.OTLPHTTP, &j.QueryHTTP, &j.QueryGRPC} {
		p, err := stores.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		*port = p
	}
	logPath := filepath.Join(t.TempDir(), "jaeger.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := j.Command()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("Jaeger's log:\n%s", b)
		}
	})
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := j.Ready(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("Jaeger exited (%v):\n%s", exitErr, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("Jaeger not ready after a minute: %v", err)
		}
	}
	t.Logf("Jaeger ready %s after its start; RSS %s", time.Since(start).Round(time.Millisecond), rss(cmd.Process.Pid))
	t.Cleanup(func() { t.Logf("Jaeger's RSS at the end: %s", rss(cmd.Process.Pid)) })
	return j
}

// rss is a process's resident memory, from /proc.
func rss(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return fmt.Sprintf("%.1f MB", float64(kb)/1024)
		}
	}
	return "?"
}

// span is one span of the test's trace: its service, operation, parent
// (by name; "" for the root) and its times after the trace's start.
type span struct {
	service, name, parent string
	kind                  trace.SpanKind
	from, to              time.Duration
}

// purchase is a trace shaped like a purchase: the order's request, its
// event, and each service that handles it.
var purchase = []span{
	{"orders", "POST /api/orders", "", trace.SpanKindServer, 0, 40 * time.Millisecond},
	{"auth", "session verify", "POST /api/orders", trace.SpanKindInternal, time.Millisecond, 2 * time.Millisecond},
	{"orders", "publish order:created", "POST /api/orders", trace.SpanKindProducer, 20 * time.Millisecond, 24 * time.Millisecond},
	{"tickets", "order:created receive", "publish order:created", trace.SpanKindConsumer, 26 * time.Millisecond, 38 * time.Millisecond},
	{"expiration", "order:created receive", "publish order:created", trace.SpanKindConsumer, 27 * time.Millisecond, 31 * time.Millisecond},
	{"payments", "order:created receive", "publish order:created", trace.SpanKindConsumer, 27 * time.Millisecond, 33 * time.Millisecond},
	{"payments", "mongodb insert", "order:created receive", trace.SpanKindClient, 28 * time.Millisecond, 32 * time.Millisecond},
}

var services = []string{"orders", "auth", "tickets", "expiration", "payments"}

// sendSpans exports the spans of the given services through
// common/tracing, as the services themselves do: OTEL_EXPORTER_OTLP_ENDPOINT
// (the intake), one tracer provider per service (flushed by its stop).
// parents carries span contexts from one call to the next.
func sendSpans(t *testing.T, start time.Time, only []string, parents map[string]trace.SpanContext) {
	t.Helper()
	for _, svc := range only {
		stop, err := tracing.Setup(t.Context(), svc, testkit.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		tracer := otel.Tracer("traceui-test")
		for _, s := range purchase {
			if s.service != svc {
				continue
			}
			ctx := context.Background()
			if s.parent != "" {
				p, ok := parents[s.service+"/"+s.parent]
				if !ok {
					p, ok = parents[s.parent]
				}
				if !ok {
					t.Fatalf("%s: parent %s not sent yet", s.name, s.parent)
				}
				ctx = trace.ContextWithSpanContext(ctx, p)
			}
			_, sp := tracer.Start(ctx, s.name, trace.WithTimestamp(start.Add(s.from)), trace.WithSpanKind(s.kind))
			sp.End(trace.WithTimestamp(start.Add(s.to)))
			if _, taken := parents[s.name]; !taken {
				parents[s.name] = sp.SpanContext()
			}
			parents[s.service+"/"+s.name] = sp.SpanContext()
		}
		stop()
	}
}

// jaegerTrace is the part of Jaeger's /api/traces answer the test reads.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

func (jt jaegerTrace) services() []string {
	var out []string
	for _, p := range jt.Processes {
		if !slices.Contains(out, p.ServiceName) {
			out = append(out, p.ServiceName)
		}
	}
	slices.Sort(out)
	return out
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", url, err, b)
		}
	}
	return res.StatusCode
}

// A trace of five services, exported with the OpenTelemetry SDK over
// OTLP/HTTP through the intake (half of it before Jaeger is up, held and
// handed over), is one trace in the real Jaeger, read through the viewer's
// /api proxy; then Chromium opens it in the viewer.
func TestTraceAcrossServices(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Jaeger")
	}
	root := repoRoot(t)
	bin := jaegerBinary(t, root)

	intake := traceui.NewIntake()
	intakeSrv := httptest.NewServer(intake)
	defer intakeSrv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", intakeSrv.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")

	begin := time.Now().Add(-time.Second)
	parents := map[string]trace.SpanContext{}
	sendSpans(t, begin, services[:2], parents) // before Jaeger: held
	if held, _ := intake.Held(); held < 2 {
		t.Fatalf("intake holds %d exports, want one per service at least", held)
	}

	j := startJaeger(t, bin, root)
	intake.SetTarget(j.OTLPAddr())
	sendSpans(t, begin, services[2:], parents)
	traceID := parents["POST /api/orders"].TraceID().String()

	viewer := httptest.NewServer(traceui.New(j.QueryAddr()))
	defer viewer.Close()

	var got jaegerTrace
	deadline := time.Now().Add(20 * time.Second)
	for {
		var body struct{ Data []jaegerTrace }
		status := getJSON(t, viewer.URL+"/api/traces/"+traceID, &body)
		if status == http.StatusOK && len(body.Data) == 1 {
			got = body.Data[0]
			if len(got.Spans) == len(purchase) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s through the viewer: status %d, %d of %d spans", traceID, status, len(got.Spans), len(purchase))
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := slices.Clone(services)
	slices.Sort(want)
	if s := got.services(); !slices.Equal(s, want) {
		t.Fatalf("the trace's services are %v, want %v", s, want)
	}
	// Every span but the root has its parent in the trace.
	ids := map[string]string{}
	for _, s := range got.Spans {
		ids[s.SpanID] = got.Processes[s.ProcessID].ServiceName + ": " + s.OperationName
	}
	for _, s := range got.Spans {
		name := got.Processes[s.ProcessID].ServiceName + ": " + s.OperationName
		switch {
		case name == "orders: POST /api/orders":
			if len(s.References) != 0 {
				t.Errorf("the root has references %v", s.References)
			}
		case len(s.References) != 1 || ids[s.References[0].SpanID] == "":
			t.Errorf("%s: references %v, want its parent", name, s.References)
		}
	}

	var svcs struct{ Data []string }
	if status := getJSON(t, viewer.URL+"/api/services", &svcs); status != 200 {
		t.Fatalf("/api/services: %d", status)
	}
	for _, s := range services {
		if !slices.Contains(svcs.Data, s) {
			t.Errorf("/api/services = %v, lacks %s", svcs.Data, s)
		}
	}
	end := time.Now().Add(time.Minute).UnixMicro()
	var found struct{ Data []jaegerTrace }
	q := fmt.Sprintf("/api/traces?service=payments&limit=5&start=%d&end=%d", begin.Add(-time.Hour).UnixMicro(), end)
	if status := getJSON(t, viewer.URL+q, &found); status != 200 || !slices.ContainsFunc(found.Data, func(jt jaegerTrace) bool { return jt.TraceID == traceID }) {
		t.Errorf("search of payments (%d) lacks the trace: %d traces", status, len(found.Data))
	}
	// Jaeger's own port serves the same page (ui.assets_path).
	res, err := http.Get("http://" + j.QueryAddr() + "/trace/" + traceID)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(page), "<title>Traces") {
		t.Errorf("Jaeger's query port serves %.200q, not the viewer", page)
	}
	t.Logf("trace %s: %d spans of %v", traceID, len(got.Spans), got.services())

	t.Run("chromium", func(t *testing.T) { viewInChromium(t, root, viewer.URL, traceID) })
}

// viewInChromium runs testdata/trace_page.mjs: headless Chromium (Debian's,
// driven by the client's playwright-core) opens /trace/<id> and the search.
func viewInChromium(t *testing.T, root, url, traceID string) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	chromium := os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("no Chromium at %s (set CHROMIUM_PATH)", chromium)
	}
	client := filepath.Join(root, "client")
	if _, err := os.Stat(filepath.Join(client, "node_modules", "playwright-core")); err != nil {
		t.Skip("client/node_modules has no playwright-core: run npm ci in client/")
	}
	shots, err := os.MkdirTemp("", "traceui-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "trace_page.mjs"))
	cmd.Env = append(os.Environ(),
		"TRACEUI_URL="+url, "TRACE_ID="+traceID, "TRACE_SERVICES="+strings.Join(services, ","),
		"CLIENT_DIR="+client, "SCREENSHOT_DIR="+shots, "CHROMIUM_PATH="+chromium)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s(%s)", out, time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("the page check failed (%v); screenshots in %s", err, shots)
		}
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", shots)
}
