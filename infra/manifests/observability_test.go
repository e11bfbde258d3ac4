package manifests

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Observability (infra/components/observability): the services' metrics
// port in the base, and, where the component is rendered, an
// OpenTelemetry Collector the services export their traces to, Jaeger
// behind it, and Prometheus scraping the services. What Prometheus scrapes
// is what Prometheus's own code says (infra/promcheck: its configuration
// loader, kubernetes_sd's pod discoverer over the pods the manifests run,
// its relabeling), and the NetworkPolicy model (netpol_test.go) takes
// those scrapes as connections the platform makes.

const (
	collectorImage  = "otel/opentelemetry-collector-contrib:"
	jaegerImage     = "jaegertracing/jaeger:"
	prometheusImage = "prom/prometheus:"
)

// observabilityImages are the pinned third-party images of the component.
var observabilityImages = []string{collectorImage + "0.161.0", jaegerImage + "2.13.0", prometheusImage + "v3.15.1"}

// mountsToken reports whether a pod mounts its service account's token:
// the pod's automountServiceAccountToken, else its ServiceAccount's, else
// Kubernetes's default (yes).
func mountsToken(inv inventory, pod corev1.PodSpec) bool {
	if pod.AutomountServiceAccountToken != nil {
		return *pod.AutomountServiceAccountToken
	}
	name := pod.ServiceAccountName
	if name == "" {
		name = "default"
	}
	if sa, ok := inv.serviceAccounts[name]; ok && sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// flagValue is the value of a --flag=value argument.
func flagValue(args []string, flag string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
	}
	return argAfter(args, flag)
}

// container is one container of a workload's pods.
type container struct {
	w pods
	c corev1.Container
}

func (c container) String() string { return c.w.String() + " container " + c.c.Name }

// containersOf are the containers running an image with the prefix image.
func (inv inventory) containersOf(image string) []container {
	var out []container
	for _, w := range inv.podTemplates() {
		for _, c := range w.template.Spec.Containers {
			if strings.HasPrefix(c.Image, image) {
				out = append(out, container{w, c})
			}
		}
	}
	return out
}

// configOf is the file a container's flag names, read from the ConfigMap
// mounted there (a flag value may carry a scheme, file:path).
func (inv inventory) configOf(c container, flag string) (string, error) {
	p, ok := flagValue(c.c.Args, flag)
	if !ok {
		return "", fmt.Errorf("%s: no %s", c, flag)
	}
	p = strings.TrimPrefix(p, "file:")
	conf, err := inv.fileFromConfigMap(c.w.template.Spec, c.c, p)
	if err != nil {
		return "", fmt.Errorf("%s: %s %s: %w", c, flag, p, err)
	}
	return conf, nil
}

// scrapes is one Prometheus server and what its jobs scrape.
type scrapes struct {
	server pods
	jobs   []promJob
}

func (s scrapes) String() string { return s.server.String() }

// listedPods are the platform's pods as the API server lists them to a
// discovery: one per workload (its replicas are alike), named
// <workload>-0, at the model's address, running.
func listedPods(inv inventory, n network) []corev1.Pod {
	var out []corev1.Pod
	for _, w := range inv.podTemplates() {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: w.name + "-0", Namespace: w.namespace, Labels: w.template.Labels,
			Annotations: w.template.Annotations}, Spec: *w.template.Spec.DeepCopy()}
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = n.byName[w.name].ip.String()
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		out = append(out, p)
	}
	return out
}

// prometheusScrapes asks Prometheus's code what each Prometheus server of
// inv scrapes among the pods of n.
func prometheusScrapes(inv inventory, n network) ([]scrapes, []error) {
	var out []scrapes
	var errs []error
	for _, c := range inv.containersOf(prometheusImage) {
		conf, err := inv.configOf(c, "--config.file")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		resp, err := askPrometheus(promRequest{Config: conf, Pods: listedPods(inv, n), OwnNamespace: c.w.namespace})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if resp.ConfigError != "" {
			errs = append(errs, fmt.Errorf("%s: Prometheus refuses its configuration: %s", c, resp.ConfigError))
			continue
		}
		for _, job := range resp.Jobs {
			for _, e := range job.Errors {
				errs = append(errs, fmt.Errorf("%s, job %s: %s", c, job.Name, e))
			}
		}
		out = append(out, scrapes{c.w, resp.Jobs})
	}
	return out, errs
}

// metricsAddrDefault is METRICS_ADDR's default port, read from the code
// (common/service: where every service serves /metrics).
func metricsAddrDefault(t testing.TB) int32 {
	t.Helper()
	src := readFile(t, filepath.Join(repoRoot(t), "common", "service", "service.go"))
	m := regexp.MustCompile(`r\.String\("METRICS_ADDR", ":(\d+)"\)`).FindStringSubmatch(src)
	if m == nil {
		t.Fatal(`common/service/service.go: no r.String("METRICS_ADDR", ":<port>"): update the test`)
	}
	port, _ := strconv.Atoi(m[1])
	return int32(port)
}

// metricsPort is the port a Go service's container serves /metrics on:
// its METRICS_ADDR's, or the default's.
func metricsPort(c corev1.Container, defaultPort int32) (int32, error) {
	e, ok := envVar(c, "METRICS_ADDR")
	if !ok {
		return defaultPort, nil
	}
	_, p, err := net.SplitHostPort(e.Value)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		return 0, fmt.Errorf("METRICS_ADDR %q has no port", e.Value)
	}
	return int32(port), nil
}

