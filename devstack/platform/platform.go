package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/devstack/bincache"
	"ticketing.dev/devstack/gateway"
	"ticketing.dev/devstack/runfile"
	"ticketing.dev/devstack/stores"
	"ticketing.dev/devstack/supervisor"
	"ticketing.dev/testkit/mongokit"
)

// ReadyBanner starts the line printed once every component is ready; the
// URL to open follows it.
const ReadyBanner = "ready: open "

// platform is one run: what was started, to be stopped in reverse.
type platform struct {
	cfg    Config
	out    *supervisor.Output
	notes  io.Writer
	sup    *supervisor.Supervisor
	gw     *gateway.Gateway
	gwAddr string // 127.0.0.1:port, for the client's server-side calls
	// natsPasswords are this run's NATS passwords, by user.
	natsPasswords map[string]string

	mu      sync.Mutex
	checks  map[string]func(context.Context) error // readiness of each component
	pending map[string]string                      // component → what it waits for, before it has a check
	procs   map[string]*supervisor.Proc
	ports   map[string]string
	metrics map[string]string // each service replica's /metrics address
	probes  []replicaProbe    // of the services' replicas, set before probeReplicas runs
}

func (p *platform) say(format string, args ...any) {
	fmt.Fprintf(p.notes, format+"\n", args...)
}

