// Command promcheck answers infra/manifests' tests with Prometheus's own
// code (github.com/prometheus/prometheus v0.315.1, the Prometheus 3.15.1
// that infra/components/observability runs), so the tests need not
// imitate it. It reads one JSON request on standard input and writes one
// JSON answer:
//
//   - config: a prometheus.yml, loaded as Prometheus loads it (strict YAML:
//     a misspelt key is an error), and for each scrape job, the targets it
//     would scrape among pods: the targets kubernetes_sd's pod role builds
//     for them (its own discoverer, over the pods of the namespaces it is
//     given, as the API server would list them), each relabelled by the
//     job's relabel_configs (scrape.PopulateLabels: what a target's labels
//     are after relabeling, or that it is dropped);
//   - exprs: PromQL expressions, each parsed by Prometheus's parser, with
//     the metrics and labels it names.
//
// It is a module of its own, outside the workspace (GOWORK=off), so
// Prometheus's dependencies never change the versions the services build
// with; infra/manifests builds it once per test run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	clientprometheus "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/scrape"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Request is what the tests send.
type Request struct {
	// Config is a prometheus.yml; empty: no configuration to check.
	Config string `json:"config,omitempty"`
	// Pods are the pods the API server would list, with their addresses
	// and phase set.
	Pods []corev1.Pod `json:"pods,omitempty"`
	// OwnNamespace is Prometheus's own namespace, for own_namespace.
	OwnNamespace string `json:"ownNamespace,omitempty"`
	// Exprs are PromQL expressions.
	Exprs []string `json:"exprs,omitempty"`
}

// Response is the answer.
type Response struct {
	ConfigError string `json:"configError,omitempty"`
	Jobs        []Job  `json:"jobs,omitempty"`
	Exprs       []Expr `json:"exprs,omitempty"`
}

// Job is one scrape job: where it discovers, and the targets it keeps.
type Job struct {
	Name      string      `json:"name"`
	Discovery []Discovery `json:"discovery"`
	// Targets are the labels of each target the job scrapes, after
	// relabeling (__address__, __scheme__, __metrics_path__ among them).
	Targets []map[string]string `json:"targets"`
	// Errors are what could not be modelled or was refused (a target
	// relabeling leaves invalid, a discovery of another kind).
	Errors []string `json:"errors,omitempty"`
}

// Discovery is one kubernetes_sd_configs entry.
type Discovery struct {
	Role string `json:"role"`
	// Namespaces are those it lists pods in; empty: every namespace.
	Namespaces []string `json:"namespaces"`
}

// Expr is one parsed expression.
type Expr struct {
	Expr  string `json:"expr"`
	Error string `json:"error,omitempty"`
	// Selectors are its series selectors.
	Selectors []Selector `json:"selectors,omitempty"`
	// Groupings are the label lists of its aggregations (by, without) and
	// of its vector matchings (on, ignoring, group_left/right), with the
	// metrics of the selectors under each.
	Groupings []Grouping `json:"groupings,omitempty"`
	// Functions are the functions it calls, in order.
	Functions []string `json:"functions,omitempty"`
	// Aggregations are its aggregation operators (sum, max, …), in order.
	Aggregations []string `json:"aggregations,omitempty"`
	// Quantiles are the first arguments of its histogram_quantile calls.
	Quantiles []float64 `json:"quantiles,omitempty"`
}

// Selector is a series selector: its metric name and label matchers.
type Selector struct {
	Name     string    `json:"name"`
	Matchers []Matcher `json:"matchers,omitempty"`
}