// goServiceDeployments are the Deployments of the Go services (their
// image's), with the container.
func (inv inventory) goServiceDeployments() map[*appsv1.Deployment]corev1.Container {
	out := map[*appsv1.Deployment]corev1.Container{}
	for _, d := range inv.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if slices.Contains(goServices, strings.TrimPrefix(c.Image, "ticketing/")) {
				out[d] = c
			}
		}
	}
	return out
}

// checkMetricsPorts: each Go service's pods declare the port it serves
// /metrics on (METRICS_ADDR, or its default), named metrics, and no
// Service leads to it (nothing but a scraper reaches it).
func checkMetricsPorts(inv inventory, defaultPort int32) []error {
	var errs []error
	for d, c := range inv.goServiceDeployments() {
		want, err := metricsPort(c, defaultPort)
		if err != nil {
			errs = append(errs, fmt.Errorf("Deployment %s: %w", d.Name, err))
			continue
		}
		if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == want }) {
			errs = append(errs, fmt.Errorf("Deployment %s: no container port metrics %d, where %s serves /metrics", d.Name, want, c.Name))
		}
		for _, s := range inv.services {
			if !selects(s.Spec.Selector, d.Spec.Template.Labels) {
				continue
			}
			for _, sp := range s.Spec.Ports {
				target := sp.TargetPort
				if target.Type == intstr.Int && target.IntVal == 0 {
					target = intstr.FromInt32(sp.Port)
				}
				if p, ok := containerPort(d.Spec.Template.Spec, target); ok && p == want {
					errs = append(errs, fmt.Errorf("Service %s leads to the metrics port of %s: scrapers reach the pods, nothing else should", s.Name, d.Name))
				}
			}
		}
	}
	return errs
}

func TestServicesDeclareTheirMetricsPort(t *testing.T) {
	for _, dir := range kustomizationDirs(t) {
		t.Run(dir, func(t *testing.T) {
			for _, err := range checkMetricsPorts(inventoryOf(rendered(t, dir)), metricsAddrDefault(t)) {
				t.Error(err)
			}
		})
	}
}

// withObservability are the kustomizations that render the component
// (a collector runs): infra/overlays/observability and the documented
// production one.
func withObservability(t *testing.T) []string {
	t.Helper()
	var dirs []string
	for _, dir := range kustomizationDirs(t) {
		if len(inventoryOf(rendered(t, dir)).containersOf(collectorImage)) > 0 {
			dirs = append(dirs, dir)
		}
	}
	for _, want := range []string{filepath.Join("infra", "overlays", "observability"), filepath.Join("infra", "overlays", "production-observability")} {
		if !slices.Contains(dirs, want) {
			t.Fatalf("%s renders no collector (or is missing): the observability checks need it (dirs with the component: %v)", want, dirs)
		}
	}
	return dirs
}

// checkPrometheus: what Prometheus scrapes is exactly the services'
// metrics ports, each target labelled with its service; it discovers only
// in namespaces where its service account may list and watch pods (a
// Role, bound to it there), and it may do nothing else; it mounts the
// token the discovery needs.
func checkPrometheus(inv inventory, n network, defaultMetricsPort int32) []error {
	var errs []error
	servers := inv.containersOf(prometheusImage)
	if len(servers) == 0 {
		return nil
	}
	want := map[string]bool{} // "<workload>:<port>" of every service's metrics port
	for d, c := range inv.goServiceDeployments() {
		if port, err := metricsPort(c, defaultMetricsPort); err == nil {
			want[d.Name+":"+strconv.Itoa(int(port))] = true
		}
	}
	for _, s := range n.scrapes {
		pod := s.server.template.Spec
		sa := pod.ServiceAccountName
		got := map[string]bool{}
		for _, job := range s.jobs {
			for _, d := range job.Discovery {
				if !mountsToken(inv, pod) {
					errs = append(errs, fmt.Errorf("%s: job %s discovers through the API server, but the pod mounts no service account token", s, job.Name))
				}
				if len(d.Namespaces) == 0 {
					errs = append(errs, fmt.Errorf("%s: job %s discovers %ss in every namespace: name the platform's (its Role grants one)", s, job.Name, d.Role))
				}
				for _, ns := range d.Namespaces {
					if !granted(inv, ns, s.server.namespace, sa, "pods", "list", "watch") {
						errs = append(errs, fmt.Errorf("%s: job %s discovers pods in %s, where no Role bound to ServiceAccount %s lets it list and watch pods", s, job.Name, ns, sa))
					}
				}
			}
			for _, target := range job.Targets {
				to, port, err := n.targetPod(target["__address__"])
				if err != nil {
					errs = append(errs, err)
					continue
				}
				key := strings.TrimSuffix(to.name, "-0") + ":" + strconv.Itoa(int(port))
				got[key] = true
				if !want[key] {
					errs = append(errs, fmt.Errorf("%s: job %s scrapes %s (%s), which is no service's metrics port", s, job.Name, key, target["__address__"]))
					continue
				}
				if target["service"] != nameOf(to) {
					errs = append(errs, fmt.Errorf("%s: job %s labels %s service=%q, want its app.kubernetes.io/name %q", s, job.Name, key, target["service"], nameOf(to)))
				}
				if target["__scheme__"] != "http" || target["__metrics_path__"] != "/metrics" {
					errs = append(errs, fmt.Errorf("%s: job %s scrapes %s at %s://…%s, want http and /metrics", s, job.Name, key, target["__scheme__"], target["__metrics_path__"]))
				}
			}
		}
		for _, key := range sortedKeys(want) {
			if !got[key] {
				errs = append(errs, fmt.Errorf("%s does not scrape %s, a service's metrics port", s, key))
			}
		}
		errs = append(errs, checkLeastPrivilege(inv, s.server.namespace, sa)...)
	}
	return errs
}