// Run starts the platform, prints the URL once every component is ready,
// and stops everything when ctx ends: gateway, then client and services
// (SIGTERM, so they drain and flush), then the stores.
func Run(ctx context.Context, cfg Config, stdout io.Writer) error {
	out := supervisor.NewOutput(stdout)
	p := &platform{
		cfg: cfg, out: out, notes: out.Writer("devstack"), sup: supervisor.New(out),
		checks: map[string]func(context.Context) error{}, pending: map[string]string{},
		procs: map[string]*supervisor.Proc{}, ports: map[string]string{}, metrics: map[string]string{},
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return err
	}
	lock, err := runfile.Acquire(cfg.DataDir)
	if err != nil {
		return err
	}
	defer lock.Release()
	p.say("data directory %s", cfg.DataDir)
	// A devstack that was killed could not stop its grandchildren (npm's
	// node): they carry the data directory's marker.
	if err := runfile.StopLeftovers(cfg.DataDir, func(s string) { p.say("%s", s) }); err != nil {
		return err
	}

	// Whatever started is stopped, in reverse order, however Run ends.
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		p.say("stopped")
	}()

	services := p.presentServices()
	built := make(chan error, 1)
	go func() { built <- p.build(ctx, services) }()

	// Gateway first: the client needs its address.
	routes, err := gateway.LoadRoutes(filepath.Join(cfg.Root, "infra", "k8s", "routes.yaml"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.GatewayAddr)
	if err != nil {
		return fmt.Errorf("gateway cannot listen on %s (%w): set GATEWAY_ADDR, e.g. GATEWAY_ADDR=127.0.0.1:8081", cfg.GatewayAddr, err)
	}
	gwLog := slog.New(slog.NewTextHandler(out.Writer("gateway"), &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: dropTime}))
	p.gw = gateway.New(routes, gwLog)
	gwPort := ln.Addr().(*net.TCPAddr).Port
	p.gwAddr = "127.0.0.1:" + strconv.Itoa(gwPort)
	srv := &http.Server{Handler: p.gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stopGateway := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	stops = append(stops, stopGateway) // runs last if start-up fails half-way
	p.say("gateway on %s routes as %s", ln.Addr(), "infra/k8s/routes.yaml")

	// Stores.
	// Every service connects as its own NATS user with its least
	// privilege (events.Services); the admin is the operator's (make dlq).
	p.natsPasswords, err = stores.NATSPasswords()
	if err != nil {
		return err
	}
	nats, err := stores.StartNATS(filepath.Join(cfg.DataDir, "nats"), 0, p.natsPasswords)
	if err != nil {
		return err
	}
	stops = append(stops, func() { nats.Stop(); p.say("nats stopped") })
	p.say("nats (JetStream) on %s", nats.URL())

	mongo, err := p.startFerretDBs(ctx, &stops)
	if err != nil {
		return err
	}
	var storeProcs []*supervisor.Proc
	stops = append(stops, func() { stopAll(storeProcs) })
	var redisURL string
	if contains(services, "expiration") {
		proc, url, err := p.startRedis()
		if err != nil {
			return err
		}
		storeProcs, redisURL = append(storeProcs, proc), url
	}
	if contains(services, "payments") {
		switch {
		case cfg.StartStripeMock:
			proc, err := p.startStripeMock()
			if err != nil {
				return err
			}
			storeProcs = append(storeProcs, proc)
		case cfg.RealStripe():
			p.say("payments uses Stripe's API with your STRIPE_KEY")
		default:
			p.say("payments uses the Stripe API at %s", cfg.StripeAPIBase)
		}
	}

	// Services, once built.
	select {
	case err := <-built:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return nil
	}
	// Traces: an intake the services export to at once, and Jaeger behind
	// it once built (the first build takes minutes, in the background: the
	// platform does not wait for it).
	var traces *Traces
	if !cfg.Skip["traces"] {
		if traces, err = p.StartTraces(ctx, TracePorts{}); err != nil {
			p.say("warning: traces: %v: the platform runs without traces", err)
			traces = nil
		} else {
			stops = append(stops, traces.Stop) // stopped after the services, which flush their spans
		}
	}
	var apps []*supervisor.Proc
	stops = append(stops, func() { stopAll(apps) })
	for _, svc := range services {
		apps = append(apps, p.startService(svc, nats.URL(), mongo[svc], redisURL, traces.ServiceEnv())...)
	}
	p.probeReplicas(ctx)
	var clientWG sync.WaitGroup
	clientWG.Add(1)
	go func() {
		defer clientWG.Done()
		if proc := p.startClient(ctx); proc != nil {
			p.mu.Lock()
			apps = append(apps, proc)
			p.mu.Unlock()
		}
	}()
	// The client's set-up (npm ci, build) must end before apps are stopped.
	stops = append(stops, clientWG.Wait)
	for _, b := range routes.Backends() {
		name := strings.TrimSuffix(b, "-srv")
		clientRuns := name == "client" && !cfg.Skip["client"]
		if !contains(services, name) && !clientRuns {
			p.say("note: the routes lead to %s, which is not running here (requests get 503)", b)
		}
	}

	url := "http://" + displayHost(cfg.GatewayAddr) + ":" + strconv.Itoa(gwPort)
	if !p.waitReady(ctx) {
		stops = append(stops, func() { p.say("stopping…") }, stopGateway)
		return nil
	}
	state := runfile.State{
		Pid: os.Getpid(), URL: url, Gateway: p.gwAddr, NATS: adminURL(nats.URL(), p.natsPasswords[events.AdminUser]), Redis: redisURL,
		Mongo: mongo, Components: p.portsCopy(), Metrics: p.metricsCopy(),
	}
	if err := runfile.WriteState(cfg.DataDir, state); err != nil {
		return err
	}
	p.say("orders expire after %s (ORDER_EXPIRATION_WINDOW), unpaid ones are cancelled %s later (ORDER_EXPIRATION_GRACE); payments use %s",
		cfg.OrderExpirationWindow, cfg.OrderExpirationGrace, stripeNote(p.cfg))
	p.say("%s%s   (data in %s; stop with Ctrl-C or `make down`)", ReadyBanner, url, cfg.DataDir)
	if note := traces.Note(); note != "" {
		p.say("%s", note)
	}
	if cfg.PostgreSQLURL != "" {
		go p.indexPostgreSQL(ctx)
	}

	<-ctx.Done()
	// Gateway first, so no new request reaches a draining service.
	stops = append(stops, func() { p.say("stopping…") }, stopGateway)
	return nil
}

func stripeNote(cfg Config) string {
	if cfg.RealStripe() {
		return "Stripe's API (STRIPE_KEY)"
	}
	return "a Stripe mock at " + cfg.StripeAPIBase + " (pay with token tok_visa)"
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func displayHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" || host == "127.0.0.1" {
		return "localhost"
	}
	return host
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func stopAll(procs []*supervisor.Proc) {
	var wg sync.WaitGroup
	for _, proc := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			proc.Stop(context.Background())
		}()
	}
	wg.Wait()
}

func (p *platform) metricsCopy() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.metrics)
}

func (p *platform) portsCopy() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]string, len(p.ports))
	for k, v := range p.ports {
		m[k] = v
	}
	return m
}

