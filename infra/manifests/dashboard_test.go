package manifests

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The Grafana dashboard (infra/dashboards/ticketing.json): a Prometheus
// data source chosen through the variable DS_PROMETHEUS, never a fixed
// one; every expression parses with Prometheus's parser (infra/promcheck,
// the release the component runs); every metric it names is one the code
// defines (read from the services' Go sources: a renamed metric fails
// here), with that metric's labels, those Prometheus gives every target
// (its configuration's relabeling, as Prometheus's code applies it) and
// the values the code gives them (events' outcomes); and the panels the
// platform needs are there.

// dashboardFile is the dashboard, relative to the repository root.
var dashboardFile = filepath.Join("infra", "dashboards", "ticketing.json")

// dashboard is the part of Grafana's dashboard JSON the rules read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *datasourceRef           `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []target                 `json:"targets"`
	Panels     []panel                  `json:"panels"` // a collapsed row's
}

type target struct {
	RefID      string         `json:"refId"`
	Datasource *datasourceRef `json:"datasource"`
	Expr       string         `json:"expr"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasourceRef  `json:"datasource"`
	Definition string          `json:"definition"`
	AllValue   string          `json:"allValue"`
}

// dataSource is how every panel names its data source: the variable.
var dataSource = datasourceRef{Type: "prometheus", UID: "${DS_PROMETHEUS}"}

func loadDashboard(t testing.TB) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(repoRoot(t), dashboardFile))), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels are the panels, those of collapsed rows included.
func (d dashboard) allPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// metricDef is a metric the code defines.
type metricDef struct {
	name   string
	kind   string // counter, gauge, histogram, summary, or untyped (a Desc)
	labels []string
	where  string
}

// series are the names a metric's samples have (a histogram's buckets,
// sum and count), each with the labels it carries besides the target's.
func (m metricDef) series() map[string][]string {
	switch m.kind {
	case "histogram":
		return map[string][]string{m.name + "_bucket": append(slices.Clone(m.labels), "le"), m.name + "_sum": m.labels, m.name + "_count": m.labels}
	case "summary":
		return map[string][]string{m.name: append(slices.Clone(m.labels), "quantile"), m.name + "_sum": m.labels, m.name + "_count": m.labels}
	}
	return map[string][]string{m.name: m.labels}
}

// metricSources are the modules whose code defines the services' metrics.
var metricSources = append([]string{"common"}, goServices...)

// definedMetrics reads every metric the services' Go code defines: each
// prometheus.CounterOpts, GaugeOpts, HistogramOpts and SummaryOpts
// literal (Namespace, Subsystem and Name joined as BuildFQName joins
// them), with the label names of the New…Vec call it is given to, and
// each prometheus.NewDesc(name, help, labels, …). Tests are left out.
func definedMetrics(t testing.TB) map[string]metricDef {
	t.Helper()
	root := repoRoot(t)
	defs := map[string]metricDef{}
	for _, module := range metricSources {
		err := filepath.WalkDir(filepath.Join(root, module), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			for _, m := range metricsInFile(t, path, rel) {
				if other, dup := defs[m.name]; dup {
					t.Errorf("metric %s is defined twice: %s and %s", m.name, other.where, m.where)
				}
				defs[m.name] = m
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(defs) == 0 {
		t.Fatal("no metric definition found in the code: the scanner no longer recognises it")
	}
	return defs
}

var optsKinds = map[string]string{"CounterOpts": "counter", "GaugeOpts": "gauge", "HistogramOpts": "histogram", "SummaryOpts": "summary"}

func metricsInFile(t testing.TB, path, rel string) []metricDef {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []metricDef
	isProm := func(e ast.Expr) (string, bool) {
		sel, ok := e.(*ast.SelectorExpr)
		if !ok {
			return "", false
		}
		x, ok := sel.X.(*ast.Ident)
		return sel.Sel.Name, ok && x.Name == "prometheus"
	}
	seen := map[*ast.CompositeLit]bool{}
	opts := func(lit *ast.CompositeLit, labels []string) {
		name, ok := isProm(lit.Type)
		kind, known := optsKinds[name]
		if !ok || !known || seen[lit] {
			return
		}
		seen[lit] = true
		parts := map[string]string{}
		for _, el := range lit.Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			key, _ := kv.Key.(*ast.Ident)
			if key == nil {
				continue
			}
			if s, ok := stringLit(kv.Value); ok {
				parts[key.Name] = s
			} else if key.Name == "Name" || key.Name == "Namespace" || key.Name == "Subsystem" {
				t.Errorf("%s: %s's %s is no string literal: the scanner cannot read it", rel+":"+strconv.Itoa(fset.Position(kv.Pos()).Line), name, key.Name)
			}
		}
		var fq []string
		for _, k := range []string{"Namespace", "Subsystem", "Name"} {
			if parts[k] != "" {
				fq = append(fq, parts[k])
			}
		}
		out = append(out, metricDef{strings.Join(fq, "_"), kind, labels, rel + ":" + strconv.Itoa(fset.Position(lit.Pos()).Line)})
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			fn := ""
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
				fn = sel.Sel.Name
			}
			if name, ok := isProm(n.Fun); ok && name == "NewDesc" && len(n.Args) >= 3 {
				s, ok := stringLit(n.Args[0])
				if !ok {
					t.Errorf("%s: prometheus.NewDesc's name is no string literal: the scanner cannot read it", rel)
					return true
				}
				out = append(out, metricDef{s, "untyped", stringSlice(n.Args[2]), rel + ":" + strconv.Itoa(fset.Position(n.Pos()).Line)})
				return true
			}
			if strings.HasPrefix(fn, "New") && len(n.Args) > 0 {
				if lit, ok := n.Args[0].(*ast.CompositeLit); ok {
					var labels []string
					if strings.HasSuffix(fn, "Vec") && len(n.Args) > 1 {
						labels = stringSlice(n.Args[1])
					}
					opts(lit, labels)
				}
			}
		case *ast.CompositeLit:
			opts(n, nil)
		}
		return true
	})
	return out
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// stringSlice is the elements of a []string{…} literal.
func stringSlice(e ast.Expr) []string {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, el := range lit.Elts {
		if s, ok := stringLit(el); ok {
			out = append(out, s)
		}
	}
	return out
}

// announced are metrics the dashboard may use before the code defines
// them, with their labels (none now). Once the code defines one, it must
// leave this list.
var announced = map[string]metricDef{}

// prometheusSeries are the series Prometheus itself writes for every
// target.
var prometheusSeries = map[string][]string{"up": nil}

// eventOutcomes are the values of events_handled_total's outcome label,
// the constants outcome… = "…" of common/events.
func eventOutcomes(t testing.TB) []string {
	t.Helper()
	src := readFile(t, filepath.Join(repoRoot(t), "common", "events", "metrics.go"))
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\s*outcome[A-Z]\w*\s*=\s*"([a-z]+)"`).FindAllStringSubmatch(src, -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatal(`common/events/metrics.go: no outcome… = "…" constants: update the test`)
	}
	return out
}