// granted reports whether ServiceAccount sa of namespace saNS may do every
// verb on resource (core group) in namespace ns through a Role there.
func granted(inv inventory, ns, saNS, sa, resource string, verbs ...string) bool {
	for _, b := range inv.roleBindings {
		if b.Namespace != ns || b.RoleRef.Kind != "Role" || !bindsServiceAccount(b.Subjects, saNS, sa) {
			continue
		}
		for _, r := range inv.roles {
			if r.Namespace != ns || r.Name != b.RoleRef.Name {
				continue
			}
			if slices.ContainsFunc(r.Rules, func(rule rbacv1.PolicyRule) bool {
				return slices.Contains(rule.APIGroups, "") && slices.Contains(rule.Resources, resource) &&
					!slices.ContainsFunc(verbs, func(v string) bool { return !slices.Contains(rule.Verbs, v) })
			}) {
				return true
			}
		}
	}
	return false
}

func bindsServiceAccount(subjects []rbacv1.Subject, ns, name string) bool {
	return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
		return s.Kind == rbacv1.ServiceAccountKind && s.Name == name && s.Namespace == ns
	})
}

// checkLeastPrivilege: the service account is bound to no ClusterRole and
// to Roles that let it list and watch pods, nothing more.
func checkLeastPrivilege(inv inventory, ns, sa string) []error {
	var errs []error
	for _, b := range inv.clusterBindings {
		if bindsServiceAccount(b.Subjects, ns, sa) {
			errs = append(errs, fmt.Errorf("ClusterRoleBinding %s gives ServiceAccount %s rights in every namespace", b.Name, sa))
		}
	}
	for _, b := range inv.roleBindings {
		if !bindsServiceAccount(b.Subjects, ns, sa) {
			continue
		}
		if b.RoleRef.Kind != "Role" {
			errs = append(errs, fmt.Errorf("RoleBinding %s binds ServiceAccount %s to %s %s: want a Role of its namespace", b.Name, sa, b.RoleRef.Kind, b.RoleRef.Name))
			continue
		}
		for _, r := range inv.roles {
			if r.Namespace != b.Namespace || r.Name != b.RoleRef.Name {
				continue
			}
			for _, rule := range r.Rules {
				if !slices.Equal(rule.APIGroups, []string{""}) || !slices.Equal(rule.Resources, []string{"pods"}) || len(rule.ResourceNames) > 0 ||
					slices.ContainsFunc(rule.Verbs, func(v string) bool { return v != "list" && v != "watch" }) {
					errs = append(errs, fmt.Errorf("Role %s grants %v %v of %v to ServiceAccount %s: more than listing and watching pods", r.Name, rule.Verbs, rule.Resources, rule.APIGroups, sa))
				}
			}
		}
	}
	return errs
}

// A pod has a service account token only where a Role of its namespace is
// bound to its account (Prometheus's): the others, none (checkPod).
func checkTokens(inv inventory) []error {
	var errs []error
	for _, w := range inv.podTemplates() {
		if !mountsToken(inv, w.template.Spec) {
			continue
		}
		sa := w.template.Spec.ServiceAccountName
		if !slices.ContainsFunc(inv.roleBindings, func(b *rbacv1.RoleBinding) bool { return bindsServiceAccount(b.Subjects, w.namespace, sa) }) {
			errs = append(errs, fmt.Errorf("%s mounts the token of ServiceAccount %s, which no RoleBinding gives a right", w, sa))
		}
	}
	return errs
}

func TestPrometheusScrapesTheServices(t *testing.T) {
	for _, dir := range withObservability(t) {
		t.Run(dir, func(t *testing.T) {
			inv := inventoryOf(rendered(t, dir))
			n, errs := networkOf(rendered(t, dir))
			errs = append(errs, checkPrometheus(inv, n, metricsAddrDefault(t))...)
			errs = append(errs, checkTokens(inv)...)
			if len(n.scrapes) != 1 {
				t.Errorf("%d Prometheus servers, want 1", len(n.scrapes))
			}
			for _, err := range errs {
				t.Error(err)
			}
		})
	}
}