// presentServices lists the services whose code exists and that are not
// skipped: the platform runs whatever there is.
func (p *platform) presentServices() []string {
	var present []string
	for _, svc := range Services {
		if p.cfg.Skip[svc] {
			p.say("%s: skipped (DEVSTACK_SKIP)", svc)
			continue
		}
		if _, err := os.Stat(filepath.Join(p.cfg.Root, svc, "main.go")); err != nil {
			p.say("warning: %s has no main.go yet: not started", svc)
			continue
		}
		present = append(present, svc)
	}
	return present
}

// build compiles the services with one go build (shared compilation) into
// the user's cache, where an unchanged service is not linked again, and
// links them into the data directory's bin/ (bincache).
func (p *platform) build(ctx context.Context, services []string) error {
	if len(services) == 0 {
		return nil
	}
	start := time.Now()
	p.say("building %s…", strings.Join(services, ", "))
	w := p.out.Writer("build")
	defer w.Close()
	if err := bincache.BuildServices(ctx, p.cfg.Root, filepath.Join(p.cfg.DataDir, "bin"), services, w); err != nil {
		return fmt.Errorf("go build failed (%w): fix the errors above, or skip a service with DEVSTACK_SKIP=<name>", err)
	}
	p.say("built in %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

func (p *platform) startFerretDBs(ctx context.Context, stops *[]func()) (map[string]string, error) {
	uris := map[string]string{}
	for _, svc := range Stores {
		cfg := mongokit.FerretDBConfig{
			SQLiteDir:     filepath.Join(p.cfg.DataDir, "mongo", svc),
			PostgreSQLURL: p.cfg.PostgreSQLURL,
			Log: slog.New(slog.NewTextHandler(p.out.Writer("mongo-"+svc),
				&slog.HandlerOptions{Level: slog.LevelError, ReplaceAttr: dropTime})), // FerretDB warns of every unsupported command
		}
		// ctx is not the run's: FerretDB must outlive the services it
		// serves, until its own Stop.
		db, err := mongokit.StartFerretDB(context.WithoutCancel(ctx), cfg)
		if err != nil {
			return nil, err
		}
		*stops = append(*stops, db.Stop)
		uris[svc] = db.URI(svc)
		if p.cfg.PostgreSQLURL != "" {
			p.say("mongo-%s: FerretDB (postgresql backend) behind its front at %s", svc, uris[svc])
		} else {
			p.say("mongo-%s: FerretDB (sqlite backend in %s) behind its front at %s", svc, cfg.SQLiteDir, uris[svc])
		}
	}
	return uris, nil
}

// indexPostgreSQL gives FerretDB's PostgreSQL tables the indexes its
// queries can use (see mongokit.EnsurePostgreSQLIndexes): now that the
// services have created their collections, and every few seconds after for
// collections made later.
func (p *platform) indexPostgreSQL(ctx context.Context) {
	for {
		created, err := mongokit.EnsurePostgreSQLIndexes(ctx, p.cfg.PostgreSQLURL)
		if len(created) > 0 {
			p.say("postgresql: indexed %s", strings.Join(created, ", "))
		}
		if err != nil && ctx.Err() == nil {
			p.say("postgresql: %v (retrying)", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

func (p *platform) startRedis() (*supervisor.Proc, string, error) {
	port, err := stores.FreePort()
	if err != nil {
		return nil, "", err
	}
	command, err := p.redisCommand(port)
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	proc := p.sup.Start(supervisor.Spec{Name: "redis", Restart: true, Command: command})
	p.register("redis", addr, proc, func(ctx context.Context) error { return stores.RedisReady(ctx, addr) })
	return proc, "redis://" + addr, nil
}

// redisCommand is how the platform runs redis-server: in the data
// directory's RedisDir, where `devstack ps` and `down` recognise it.
func (p *platform) redisCommand(port int) (func() *exec.Cmd, error) {
	command, err := stores.RedisCommand(filepath.Join(p.cfg.DataDir, runfile.RedisDir), port)
	if err != nil {
		return nil, err
	}
	return p.marked("redis", command, nil), nil
}

func (p *platform) startStripeMock() (*supervisor.Proc, error) {
	port, err := stores.FreePort()
	if err != nil {
		return nil, err
	}
	command, err := stores.StripeMockCommand(port)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p.cfg.StripeAPIBase = "http://" + addr
	proc := p.sup.Start(supervisor.Spec{Name: "stripe-mock", Restart: true, Command: p.marked("stripe-mock", command, nil)})
	p.register("stripe-mock", addr, proc, func(ctx context.Context) error { return dialOK(ctx, addr) })
	return proc, nil
}

// startService runs REPLICAS processes of a built service, each on its own
// free port with the environment the brief fixes for the service, and
// points the gateway at them.
func (p *platform) startService(svc, natsURL, mongoURI, redisURL string, extra map[string]string) []*supervisor.Proc {
	// Loopback only: the gateway is the one way in, as the edge is.
	env := map[string]string{"NATS_URL": natsURL, "LISTEN_HOST": "127.0.0.1"}
	maps.Copy(env, extra) // the traces' endpoint
	if _, ok := events.Services[svc]; ok {
		env["NATS_USER"], env["NATS_PASSWORD"] = svc, p.natsPasswords[svc]
	}
	switch svc {
	case "expiration":
		env["REDIS_URL"] = redisURL
	default:
		env["MONGO_URI"] = mongoURI
		env["JWT_KEY"] = p.cfg.JWTKey
	}
	switch svc {
	case "auth":
		env["COOKIE_SECURE"] = "false" // plain HTTP on localhost
		// The gateway appends the caller's address to X-Forwarded-For:
		// rate limits per address then see browsers, not the gateway.
		env["TRUSTED_PROXY_HOPS"] = "1"
	case "orders":
		env["ORDER_EXPIRATION_WINDOW"] = p.cfg.OrderExpirationWindow
		env["ORDER_EXPIRATION_GRACE"] = p.cfg.OrderExpirationGrace
		env["ORDER_ACTIVE_LIMIT"] = p.cfg.OrderActiveLimit
	case "payments":
		env["STRIPE_KEY"] = p.cfg.StripeKey
		if p.cfg.StripeAPIBase != "" {
			env["STRIPE_API_BASE"] = p.cfg.StripeAPIBase
		}
	}
	bin := filepath.Join(p.cfg.DataDir, "bin", svc)
	backend := svc + "-srv"
	var procs []*supervisor.Proc
	var addrs []string
	for i := 1; i <= p.cfg.Replicas; i++ {
		name := svc // one replica keeps the service's name
		if p.cfg.Replicas > 1 {
			name = svc + "-" + strconv.Itoa(i)
		}
		port, err := stores.FreePort()
		if err != nil {
			port = 0 // the service will fail to listen and be restarted
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		replicaEnv := maps.Clone(env)
		replicaEnv["PORT"] = strconv.Itoa(port)
		// Its /metrics on a port of its own, listed in devstack.json.
		metricsPort, err := stores.FreePort()
		if err != nil {
			metricsPort = 0
		}
		replicaEnv["METRICS_ADDR"] = "127.0.0.1:" + strconv.Itoa(metricsPort)
		p.mu.Lock()
		p.metrics[name] = replicaEnv["METRICS_ADDR"]
		p.mu.Unlock()
		proc := p.sup.Start(supervisor.Spec{
			Name: name, Restart: true, StopTimeout: 20 * time.Second,
			Command: p.marked(name, func() *exec.Cmd { return exec.Command(bin) }, replicaEnv),
			OnStart: func() { p.gw.SetReady(backend, addr, false) },
		})
		ready := httpReady("http://"+addr+"/readyz", false)
		p.register(name, addr, proc, ready)
		p.probes = append(p.probes, replicaProbe{backend: backend, addr: addr, ready: ready})
		procs, addrs = append(procs, proc), append(addrs, addr)
	}
	p.gw.SetBackend(backend, addrs...)
	return procs
}

// replicaProbe is a replica's readiness probe, for the gateway.
type replicaProbe struct {
	backend, addr string
	ready         func(context.Context) error
}

// probeReplicas runs every replica's readiness probe each second until ctx
// ends and tells the gateway, which sends requests only to ready replicas:
// as kubelet does, so a replica that restarts gets requests again only once
// its store and NATS are connected.
func (p *platform) probeReplicas(ctx context.Context) {
	for _, pr := range p.probes {
		go func() {
			for {
				pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				err := pr.ready(pctx)
				cancel()
				if ctx.Err() != nil {
					return
				}
				p.gw.SetReady(pr.backend, pr.addr, err == nil)
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}
}

// platformEnv are the variables the platform sets for its processes; the
// caller's values of them are not inherited (JWT_KEY and the rest reach a
// service only as the platform decided).
var platformEnv = []string{
	"PORT", "MONGO_URI", "NATS_URL", "NATS_USER", "NATS_PASSWORD", "JWT_KEY", "REDIS_URL", "STRIPE_KEY", "STRIPE_API_BASE",
	"COOKIE_SECURE", "TRUSTED_PROXY_HOPS", "ORDER_EXPIRATION_WINDOW", "ORDER_EXPIRATION_GRACE", "ORDER_ACTIVE_LIMIT", "API_BASE_URL", "LISTEN_HOST",
	"METRICS_ADDR",
	runfile.MarkerEnv, runfile.ComponentEnv,
}

// marked wraps a command builder: the process gets the caller's
// environment less platformEnv, then env, then the platform's marker and
// the component's name.
func (p *platform) marked(name string, command func() *exec.Cmd, env map[string]string) func() *exec.Cmd {
	return func() *exec.Cmd {
		cmd := command()
		drop := map[string]bool{}
		for _, k := range platformEnv {
			drop[k] = true
		}
		for _, kv := range os.Environ() {
			if k, _, _ := strings.Cut(kv, "="); !drop[k] {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cmd.Env = append(cmd.Env, k+"="+env[k])
		}
		cmd.Env = append(cmd.Env, runfile.MarkerEnv+"="+p.cfg.DataDir, runfile.ComponentEnv+"="+name)
		return cmd
	}
}

func (p *platform) register(name, addr string, proc *supervisor.Proc, check func(context.Context) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checks[name] = check
	delete(p.pending, name)
	if proc != nil {
		p.procs[name] = proc
	}
	if addr != "" {
		p.ports[name] = addr
	}
}

func (p *platform) setPending(name, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending[name] = why
}

func (p *platform) unregisterPending(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pending, name)
}

// waitReady polls every component until all are ready (true) or ctx ends
// (false), saying every 15 s what it still waits for.
func (p *platform) waitReady(ctx context.Context) bool {
	ready := map[string]bool{}
	lastNote := time.Now()
	for {
		p.mu.Lock()
		checks := make(map[string]func(context.Context) error, len(p.checks))
		for k, v := range p.checks {
			checks[k] = v
		}
		var waiting []string
		for name, why := range p.pending {
			waiting = append(waiting, name+" ("+why+")")
		}
		p.mu.Unlock()
		for name, check := range checks {
			if ready[name] {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := check(cctx)
			cancel()
			if err == nil {
				ready[name] = true
				continue
			}
			why := err.Error()
			p.mu.Lock()
			if proc := p.procs[name]; proc != nil && proc.Starts() > 1 {
				why = fmt.Sprintf("started %d times, last exit: %v", proc.Starts(), proc.LastExit())
			}
			p.mu.Unlock()
			waiting = append(waiting, name+" ("+why+")")
		}
		if len(waiting) == 0 {
			return true
		}
		if time.Since(lastNote) >= 15*time.Second {
			sort.Strings(waiting)
			p.say("waiting for: %s", strings.Join(waiting, "; "))
			lastNote = time.Now()
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var probe = &http.Client{Timeout: 2 * time.Second}

// httpReady checks that url answers 200, or (anyBelow500) anything but a
// server error.
func httpReady(url string, anyBelow500 bool) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		res, err := probe.Do(req)
		if err != nil {
			return errors.New("not answering yet")
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK || (anyBelow500 && res.StatusCode < 500) {
			return nil
		}
		return fmt.Errorf("%s answered %d", url, res.StatusCode)
	}
}

func dialOK(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return errors.New("not listening yet")
	}
	return c.Close()
}

// adminURL is the NATS URL with the admin's credentials, as devstack.json
// gives it to the operator's tools (make dlq) and the tests.
func adminURL(natsURL, password string) string {
	u, err := url.Parse(natsURL)
	if err != nil {
		return natsURL
	}
	u.User = url.UserPassword(events.AdminUser, password)
	return u.String()
}