// Matcher is one label matcher (the metric name's left out).
type Matcher struct {
	Label string `json:"label"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Grouping is a list of labels and the metrics it applies to.
type Grouping struct {
	Kind    string   `json:"kind"` // by, without, on, ignoring, include
	Labels  []string `json:"labels"`
	Metrics []string `json:"metrics"`
}

func main() {
	// client-go's informers log through klog; the answer is the output.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	var req Request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "promcheck: reading the request:", err)
		os.Exit(2)
	}
	resp := Response{}
	if req.Config != "" {
		resp.Jobs, resp.ConfigError = checkConfig(req)
	}
	for _, e := range req.Exprs {
		resp.Exprs = append(resp.Exprs, parseExpr(e))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(resp); err != nil {
		fmt.Fprintln(os.Stderr, "promcheck:", err)
		os.Exit(2)
	}
}

// checkConfig loads the configuration and finds each job's targets.
func checkConfig(req Request) ([]Job, string) {
	cfg, err := config.Load(req.Config, promslog.NewNopLogger())
	if err != nil {
		return nil, err.Error()
	}
	scrapeConfigs, err := cfg.GetScrapeConfigs()
	if err != nil {
		return nil, err.Error()
	}
	var jobs []Job
	for _, sc := range scrapeConfigs {
		job := Job{Name: sc.JobName, Targets: []map[string]string{}}
		for _, d := range sc.ServiceDiscoveryConfigs {
			k, ok := d.(*kubernetes.SDConfig)
			if !ok {
				job.Errors = append(job.Errors, fmt.Sprintf("a %s discovery: not modelled here", d.Name()))
				continue
			}
			namespaces, err := modelled(k, req.OwnNamespace)
			job.Discovery = append(job.Discovery, Discovery{Role: string(k.Role), Namespaces: namespaces})
			if err != nil {
				job.Errors = append(job.Errors, err.Error())
				continue
			}
			groups, err := discoverPods(req.Pods, namespaces)
			if err != nil {
				job.Errors = append(job.Errors, err.Error())
				continue
			}
			lb := labels.NewBuilder(labels.EmptyLabels())
			for _, g := range groups {
				for _, target := range g.Targets {
					res, err := scrape.PopulateLabels(lb, sc, target, g.Labels)
					if err != nil {
						job.Errors = append(job.Errors, fmt.Sprintf("%s, target %s: %v", g.Source, target["__address__"], err))
						continue
					}
					if res.IsEmpty() {
						continue // dropped by relabeling
					}
					job.Targets = append(job.Targets, res.Map())
				}
			}
		}
		jobs = append(jobs, job)
	}
	return jobs, ""
}

// modelled returns the namespaces a kubernetes_sd config lists pods in, or
// why it is not what this command models: the pod role, in the cluster
// Prometheus runs in, without selectors or attached metadata.
func modelled(k *kubernetes.SDConfig, own string) ([]string, error) {
	switch {
	case k.Role != kubernetes.RolePod:
		return nil, fmt.Errorf("kubernetes_sd role %s: only the pod role is modelled here", k.Role)
	case k.APIServer.URL != nil || k.KubeConfig != "":
		return nil, errors.New("kubernetes_sd of another cluster (api_server, kubeconfig_file): only the cluster Prometheus runs in is modelled")
	case len(k.Selectors) > 0:
		return nil, errors.New("kubernetes_sd selectors: not modelled here")
	case k.AttachMetadata != kubernetes.AttachMetadataConfig{}:
		return nil, errors.New("kubernetes_sd attach_metadata: not modelled here")
	}
	namespaces := slices.Clone(k.NamespaceDiscovery.Names)
	if k.NamespaceDiscovery.IncludeOwnNamespace {
		if own == "" {
			return nil, errors.New("own_namespace, and no namespace given for Prometheus")
		}
		namespaces = append(namespaces, own)
	}
	return namespaces, nil
}

// discoverPods runs kubernetes_sd's pod discoverer (kubernetes.NewPod, as
// kubernetes.Discovery runs it for the pod role) once per namespace over
// the given pods of that namespace (every pod when namespaces is empty),
// and returns the target group of each pod.
func discoverPods(pods []corev1.Pod, namespaces []string) ([]*targetgroup.Group, error) {
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var groups []*targetgroup.Group
	for _, ns := range namespaces {
		var listed []corev1.Pod
		for _, p := range pods {
			if ns == metav1.NamespaceAll || p.Namespace == ns {
				listed = append(listed, p)
			}
		}
		got, err := runPodDiscoverer(listed)
		if err != nil {
			return nil, fmt.Errorf("namespace %q: %w", ns, err)
		}
		groups = append(groups, got...)
	}
	return groups, nil
}

func runPodDiscoverer(pods []corev1.Pod) ([]*targetgroup.Group, error) {
	if len(pods) == 0 {
		return nil, nil
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			return &corev1.PodList{Items: pods}, nil
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			return watch.NewFake(), nil
		},
	}
	informer := cache.NewSharedIndexInformer(staticList{lw}, &corev1.Pod{}, 0, cache.Indexers{})
	events := clientprometheus.NewCounterVec(clientprometheus.CounterOpts{Name: "promcheck_kubernetes_events_total"}, []string{"role", "event"})
	d := kubernetes.NewPod(promslog.NewNopLogger(), informer, nil, nil, nil, nil, false, false, false, events)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go informer.Run(ctx.Done())
	ch := make(chan []*targetgroup.Group)
	go d.Run(ctx, ch)
	bySource := map[string]*targetgroup.Group{}
	for len(bySource) < len(pods) {
		select {
		case got := <-ch:
			for _, g := range got {
				bySource[g.Source] = g
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("the pod discoverer gave %d target groups for %d pods", len(bySource), len(pods))
		}
	}
	var groups []*targetgroup.Group
	for _, p := range pods {
		if g, ok := bySource["pod/"+p.Namespace+"/"+p.Name]; ok {
			groups = append(groups, g)
		}
	}
	return groups, nil
}

// staticList is a fixed list of pods, which has no streaming list (the
// reflector lists it the plain way).
type staticList struct{ *cache.ListWatch }

func (staticList) IsWatchListSemanticsUnSupported() bool { return true }

// parseExpr parses one expression and lists what it names.
func parseExpr(input string) Expr {
	out := Expr{Expr: input}
	e, err := parser.NewParser(parser.Options{}).ParseExpr(input)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			out.Selectors = append(out.Selectors, selectorOf(n))
		case *parser.AggregateExpr:
			out.Aggregations = append(out.Aggregations, n.Op.String())
			kind := "by"
			if n.Without {
				kind = "without"
			}
			if len(n.Grouping) > 0 || n.Without {
				out.Groupings = append(out.Groupings, Grouping{Kind: kind, Labels: n.Grouping, Metrics: metricsUnder(n.Expr)})
			}
		case *parser.BinaryExpr:
			if m := n.VectorMatching; m != nil && (len(m.MatchingLabels) > 0 || len(m.Include) > 0) {
				kind := "ignoring"
				if m.On {
					kind = "on"
				}
				metrics := append(metricsUnder(n.LHS), metricsUnder(n.RHS)...)
				if len(m.MatchingLabels) > 0 {
					out.Groupings = append(out.Groupings, Grouping{Kind: kind, Labels: m.MatchingLabels, Metrics: metrics})
				}
				if len(m.Include) > 0 {
					out.Groupings = append(out.Groupings, Grouping{Kind: "include", Labels: m.Include, Metrics: metrics})
				}
			}
		case *parser.Call:
			out.Functions = append(out.Functions, n.Func.Name)
			if n.Func.Name == "histogram_quantile" && len(n.Args) > 0 {
				if q, ok := n.Args[0].(*parser.NumberLiteral); ok {
					out.Quantiles = append(out.Quantiles, q.Val)
				}
			}
		}
		return nil
	})
	return out
}

func selectorOf(vs *parser.VectorSelector) Selector {
	s := Selector{Name: vs.Name}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel {
			if s.Name == "" {
				s.Name = m.Value
			}
			continue
		}
		s.Matchers = append(s.Matchers, Matcher{Label: m.Name, Type: m.Type.String(), Value: m.Value})
	}
	return s
}

// metricsUnder are the metric names of the selectors in node.
func metricsUnder(node parser.Node) []string {
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && !slices.Contains(names, selectorOf(vs).Name) {
			names = append(names, selectorOf(vs).Name)
		}
		return nil
	})
	return names
}