// The rules can fail: each mutation of the rendered observability overlay
// breaks what Prometheus scrapes or may do, and a rule names it.
func TestPrometheusRulesRejectMutations(t *testing.T) {
	const config, key = "prometheus-config", "prometheus.yml"
	tests := []struct {
		name, want string
		mutate     func(t *testing.T, objs []Object) []Object
	}{
		{"a misspelt key", "relabel_config", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, config, key, "relabel_configs:", "relabel_config:")
			return objs
		}},
		{"every container port kept", "scrapes nats:4222", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, config, key, "regex: metrics\n", "regex: metrics|client\n")
			return objs
		}},
		{"no service label", `service=""`, func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, config, key, "target_label: service", "target_label: app")
			return objs
		}},
		{"every namespace", "in every namespace", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, config, key, "        namespaces:\n          names: [ticketing]\n", "")
			return objs
		}},
		{"another namespace", "discovers pods in default", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, config, key, "names: [ticketing]", "names: [ticketing, default]")
			return objs
		}},
		{"tickets' metrics port renamed", "does not scrape tickets-depl:9090", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.Deployment](t, objs, "tickets-depl").Spec.Template.Spec.Containers[0]
			for i := range c.Ports {
				if c.Ports[i].Name == "metrics" {
					c.Ports[i].Name = "prom"
				}
			}
			return objs
		}},
		{"the Role may only get pods", "no Role bound to ServiceAccount prometheus lets it list and watch pods", func(t *testing.T, objs []Object) []Object {
			find[*rbacv1.Role](t, objs, "prometheus").Rules[0].Verbs = []string{"get"}
			return objs
		}},
		{"the Role reads Secrets too", "more than listing and watching pods", func(t *testing.T, objs []Object) []Object {
			r := find[*rbacv1.Role](t, objs, "prometheus")
			r.Rules = append(r.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}})
			return objs
		}},
		{"no token", "mounts no service account token", func(t *testing.T, objs []Object) []Object {
			find[*appsv1.Deployment](t, objs, "prometheus-depl").Spec.Template.Spec.AutomountServiceAccountToken = ptr(false)
			return objs
		}},
		{"a token for the collector", "ServiceAccount otel-collector, which no RoleBinding", func(t *testing.T, objs []Object) []Object {
			find[*appsv1.Deployment](t, objs, "otel-collector-depl").Spec.Template.Spec.AutomountServiceAccountToken = ptr(true)
			return objs
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := tt.mutate(t, copyObjects(rendered(t, filepath.Join("infra", "overlays", "observability"))))
			inv := inventoryOf(objs)
			n, errs := networkOf(objs)
			errs = append(errs, checkPrometheus(inv, n, metricsAddrDefault(t))...)
			errs = append(errs, checkTokens(inv)...)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("no rule reports %q; they report %v", tt.want, errs)
			}
		})
	}
}

// collectorConfig is the part of an OpenTelemetry Collector configuration
// (the collector's and Jaeger v2's) that the wiring rules read.
type collectorConfig struct {
	raw     map[string]any
	service struct {
		Extensions []string `json:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `json:"receivers"`
			Processors []string `json:"processors"`
			Exporters  []string `json:"exporters"`
		} `json:"pipelines"`
		Telemetry struct {
			Metrics struct {
				Level string `json:"level"`
			} `json:"metrics"`
		} `json:"telemetry"`
	}
}

func parseCollectorConfig(text string) (collectorConfig, error) {
	var c collectorConfig
	if err := yaml.Unmarshal([]byte(text), &c.raw); err != nil {
		return c, err
	}
	svc, _ := c.raw["service"].(map[string]any)
	data, err := yaml.Marshal(svc)
	if err != nil {
		return c, err
	}
	return c, yaml.Unmarshal(data, &c.service)
}

// at is the value at a path of keys (nil when absent).
func (c collectorConfig) at(keys ...string) any {
	var v any = c.raw
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// listeners are the host:port endpoints a configuration listens on: every
// "endpoint" of its receivers and extensions that has no scheme.
func (c collectorConfig) listeners() map[string]string {
	out := map[string]string{} // endpoint → where it is
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(v) {
				if s, ok := v[k].(string); ok && k == "endpoint" && !strings.Contains(s, "://") {
					out[s] = path
					continue
				}
				walk(path+"."+k, v[k])
			}
		}
	}
	for _, section := range []string{"receivers", "extensions"} {
		walk(section, c.raw[section])
	}
	return out
}

// expandEnv replaces ${env:NAME} with the container's variable NAME.
func expandEnv(s string, c corev1.Container) (string, error) {
	var err error
	out := regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}`).ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[len("${env:") : len(ref)-1]
		e, ok := envVar(c, name)
		if !ok || e.Value == "" {
			err = fmt.Errorf("%s refers to %s, which the container does not set", s, name)
		}
		return e.Value
	})
	return out, err
}

