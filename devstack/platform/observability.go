package platform

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"ticketing.dev/devstack/runfile"
	"ticketing.dev/devstack/stores"
	"ticketing.dev/devstack/supervisor"
	"ticketing.dev/devstack/traceui"
)

// TracePorts are the trace backend's ports, all on 127.0.0.1. Each is the
// caller's choice; 0 takes a free one (stores.FreePort, never a standard
// port such as 4318 or 16686).
type TracePorts struct {
	// UI is the trace viewer, whose URL is printed with the site's.
	UI int
	// Intake is the OTLP/HTTP endpoint the services export to
	// (ServiceEnv); it passes their spans on to Jaeger's receiver.
	Intake int
	// Jaeger's own: its OTLP/HTTP receiver, its query API (the viewer's
	// /api/) and the query gRPC port that jaeger_query always opens.
	OTLP, Query, QueryGRPC int
}

// ServiceScheduleDelay is OTEL_BSP_SCHEDULE_DELAY for the services: their
// spans are exported every half second (the SDK's default is 5 s), so a
// purchase shows in the viewer as soon as it is made.
const ServiceScheduleDelay = "500"

// Traces is a run's trace backend: the viewer and the intake, serving at
// once, and Jaeger, built (the first time only) and started in the
// background. Nothing of it is a readiness check: the platform is ready
// without it, and the viewer joins when Jaeger answers. Its methods are
// safe on a nil *Traces (traces skipped or not started): no environment,
// no note, nothing to stop.
type Traces struct {
	p        *platform
	ports    TracePorts
	viewer   *traceui.Viewer
	intake   *traceui.Intake
	servers  []*http.Server
	cancel   context.CancelFunc
	finished chan struct{} // the background work has ended

	mu      sync.Mutex
	procs   []*supervisor.Proc // the build's steps and Jaeger
	cached  bool               // the binary was built by an earlier run
	running bool               // Jaeger answered
	failed  bool               // the build failed: no traces this run
}

// StartTraces starts the trace backend of the run (p.cfg.DataDir's), in
// the background, and returns at once:
//
//   - the viewer (traceui.Viewer) listens on 127.0.0.1:ports.UI and the
//     intake (traceui.Intake) on 127.0.0.1:ports.Intake, both now: a port
//     that cannot be had is the returned error, and the platform runs on
//     without traces;
//   - Jaeger (devstack/jaeger, JaegerVersion) is built, at the lowest CPU
//     priority, into the user's cache keyed by its go.mod, go.sum and the
//     Go version (the first build takes minutes; a later run, any data
//     directory, finds it built), under the supervisor as [jaeger-build];
//   - then it runs under the supervisor as [jaeger] (restarted if it
//     exits) with devstack/jaeger/config.yaml on ports.OTLP, ports.Query
//     and ports.QueryGRPC, and once it answers the intake passes it the
//     spans it held meanwhile, the viewer shows its traces, and the output
//     says "traces: … open <viewer>";
//   - a failed build is logged with what to do, and the run carries on:
//     the viewer says Jaeger could not be built and the intake drops
//     spans beyond what it holds.
//
// ctx is the run's; Stop ends it all (call it after the services have
// stopped, so their last spans reach Jaeger). The processes carry the
// platform's marker, so `devstack ps` lists jaeger-build and jaeger and
// `devstack down` stops them. Addrs are added to the run's component
// addresses (devstack.json's "components").
func (p *platform) StartTraces(ctx context.Context, ports TracePorts) (*Traces, error) {
	for _, port := range []*int{&ports.UI, &ports.Intake, &ports.OTLP, &ports.Query, &ports.QueryGRPC} {
		if *port == 0 {
			free, err := stores.FreePort()
			if err != nil {
				return nil, err
			}
			*port = free
		}
	}
	t := &Traces{
		p: p, ports: ports,
		viewer:   traceui.New(loopback(ports.Query)),
		intake:   traceui.NewIntake(),
		finished: make(chan struct{}),
	}
	for _, s := range []struct {
		name string
		port int
		h    http.Handler
	}{{"trace viewer", ports.UI, t.viewer}, {"trace intake (OTLP/HTTP)", ports.Intake, t.intake}} {
		ln, err := net.Listen("tcp", loopback(s.port))
		if err != nil {
			t.closeServers()
			return nil, fmt.Errorf("the %s cannot listen on %s: %w", s.name, loopback(s.port), err)
		}
		srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
		t.servers = append(t.servers, srv)
		go func() { _ = srv.Serve(ln) }()
	}

	bin, built, err := traceui.JaegerBinary(ctx, p.cfg.Root)
	if err != nil {
		t.closeServers()
		return nil, err
	}
	t.cached = built
	if built {
		t.viewer.SetStatus("Jaeger is starting")
		p.say("traces: Jaeger %s (built before, %s) is starting; the viewer: %s", traceui.JaegerVersion, bin, t.URL())
	} else {
		t.viewer.SetStatus("Jaeger is being built, the first time only (minutes): the spans sent meanwhile are kept and appear once it runs")
		p.say("traces: building Jaeger %s in the background, at low priority, into %s: the first build takes 5 to 10 minutes "+
			"(later runs reuse it); the site does not wait for it; the viewer: %s", traceui.JaegerVersion, bin, t.URL())
	}

	p.mu.Lock()
	maps.Copy(p.ports, t.Addrs())
	p.mu.Unlock()

	ctx, t.cancel = context.WithCancel(ctx)
	go func() {
		defer close(t.finished)
		t.run(ctx)
	}()
	return t, nil
}