// dashboardFacts is what the dashboard is checked against.
type dashboardFacts struct {
	series       map[string][]string // series name → its labels (the target's excluded)
	targetLabels []string            // the labels Prometheus gives each target (job, instance, service, …)
	jobs         []string            // Prometheus's job names
	outcomes     []string            // events_handled_total's outcomes
}

// dashboardContext reads the facts: the metrics of the code (and those
// announced, while the code lacks them), and the target labels and jobs of
// the component's Prometheus as its own code relabels them.
func dashboardContext(t *testing.T) dashboardFacts {
	t.Helper()
	facts := dashboardFacts{series: map[string][]string{}, outcomes: eventOutcomes(t)}
	defs := definedMetrics(t)
	for name, a := range announced {
		if d, ok := defs[name]; ok {
			t.Errorf("%s is defined now (%s): remove it from announced in dashboard_test.go", name, d.where)
			continue
		}
		t.Logf("%s: not in the code yet, announced with labels %v (issue 18)", name, a.labels)
		defs[name] = a
	}
	for _, d := range defs {
		for s, labels := range d.series() {
			facts.series[s] = labels
		}
	}
	for s, labels := range prometheusSeries {
		facts.series[s] = labels
	}
	dir := filepath.Join("infra", "overlays", "observability")
	n, errs := networkOf(rendered(t, dir))
	for _, err := range errs {
		t.Fatal(err)
	}
	labels := map[string]bool{}
	for _, s := range n.scrapes {
		for _, job := range s.jobs {
			facts.jobs = append(facts.jobs, job.Name)
			for _, target := range job.Targets {
				for l := range target {
					if !strings.HasPrefix(l, "__") {
						labels[l] = true
					}
				}
			}
		}
	}
	facts.targetLabels = sortedKeys(labels)
	if !labels["service"] {
		t.Fatalf("%s: Prometheus gives its targets no service label (%v): the dashboard groups by it", dir, facts.targetLabels)
	}
	return facts
}