// checkListeners: a configuration listens on every container port of its
// container, on 0.0.0.0 (kubelet's probes and the pods the policies let in
// come from outside the pod), and on nothing else but the pod's loopback;
// its own metrics are off (they would listen on a port nobody scrapes).
func checkListeners(c container, conf collectorConfig) []error {
	var errs []error
	ports := map[int32]bool{}
	for _, p := range c.c.Ports {
		ports[p.ContainerPort] = false
	}
	for endpoint, where := range conf.listeners() {
		host, portText, err := net.SplitHostPort(endpoint)
		port, perr := strconv.Atoi(portText)
		if err != nil || perr != nil {
			errs = append(errs, fmt.Errorf("%s: %s.endpoint %q is no host:port", c, where, endpoint))
			continue
		}
		_, declared := ports[int32(port)]
		switch {
		case host == "0.0.0.0" && declared:
			ports[int32(port)] = true
		case host == "0.0.0.0":
			errs = append(errs, fmt.Errorf("%s: %s listens on %s, no container port", c, where, endpoint))
		case (host == "127.0.0.1" || host == "localhost") && declared:
			errs = append(errs, fmt.Errorf("%s: %s listens on the loopback at %s, a container port: nothing outside the pod reaches it", c, where, endpoint))
		case host != "127.0.0.1" && host != "localhost":
			errs = append(errs, fmt.Errorf("%s: %s listens on %s: want 0.0.0.0 (a container port) or the loopback", c, where, endpoint))
		}
	}
	for _, p := range c.c.Ports {
		if !ports[p.ContainerPort] {
			errs = append(errs, fmt.Errorf("%s: container port %s %d: nothing in the configuration listens there", c, p.Name, p.ContainerPort))
		}
	}
	if conf.service.Telemetry.Metrics.Level != "none" {
		errs = append(errs, fmt.Errorf("%s: service.telemetry.metrics.level %q: want none (its own metrics would listen where nothing scrapes)", c, conf.service.Telemetry.Metrics.Level))
	}
	return errs
}

// checkProbesOnHealth: the probes ask the health extension's port.
func checkProbesOnHealth(c container, healthPort int) []error {
	var errs []error
	for kind, p := range map[string]*corev1.Probe{"liveness": c.c.LivenessProbe, "readiness": c.c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			errs = append(errs, fmt.Errorf("%s: no HTTP %s probe", c, kind))
			continue
		}
		if port, ok := containerPort(c.w.template.Spec, p.HTTPGet.Port); !ok || int(port) != healthPort {
			errs = append(errs, fmt.Errorf("%s: %s probe on port %s, want the health extension's %d", c, kind, p.HTTPGet.Port.String(), healthPort))
		}
	}
	return errs
}

// portOfEndpoint is the port of a host:port.
func portOfEndpoint(v any) int {
	s, _ := v.(string)
	_, p, _ := net.SplitHostPort(s)
	port, _ := strconv.Atoi(p)
	return port
}

// otlpHTTPPort is the port of the OTLP receiver's HTTP protocol in the
// traces pipeline, or 0.
func (c collectorConfig) otlpHTTPPort() int {
	if !slices.Contains(c.service.Pipelines["traces"].Receivers, "otlp") {
		return 0
	}
	return portOfEndpoint(c.at("receivers", "otlp", "protocols", "http", "endpoint"))
}

// resolveHTTP is the container behind an http:// URL of the platform: its
// Service, the workload the Service selects, the container port.
func resolveHTTP(inv inventory, rawURL string) (pods, int32, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return pods{}, 0, fmt.Errorf("%q: want http://<Service>:<port>", rawURL)
	}
	svc, ok := inv.services[u.Hostname()]
	if !ok {
		return pods{}, 0, fmt.Errorf("%q names no Service", rawURL)
	}
	for _, sp := range svc.Spec.Ports {
		if strconv.Itoa(int(sp.Port)) != u.Port() {
			continue
		}
		for _, w := range inv.workloads() {
			if !selects(svc.Spec.Selector, w.template.Labels) {
				continue
			}
			target := sp.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(sp.Port)
			}
			if p, ok := containerPort(w.template.Spec, target); ok {
				return w, p, nil
			}
		}
	}
	return pods{}, 0, fmt.Errorf("%q: Service %s has no port %s reaching a pod", rawURL, svc.Name, u.Port())
}