// run builds Jaeger if need be, starts it, and waits until it answers.
func (t *Traces) run(ctx context.Context) {
	p := t.p
	start := time.Now()
	bin, err := traceui.BuildJaeger(ctx, p.cfg.Root, func(cmd *exec.Cmd) error {
		const name = "jaeger-build"
		cmd.Env = append(cmd.Env, runfile.MarkerEnv+"="+p.cfg.DataDir, runfile.ComponentEnv+"="+name)
		// Started once: a step is not restarted.
		proc := p.sup.Start(supervisor.Spec{Name: name, StopTimeout: 5 * time.Second, Command: func() *exec.Cmd { return cmd }})
		t.track(proc)
		select {
		case <-proc.Done():
		case <-ctx.Done():
			proc.Stop(context.Background())
			return ctx.Err()
		}
		return proc.LastExit()
	})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		t.mu.Lock()
		t.failed = true
		t.mu.Unlock()
		t.viewer.SetStatus("Jaeger could not be built: see devstack's output (the lines of [jaeger-build] and [devstack])")
		p.say("warning: traces: building Jaeger failed (%v): the platform runs without traces (the services' spans are dropped). "+
			"The [jaeger-build] lines above say why; to retry by hand: cd devstack/jaeger && GOWORK=off go build -o /tmp/jaeger %s",
			err, traceui.JaegerPackage)
		return
	}
	if !t.cached {
		p.say("traces: Jaeger built in %s", time.Since(start).Round(time.Second))
	}

	j := traceui.Jaeger{
		Bin: bin, Root: p.cfg.Root, LogLevel: "warn",
		OTLPHTTP: t.ports.OTLP, QueryHTTP: t.ports.Query, QueryGRPC: t.ports.QueryGRPC,
	}
	started := time.Now()
	proc := p.sup.Start(supervisor.Spec{
		Name: "jaeger", Restart: true, StopTimeout: 5 * time.Second,
		Command: p.marked("jaeger", func() *exec.Cmd { return exec.Command(j.Bin, j.Args()...) }, j.Env()),
	})
	t.track(proc)
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := j.Ready(rctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.intake.SetTarget(j.OTLPAddr())
	t.viewer.SetStatus("")
	t.mu.Lock()
	t.running = true
	t.mu.Unlock()
	p.say("traces: Jaeger is up (%s after its start): open %s (Jaeger's warning \"ui assets not embedded\" is expected: "+
		"its query port serves devstack's viewer instead)", time.Since(started).Round(time.Millisecond), t.URL())
}

func (t *Traces) track(proc *supervisor.Proc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.procs = append(t.procs, proc)
}

// ServiceEnv is what every service process needs to export its spans:
// the intake as its OTLP endpoint (both variables, so that a
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT of the caller's cannot send them
// elsewhere) and a half-second export delay.
func (t *Traces) ServiceEnv() map[string]string {
	if t == nil {
		return nil
	}
	base := "http://" + loopback(t.ports.Intake)
	return map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        base,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": base + "/v1/traces",
		"OTEL_BSP_SCHEDULE_DELAY":            ServiceScheduleDelay,
	}
}

// URL is the trace viewer's.
func (t *Traces) URL() string {
	if t == nil {
		return ""
	}
	return "http://localhost:" + strconv.Itoa(t.ports.UI)
}

// Note is the line to print with the site's URL: where the traces are,
// and whether Jaeger is still being built.
func (t *Traces) Note() string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.failed:
		return "traces: none this run (Jaeger could not be built, see above)"
	case t.running:
		return "traces: " + t.URL()
	case !t.cached:
		return "traces: " + t.URL() + " (Jaeger is still being built, the first time only; the viewer says when it is up)"
	default:
		return "traces: " + t.URL() + " (Jaeger is starting)"
	}
}

// Addrs are the backend's addresses by name: "traces" (the viewer),
// "traces-intake" (OTLP/HTTP, as the services' OTEL_EXPORTER_OTLP_ENDPOINT)
// and "jaeger" (its query API).
func (t *Traces) Addrs() map[string]string {
	if t == nil {
		return nil
	}
	return map[string]string{
		"traces": loopback(t.ports.UI), "traces-intake": loopback(t.ports.Intake), "jaeger": loopback(t.ports.Query),
	}
}

// Stop ends the build if it runs, stops Jaeger, then the viewer and the
// intake.
func (t *Traces) Stop() {
	if t == nil {
		return
	}
	t.cancel()
	<-t.finished
	t.mu.Lock()
	procs := t.procs
	t.mu.Unlock()
	stopAll(procs)
	t.closeServers()
	t.p.say("traces stopped")
}

func (t *Traces) closeServers() {
	for _, srv := range t.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		cancel()
	}
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