// grafanaVariable is a use of a variable in an expression.
var grafanaVariable = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// builtinVariables are Grafana's, with a value an expression may take.
var builtinVariables = map[string]string{"__rate_interval": "1m", "__interval": "30s", "__range": "1h"}

// substitute replaces Grafana's variables in expr with values they take.
func substitute(expr string, variables map[string]string) (string, error) {
	var err error
	out := grafanaVariable.ReplaceAllStringFunc(expr, func(ref string) string {
		m := grafanaVariable.FindStringSubmatch(ref)
		name := m[1] + m[2]
		if v, ok := builtinVariables[name]; ok {
			return v
		}
		if v, ok := variables[name]; ok {
			return v
		}
		err = fmt.Errorf("uses $%s, which is no variable of the dashboard", name)
		return ref
	})
	return out, err
}

// requirement is a panel the platform needs: one whose expressions
// together satisfy ok.
type requirement struct {
	name string
	ok   func(exprs []promExpr) bool
}

func exprSelects(exprs []promExpr, metric string, matchers ...string) bool {
	return slices.ContainsFunc(exprs, func(e promExpr) bool {
		return slices.ContainsFunc(e.Selectors, func(s promSelector) bool {
			if s.Name != metric {
				return false
			}
			for _, want := range matchers {
				if !slices.ContainsFunc(s.Matchers, func(m promMatcher) bool {
					return m.Label+m.Type+strconv.Quote(m.Value) == want
				}) {
					return false
				}
			}
			return true
		})
	})
}

func groupsBy(exprs []promExpr, metric string, labels ...string) bool {
	return slices.ContainsFunc(exprs, func(e promExpr) bool {
		return slices.ContainsFunc(e.Groupings, func(g promGrouping) bool {
			return g.Kind == "by" && slices.Contains(g.Metrics, metric) &&
				!slices.ContainsFunc(labels, func(l string) bool { return !slices.Contains(g.Labels, l) })
		})
	})
}

func quantiles(exprs []promExpr, metric string, qs ...float64) bool {
	for _, q := range qs {
		if !slices.ContainsFunc(exprs, func(e promExpr) bool {
			return slices.Contains(e.Quantiles, q) && slices.ContainsFunc(e.Selectors, func(s promSelector) bool { return s.Name == metric })
		}) {
			return false
		}
	}
	return true
}