// checkObservability: the traces' way, from the five services through the
// collector to Jaeger's storage, each hop at a port something listens on;
// each configuration's listeners are its container's ports; the probes ask
// the health extensions; the images are the pinned ones, Prometheus's the
// release infra/promcheck checks with.
func checkObservability(inv inventory, prometheusRelease string) []error {
	var errs []error
	collectors, jaegers := inv.containersOf(collectorImage), inv.containersOf(jaegerImage)
	if len(collectors) != 1 || len(jaegers) != 1 || len(inv.containersOf(prometheusImage)) != 1 {
		return []error{fmt.Errorf("%d collectors, %d Jaegers, %d Prometheus servers: want one each", len(collectors), len(jaegers), len(inv.containersOf(prometheusImage)))}
	}
	for _, c := range append(append(slices.Clone(collectors), jaegers...), inv.containersOf(prometheusImage)...) {
		if c.c.Image == prometheusImage+prometheusRelease {
			continue
		}
		if !slices.Contains(observabilityImages, c.c.Image) {
			errs = append(errs, fmt.Errorf("%s runs %s: want one of %v (Prometheus %s, the release infra/promcheck checks with)", c, c.c.Image, observabilityImages, prometheusRelease))
		}
	}
	if img := prometheusImage + prometheusRelease; !slices.Contains(observabilityImages, img) {
		errs = append(errs, fmt.Errorf("infra/promcheck checks with Prometheus %s, the component runs %v", prometheusRelease, observabilityImages))
	}

	collector, jaeger := collectors[0], jaegers[0]
	collectorText, err := inv.configOf(collector, "--config")
	if err != nil {
		return append(errs, err)
	}
	jaegerText, err := inv.configOf(jaeger, "--config")
	if err != nil {
		return append(errs, err)
	}
	cc, err := parseCollectorConfig(collectorText)
	if err != nil {
		return append(errs, fmt.Errorf("%s: %w", collector, err))
	}
	jc, err := parseCollectorConfig(jaegerText)
	if err != nil {
		return append(errs, fmt.Errorf("%s: %w", jaeger, err))
	}
	errs = append(errs, checkListeners(collector, cc)...)
	errs = append(errs, checkListeners(jaeger, jc)...)
	errs = append(errs, checkProbesOnHealth(collector, portOfEndpoint(cc.at("extensions", "health_check", "endpoint")))...)
	errs = append(errs, checkProbesOnHealth(jaeger, portOfEndpoint(jc.at("extensions", "healthcheckv2", "http", "endpoint")))...)
	for _, c := range []struct {
		container
		conf collectorConfig
		ext  string
	}{{collector, cc, "health_check"}, {jaeger, jc, "healthcheckv2"}} {
		if !slices.Contains(c.conf.service.Extensions, c.ext) {
			errs = append(errs, fmt.Errorf("%s: the %s extension is not in service.extensions: the probes would find nothing", c.container, c.ext))
		}
	}

	// The services → the collector's OTLP/HTTP receiver.
	for _, svc := range goServices {
		for _, d := range inv.deployments {
			c := d.Spec.Template.Spec.Containers[0]
			if c.Image != "ticketing/"+svc {
				continue
			}
			e, ok := envVar(c, "OTEL_EXPORTER_OTLP_ENDPOINT")
			if !ok {
				errs = append(errs, fmt.Errorf("Deployment %s: no OTEL_EXPORTER_OTLP_ENDPOINT: its traces go nowhere", d.Name))
				continue
			}
			w, port, err := resolveHTTP(inv, e.Value)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("Deployment %s: OTEL_EXPORTER_OTLP_ENDPOINT %w", d.Name, err))
			case w.name != collector.w.name || int(port) != cc.otlpHTTPPort():
				errs = append(errs, fmt.Errorf("Deployment %s: OTEL_EXPORTER_OTLP_ENDPOINT %s reaches %s:%d, not the collector's OTLP/HTTP receiver (%s:%d)", d.Name, e.Value, w.name, port, collector.w.name, cc.otlpHTTPPort()))
			}
		}
	}
	// The collector's traces pipeline → Jaeger's OTLP/HTTP receiver →
	// Jaeger's storage.
	traces := cc.service.Pipelines["traces"]
	if len(traces.Exporters) == 0 {
		errs = append(errs, fmt.Errorf("%s: no traces pipeline exporting anything", collector))
	}
	for _, name := range traces.Exporters {
		endpoint, _ := cc.at("exporters", name, "endpoint").(string)
		if t, _, _ := strings.Cut(name, "/"); t != "otlp_http" {
			errs = append(errs, fmt.Errorf("%s: exporter %s: want otlp_http (OTLP/HTTP, what Jaeger's receiver here takes)", collector, name))
		}
		expanded, err := expandEnv(endpoint, collector.c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: exporter %s: %w", collector, name, err))
			continue
		}
		w, port, err := resolveHTTP(inv, expanded)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: exporter %s: %w", collector, name, err))
		case w.name != jaeger.w.name || int(port) != jc.otlpHTTPPort():
			errs = append(errs, fmt.Errorf("%s: exporter %s sends to %s:%d, not Jaeger's OTLP/HTTP receiver (%s:%d)", collector, name, w.name, port, jaeger.w.name, jc.otlpHTTPPort()))
		}
	}
	for _, p := range traces.Processors {
		if cc.at("processors", p) == nil && !slices.Contains(sortedKeys(asMap(cc.at("processors"))), p) {
			errs = append(errs, fmt.Errorf("%s: processor %s is in the pipeline but not configured", collector, p))
		}
	}
	if !slices.Contains(traces.Processors, "memory_limiter") || (len(traces.Processors) > 0 && traces.Processors[0] != "memory_limiter") {
		errs = append(errs, fmt.Errorf("%s: the traces pipeline's processors %v: want memory_limiter first, so the collector refuses data before its memory limit", collector, traces.Processors))
	}
	if exp := jc.service.Pipelines["traces"].Exporters; !slices.Contains(exp, "jaeger_storage_exporter") {
		errs = append(errs, fmt.Errorf("%s: the traces pipeline exports to %v, not Jaeger's storage", jaeger, exp))
	}
	store, _ := jc.at("exporters", "jaeger_storage_exporter", "trace_storage").(string)
	queried, _ := jc.at("extensions", "jaeger_query", "storage", "traces").(string)
	if store == "" || store != queried || jc.at("extensions", "jaeger_storage", "backends", store, "memory") == nil {
		errs = append(errs, fmt.Errorf("%s: spans stored in %q, queried from %q: want one memory backend of jaeger_storage for both", jaeger, store, queried))
	}
	return errs
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func TestObservabilityWiring(t *testing.T) {
	_, release := promcheckVersion(t)
	for _, dir := range withObservability(t) {
		t.Run(dir, func(t *testing.T) {
			for _, err := range checkObservability(inventoryOf(rendered(t, dir)), release) {
				t.Error(err)
			}
		})
	}
}

func TestObservabilityRulesRejectMutations(t *testing.T) {
	_, release := promcheckVersion(t)
	const collectorConf, jaegerConf = "otel-collector-config", "jaeger-config"
	tests := []struct {
		name, want string
		mutate     func(t *testing.T, objs []Object) []Object
	}{
		{"auth exports nowhere", "auth-depl: no OTEL_EXPORTER_OTLP_ENDPOINT", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.Deployment](t, objs, "auth-depl").Spec.Template.Spec.Containers[0]
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "OTEL_EXPORTER_OTLP_ENDPOINT" })
			return objs
		}},
		{"orders exports to the gRPC port", "names no Service", func(t *testing.T, objs []Object) []Object {
			replaceEnv(t, objs, "orders-depl", "OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector-srv:4318", "otel-collector:4317")
			return objs
		}},
		{"the collector's receiver on its loopback", "on the loopback at 127.0.0.1:4318", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, collectorConf, "collector.yaml", "endpoint: 0.0.0.0:4318", "endpoint: 127.0.0.1:4318")
			return objs
		}},
		{"the collector exports to Jaeger's UI port", "not Jaeger's OTLP/HTTP receiver", func(t *testing.T, objs []Object) []Object {
			setEnv(t, &find[*appsv1.Deployment](t, objs, "otel-collector-depl").Spec.Template.Spec, "otel-collector", "JAEGER_OTLP_ENDPOINT", "http://jaeger-srv:16686")
			return objs
		}},
		{"the exporter's variable unset", "which the container does not set", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.Deployment](t, objs, "otel-collector-depl").Spec.Template.Spec.Containers[0]
			c.Env = nil
			return objs
		}},
		{"no memory limiter", "want memory_limiter first", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, collectorConf, "collector.yaml", "processors: [memory_limiter, batch]", "processors: [batch]")
			return objs
		}},
		{"the collector's own metrics on", "telemetry.metrics.level", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, collectorConf, "collector.yaml", "level: none", "level: basic")
			return objs
		}},
		{"Jaeger's query API on every interface without a port", "listens on 0.0.0.0:16685, no container port", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, jaegerConf, "config.yaml", "endpoint: 127.0.0.1:16685", "endpoint: 0.0.0.0:16685")
			return objs
		}},
		{"Jaeger queries another store", "want one memory backend", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, jaegerConf, "config.yaml", "traces: memstore", "traces: other")
			return objs
		}},
		{"the collector's probes on the receiver", "want the health extension's 13133", func(t *testing.T, objs []Object) []Object {
			find[*appsv1.Deployment](t, objs, "otel-collector-depl").Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Port = intstr.FromString("otlp-http")
			return objs
		}},
		{"Jaeger's health extension not started", "healthcheckv2 extension is not in service.extensions", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, jaegerConf, "config.yaml", "extensions: [jaeger_storage, jaeger_query, healthcheckv2]", "extensions: [jaeger_storage, jaeger_query]")
			return objs
		}},
		{"Prometheus of another release", "the release infra/promcheck checks with", func(t *testing.T, objs []Object) []Object {
			find[*appsv1.Deployment](t, objs, "prometheus-depl").Spec.Template.Spec.Containers[0].Image = prometheusImage + "v3.1.0"
			return objs
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := tt.mutate(t, copyObjects(rendered(t, filepath.Join("infra", "overlays", "observability"))))
			errs := checkObservability(inventoryOf(objs), release)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("no rule reports %q; they report %v", tt.want, errs)
			}
		})
	}
}

// The component's workloads are hardened as the platform's (checkPod),
// Prometheus's service account token aside: it mounts one, and only it.
func TestObservabilityWorkloadsAreHardened(t *testing.T) {
	for _, dir := range withObservability(t) {
		t.Run(dir, func(t *testing.T) {
			objs := rendered(t, dir)
			inv := inventoryOf(objs)
			accounts := serviceAccounts(objs)
			var seen int
			for _, w := range inv.workloads() {
				labels := w.template.Labels
				if labels["app.kubernetes.io/component"] != "observability" {
					continue
				}
				seen++
				t.Run(w.name, func(t *testing.T) {
					tmpl := *w.template.DeepCopy()
					if mountsToken(inv, tmpl.Spec) && granted(inv, w.namespace, w.namespace, tmpl.Spec.ServiceAccountName, "pods", "list", "watch") {
						tmpl.Spec.AutomountServiceAccountToken = ptr(false) // the one token, which checkTokens allows
					}
					checkPod(t, objs[0].Source, tmpl, accounts, nil, true)
				})
			}
			if seen != 3 {
				t.Errorf("%d observability workloads, want 3 (collector, Jaeger, Prometheus)", seen)
			}
			for _, err := range checkTokens(inv) {
				t.Error(err)
			}
		})
	}
}