var requirements = []requirement{
	{"RED: the request rate per service", func(e []promExpr) bool {
		return groupsBy(e, "http_requests_total", "service") && !exprSelects(e, "http_requests_total", `code=~"5.."`)
	}},
	{"RED: the 5xx error ratio per service", func(e []promExpr) bool {
		return exprSelects(e, "http_requests_total", `code=~"5.."`) && groupsBy(e, "http_requests_total", "service")
	}},
	{"RED: p50 and p99 durations per service", func(e []promExpr) bool {
		return quantiles(e, "http_request_duration_seconds_bucket", 0.5, 0.99) && groupsBy(e, "http_request_duration_seconds_bucket", "service", "le")
	}},
	{"consumer lag: pending per durable", func(e []promExpr) bool { return groupsBy(e, "events_consumer_pending", "durable") }},
	{"consumer lag: ack pending per durable", func(e []promExpr) bool { return groupsBy(e, "events_consumer_ack_pending", "durable") }},
	{"the outbox backlog", func(e []promExpr) bool { return groupsBy(e, "outbox_pending_documents", "collection") }},
	{"the outbox's oldest pending age", func(e []promExpr) bool { return groupsBy(e, "outbox_oldest_pending_age_seconds", "collection") }},
	{"purchases per minute", func(e []promExpr) bool {
		return exprSelects(e, "events_handled_total", `durable="orders-service-payment-created"`, `outcome="handled"`)
	}},
	{"expiration lateness p50 and p99", func(e []promExpr) bool {
		return quantiles(e, "expiration_lateness_seconds_bucket", 0.5, 0.99)
	}},
	{"Stripe outcomes", func(e []promExpr) bool { return groupsBy(e, "stripe_requests_total", "outcome") }},
}

// checkDashboard is every rule on d against facts.
func checkDashboard(d dashboard, facts dashboardFacts) []error {
	var errs []error
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		errs = append(errs, fmt.Errorf("uid %q, title %q, schemaVersion %d: want all three", d.UID, d.Title, d.SchemaVersion))
	}
	// The data source is a variable of type datasource, of Prometheus's.
	variables := map[string]string{}
	var dsVariable bool
	for _, v := range d.Templating.List {
		switch {
		case v.Type == "datasource":
			dsVariable = dsVariable || (v.Name == "DS_PROMETHEUS" && string(v.Query) == `"prometheus"`)
		case v.Datasource == nil || *v.Datasource != dataSource:
			errs = append(errs, fmt.Errorf("variable %s: data source %v, want %v", v.Name, v.Datasource, dataSource))
		}
		variables[v.Name] = "auth" // the variables here are services
		if v.Type == "query" {
			if m := regexp.MustCompile(`^label_values\((\w+), *(\w+)\)$`).FindStringSubmatch(v.Definition); m == nil {
				errs = append(errs, fmt.Errorf("variable %s: query %q, want label_values(<metric>, <label>)", v.Name, v.Definition))
			} else if labels, ok := facts.series[m[1]]; !ok {
				errs = append(errs, fmt.Errorf("variable %s: label_values of %s, which no code defines", v.Name, m[1]))
			} else if !slices.Contains(labels, m[2]) && !slices.Contains(facts.targetLabels, m[2]) {
				errs = append(errs, fmt.Errorf("variable %s: %s has no label %s", v.Name, m[1], m[2]))
			}
		}
	}
	if !dsVariable {
		errs = append(errs, fmt.Errorf("no variable DS_PROMETHEUS of type datasource (query prometheus): the data source must be chosen, not fixed"))
	}

	ids := map[int]string{}
	var exprs []string
	type ref struct{ panel, refID string }
	var refs []ref
	for _, p := range d.allPanels() {
		if other, dup := ids[p.ID]; dup {
			errs = append(errs, fmt.Errorf("panels %q and %q share id %d", other, p.Title, p.ID))
		}
		ids[p.ID] = p.Title
		if g := p.GridPos; g.W < 1 || g.X < 0 || g.X+g.W > 24 || g.H < 1 {
			errs = append(errs, fmt.Errorf("panel %q: gridPos %+v outside Grafana's 24 columns", p.Title, g))
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			errs = append(errs, fmt.Errorf("panel %q has no query", p.Title))
		}
		if p.Datasource == nil || *p.Datasource != dataSource {
			errs = append(errs, fmt.Errorf("panel %q: data source %v, want %v", p.Title, p.Datasource, dataSource))
		}
		refIDs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Datasource != nil && *tg.Datasource != dataSource {
				errs = append(errs, fmt.Errorf("panel %q, query %s: data source %v, want %v", p.Title, tg.RefID, tg.Datasource, dataSource))
			}
			if tg.RefID == "" || refIDs[tg.RefID] {
				errs = append(errs, fmt.Errorf("panel %q: query refId %q empty or repeated", p.Title, tg.RefID))
			}
			refIDs[tg.RefID] = true
			expr, err := substitute(tg.Expr, variables)
			if err != nil {
				errs = append(errs, fmt.Errorf("panel %q, query %s: %w", p.Title, tg.RefID, err))
				continue
			}
			exprs = append(exprs, expr)
			refs = append(refs, ref{p.Title, tg.RefID})
		}
	}
	resp, err := askPrometheus(promRequest{Exprs: exprs})
	if err != nil {
		return append(errs, err)
	}
	byPanel := map[string][]promExpr{}
	var order []string
	for i, e := range resp.Exprs {
		where := fmt.Sprintf("panel %q, query %s", refs[i].panel, refs[i].refID)
		if e.Error != "" {
			errs = append(errs, fmt.Errorf("%s: Prometheus cannot parse %s: %s", where, e.Expr, e.Error))
			continue
		}
		if _, ok := byPanel[refs[i].panel]; !ok {
			order = append(order, refs[i].panel)
		}
		byPanel[refs[i].panel] = append(byPanel[refs[i].panel], e)
		errs = append(errs, checkExpr(where, e, facts)...)
	}
	for _, r := range requirements {
		if !slices.ContainsFunc(order, func(p string) bool { return r.ok(byPanel[p]) }) {
			errs = append(errs, fmt.Errorf("no panel shows %s", r.name))
		}
	}
	return errs
}