// Nothing writes to a container's root filesystem (read-only), so what
// the images write goes to an emptyDir: Prometheus's TSDB, Jaeger's /tmp.
func TestObservabilityWritesToEmptyDirs(t *testing.T) {
	inv := inventoryOf(rendered(t, filepath.Join("infra", "overlays", "observability")))
	for image, dir := range map[string]string{prometheusImage: "/prometheus", jaegerImage: "/tmp"} {
		for _, c := range inv.containersOf(image) {
			if !slices.ContainsFunc(c.c.VolumeMounts, func(m corev1.VolumeMount) bool {
				return m.MountPath == dir && slices.ContainsFunc(c.w.template.Spec.Volumes, func(v corev1.Volume) bool {
					return v.Name == m.Name && v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil
				})
			}) {
				t.Errorf("%s: %s is no emptyDir with a size limit", c, dir)
			}
		}
	}
	if c := inv.containersOf(prometheusImage); len(c) == 1 {
		if p, _ := flagValue(c[0].c.Args, "--storage.tsdb.path"); p != "/prometheus" {
			t.Errorf("%s: --storage.tsdb.path %q, want the emptyDir /prometheus", c[0], p)
		}
	}
}

// podMonitorExample is infra/README.md's PodMonitor (kube-prometheus's
// way instead of the component's Prometheus).
func podMonitorExample(t *testing.T) map[string]any {
	t.Helper()
	docs, err := DocumentedYAML(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	var found []map[string]any
	for _, doc := range docs {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err == nil && obj["kind"] == "PodMonitor" {
			found = append(found, obj)
		}
	}
	if len(found) != 1 {
		t.Fatalf("infra/README.md shows %d PodMonitors, want 1", len(found))
	}
	return found[0]
}

// checkPodMonitor: the example selects exactly the five services' pods in
// the platform's namespace, scrapes the port they serve /metrics on (by
// its name) at /metrics, and labels the series service as the
// component's Prometheus does (the dashboard groups by it).
func checkPodMonitor(pm map[string]any, inv inventory, namespace string) []error {
	var errs []error
	type relabeling struct {
		SourceLabels []string `json:"sourceLabels"`
		TargetLabel  string   `json:"targetLabel"`
	}
	var spec struct {
		Metadata struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec struct {
			Selector  metav1.LabelSelector `json:"selector"`
			Endpoints []struct {
				Port        string       `json:"port"`
				Path        string       `json:"path"`
				Relabelings []relabeling `json:"relabelings"`
			} `json:"podMetricsEndpoints"`
		} `json:"spec"`
	}
	data, err := yaml.Marshal(pm)
	if err == nil {
		err = yaml.Unmarshal(data, &spec)
	}
	if err != nil {
		return []error{fmt.Errorf("the PodMonitor: %w", err)}
	}
	if spec.Metadata.Namespace != namespace {
		errs = append(errs, fmt.Errorf("the PodMonitor is in namespace %q, want %s (a PodMonitor selects pods of its own namespace)", spec.Metadata.Namespace, namespace))
	}
	var selected []string
	for _, w := range inv.workloads() {
		if selectorMatches(&spec.Spec.Selector, w.template.Labels) {
			selected = append(selected, nameOf(endpoint{labels: w.template.Labels}))
		}
	}
	if slices.Sort(selected); !slices.Equal(selected, slices.Sorted(slices.Values(goServices))) {
		errs = append(errs, fmt.Errorf("the PodMonitor selects %v, want the five services %v", selected, slices.Sorted(slices.Values(goServices))))
	}
	if len(spec.Spec.Endpoints) != 1 {
		return append(errs, fmt.Errorf("the PodMonitor has %d podMetricsEndpoints, want 1", len(spec.Spec.Endpoints)))
	}
	ep := spec.Spec.Endpoints[0]
	for d, c := range inv.goServiceDeployments() {
		if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == ep.Port && p.Name == "metrics" }) {
			errs = append(errs, fmt.Errorf("the PodMonitor scrapes port %q, which is not %s's metrics port", ep.Port, d.Name))
		}
	}
	if ep.Path != "/metrics" {
		errs = append(errs, fmt.Errorf("the PodMonitor scrapes %q, want /metrics", ep.Path))
	}
	if !slices.ContainsFunc(ep.Relabelings, func(r relabeling) bool {
		return r.TargetLabel == "service" && slices.Equal(r.SourceLabels, []string{"__meta_kubernetes_pod_label_app_kubernetes_io_name"})
	}) {
		errs = append(errs, fmt.Errorf("the PodMonitor does not label the series service from app.kubernetes.io/name, as the dashboard needs"))
	}
	return errs
}

func TestPodMonitorExample(t *testing.T) {
	inv := inventoryOf(rendered(t, "infra/k8s"))
	for _, err := range checkPodMonitor(podMonitorExample(t), inv, platformNamespace(t).Name) {
		t.Error(err)
	}
	// The rule can fail.
	for name, mutate := range map[string]func(pm map[string]any){
		"a port that is not the metrics port": func(pm map[string]any) {
			pm["spec"].(map[string]any)["podMetricsEndpoints"].([]any)[0].(map[string]any)["port"] = "http"
		},
		"the client selected too": func(pm map[string]any) {
			sel := pm["spec"].(map[string]any)["selector"].(map[string]any)["matchExpressions"].([]any)[0].(map[string]any)
			sel["values"] = append(sel["values"].([]any), "client")
		},
		"no service label": func(pm map[string]any) {
			delete(pm["spec"].(map[string]any)["podMetricsEndpoints"].([]any)[0].(map[string]any), "relabelings")
		},
	} {
		pm := podMonitorExample(t)
		mutate(pm)
		if len(checkPodMonitor(pm, inv, platformNamespace(t).Name)) == 0 {
			t.Errorf("%s: no rule reports it", name)
		}
	}
}