// checkExpr: every metric is defined, every label it matches or groups by
// is one its series carry, and the values of the labels the code
// enumerates are the code's.
func checkExpr(where string, e promExpr, facts dashboardFacts) []error {
	var errs []error
	has := func(metric, label string) bool {
		return slices.Contains(facts.series[metric], label) || slices.Contains(facts.targetLabels, label) || label == "job" || label == "instance"
	}
	for _, s := range e.Selectors {
		if _, ok := facts.series[s.Name]; !ok {
			errs = append(errs, fmt.Errorf("%s uses %s, which no code defines (%s)", where, s.Name, e.Expr))
			continue
		}
		for _, m := range s.Matchers {
			if !has(s.Name, m.Label) {
				errs = append(errs, fmt.Errorf("%s: %s has no label %s", where, s.Name, m.Label))
			}
			switch {
			case s.Name == "events_handled_total" && m.Label == "outcome" && (m.Type == "=" || m.Type == "!=") && !slices.Contains(facts.outcomes, m.Value):
				errs = append(errs, fmt.Errorf("%s: outcome %q is none of the code's %v", where, m.Value, facts.outcomes))
			case m.Label == "job" && m.Type == "=" && !slices.Contains(facts.jobs, m.Value):
				errs = append(errs, fmt.Errorf("%s: job %q is no job of Prometheus's (%v)", where, m.Value, facts.jobs))
			}
		}
	}
	for _, g := range e.Groupings {
		for _, l := range g.Labels {
			for _, metric := range g.Metrics {
				if _, ok := facts.series[metric]; ok && !has(metric, l) {
					errs = append(errs, fmt.Errorf("%s: %s %s: %s has no label %s", where, g.Kind, l, metric, l))
				}
			}
		}
	}
	return errs
}

func TestDashboard(t *testing.T) {
	for _, err := range checkDashboard(loadDashboard(t), dashboardContext(t)) {
		t.Error(err)
	}
}

// The rules can fail: a metric the code renames, an expression that does
// not parse, a fixed data source, a label a metric lacks, an outcome the
// code does not have, an unknown variable, a missing panel.
func TestDashboardRulesRejectMutations(t *testing.T) {
	facts := dashboardContext(t)
	original := readFile(t, filepath.Join(repoRoot(t), dashboardFile))
	tests := []struct {
		name, want string
		mutate     func(t *testing.T, d *dashboard, facts *dashboardFacts)
		text       [2]string // or a change of the JSON text
	}{
		{name: "the code renames stripe_requests_total", want: "uses stripe_requests_total, which no code defines", mutate: func(t *testing.T, _ *dashboard, f *dashboardFacts) {
			f.series = cloneSeries(f.series)
			delete(f.series, "stripe_requests_total")
			f.series["stripe_calls_total"] = []string{"operation", "outcome"}
		}},
		{name: "the code renames a label", want: "events_consumer_pending has no label durable", mutate: func(t *testing.T, _ *dashboard, f *dashboardFacts) {
			f.series = cloneSeries(f.series)
			f.series["events_consumer_pending"] = []string{"consumer"}
		}},
		{name: "an expression that does not parse", want: "Prometheus cannot parse", text: [2]string{`"expr": "sum by (service) (rate(http_requests_total{service=~\"$service\"}[$__rate_interval]))"`, `"expr": "sum by (service) (rate(http_requests_total{service=~\"$service\"}[$__rate_interval])"`}},
		{name: "a fixed data source", want: `data source &{prometheus P1809F7CD0C75ACF3}`, text: [2]string{`"uid": "${DS_PROMETHEUS}"`, `"uid": "P1809F7CD0C75ACF3"`}},
		{name: "a label the metric lacks", want: "events_consumer_pending has no label route", text: [2]string{`max by (durable) (events_consumer_pending`, `max by (route) (events_consumer_pending`}},
		{name: "an outcome the code lacks", want: `outcome "ok" is none of the code's`, text: [2]string{`outcome=\"handled\"`, `outcome=\"ok\"`}},
		{name: "a job Prometheus lacks", want: `job "kubernetes-pods" is no job`, text: [2]string{`job=\"ticketing\"`, `job=\"kubernetes-pods\"`}},
		{name: "an unknown variable", want: "uses $instance", text: [2]string{`service=~\"$service\", code=~\"5..\"`, `service=~\"$instance\", code=~\"5..\"`}},
		{name: "no purchases panel", want: "no panel shows purchases per minute", text: [2]string{`durable=\"orders-service-payment-created\"`, `durable=\"orders-service-order-created\"`}},
		{name: "p99 only", want: "no panel shows expiration lateness p50 and p99", text: [2]string{`histogram_quantile(0.5, sum by (le) (rate(expiration_lateness_seconds_bucket`, `histogram_quantile(0.9, sum by (le) (rate(expiration_lateness_seconds_bucket`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := facts
			text := original
			if tt.text[0] != "" {
				if !strings.Contains(text, tt.text[0]) {
					t.Fatalf("%s no longer contains %s: update the test", dashboardFile, tt.text[0])
				}
				text = strings.ReplaceAll(text, tt.text[0], tt.text[1])
			}
			var d dashboard
			if err := json.Unmarshal([]byte(text), &d); err != nil {
				t.Fatal(err)
			}
			if tt.mutate != nil {
				tt.mutate(t, &d, &f)
			}
			errs := checkDashboard(d, f)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("no rule reports %q; they report %v", tt.want, errs)
			}
		})
	}
}

func cloneSeries(m map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// The scanner finds the services' metrics where they are defined.
func TestDefinedMetrics(t *testing.T) {
	defs := definedMetrics(t)
	for name, want := range map[string]string{
		"http_requests_total": "counter", "http_request_duration_seconds": "histogram", "events_handled_total": "counter",
		"events_consumer_pending": "untyped", "stripe_requests_total": "counter", "expiration_lateness_seconds": "histogram",
	} {
		if d, ok := defs[name]; !ok || d.kind != want {
			t.Errorf("%s: found %+v, want a %s", name, d, want)
		}
	}
	if got := defs["events_handled_total"].labels; !slices.Equal(got, []string{"durable", "outcome"}) {
		t.Errorf("events_handled_total's labels %v, want [durable outcome]", got)
	}
}
