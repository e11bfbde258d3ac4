// Package apiserver checks the rendered manifests against a real
// kube-apiserver: the API server's own defaulting, validation and admission,
// with server-side dry runs, so nothing is stored and no pod runs. The
// namespace is the platform's own (infra/namespace.yaml), so its Pod
// Security admission (restricted) judges every pod. The Gateway API's
// standard CRDs (of sigs.k8s.io/gateway-api, the module the static checks
// decode with) are installed first, as on a cluster, so the edge's Gateway
// and routes meet their schemas and validation rules too.
package apiserver

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/storage/etcd3/testserver"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/klog/v2"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"sigs.k8s.io/yaml"

	"ticketing.dev/infra/manifests"
)

func TestMain(m *testing.M) {
	// The API server logs every request and controller step; keep the test
	// output to what the tests say.
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// cluster is an API server with embedded etcd, started once per test binary.
type cluster struct {
	mapper   meta.RESTMapper
	client   dynamic.Interface
	warnings *warnings
}

// warnings records the warnings the API server answers with (a Pod Security
// warning on a workload whose pod template breaks the namespace's standard,
// a deprecated field, ...).
type warnings struct {
	mu   sync.Mutex
	seen []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

// take returns the warnings since the last call.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := w.seen
	w.seen = nil
	return seen
}

// startCluster starts the API server and creates ns in it, for real: the
// dry runs need the namespace to exist, and its labels are what Pod
// Security admission enforces.
func startCluster(t *testing.T, ns *corev1.Namespace) *cluster {
	t.Helper()
	start := time.Now()
	etcdConfig := testserver.NewTestConfig(t)
	testserver.RunEtcd(t, etcdConfig)
	storage := storagebackend.NewDefaultConfig(path.Join("/", "ticketing", "registry"), nil)
	storage.Transport.ServerList = []string{etcdConfig.ListenClientUrls[0].String()}

	server := kubeapiservertesting.StartTestServerOrDie(t, nil, []string{
		// No controllers run here: nothing would reconcile endpoints or
		// create service-account tokens.
		"--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount",
	}, storage)
	t.Cleanup(server.TearDownFn)
	t.Logf("API server with etcd up in %s", time.Since(start).Round(time.Millisecond))

	config := rest.CopyConfig(server.ClientConfig)
	recorded := &warnings{}
	config.WarningHandlerWithContext = recorded
	core, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := core.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	installGatewayAPI(t, client)
	installCRDs(t, client, []string{podMonitorCRD(t)})
	recorded.take()
	dc, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := waitForMapping(t, dc, schema.GroupKind{Group: "gateway.networking.k8s.io", Kind: "HTTPRoute"},
		schema.GroupKind{Group: "monitoring.coreos.com", Kind: "PodMonitor"})
	return &cluster{mapper: mapper, client: client, warnings: recorded}
}

// prometheusOperator is the prometheus-operator release whose PodMonitor
// CRD checks infra/README.md's PodMonitor example (kube-prometheus's way
// of scraping the services), read from the module cache: `go mod
// download` brings the module from the Go module proxy without it being a
// requirement of this module.
const prometheusOperator = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

// podMonitorCRD is the PodMonitor CRD file of prometheusOperator.
func podMonitorCRD(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", prometheusOperator)
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	out, err := cmd.Output()
	var m struct{ Dir, Error string }
	if err == nil {
		err = json.Unmarshal(out, &m)
	}
	if err != nil || m.Dir == "" {
		t.Fatalf("go mod download %s: %v %s %s", prometheusOperator, err, m.Error, out)
	}
	return filepath.Join(m.Dir, "example", "prometheus-operator-crd", "monitoring.coreos.com_podmonitors.yaml")
}

// gatewayAPIDir is the directory, in the module cache, of the
// sigs.k8s.io/gateway-api module this module builds with (through
// infra/manifests), whose standard channel's CRDs a cluster installs.
func gatewayAPIDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Fatalf("go list -m sigs.k8s.io/gateway-api: %v %s", err, out)
	}
	return dir
}

// installGatewayAPI creates the CustomResourceDefinitions of the Gateway
// API's standard channel, for real (a dry run would leave the kinds
// unknown), and waits until each is established.
func installGatewayAPI(t *testing.T, client dynamic.Interface) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(gatewayAPIDir(t), "config", "crd", "standard", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Gateway API CRDs found: %v", err)
	}
	installCRDs(t, client, files)
}

// installCRDs creates the CustomResourceDefinitions of files, for real,
// and waits until each is established.
func installCRDs(t *testing.T, client dynamic.Interface, files []string) {
	t.Helper()
	crds := client.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	ctx := context.Background()
	var names []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := manifests.Split(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range docs {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
				t.Fatal(err)
			}
			if obj.GetKind() != "CustomResourceDefinition" {
				continue // the channel's upgrade policy guards CRD updates, none here
			}
			if _, err := crds.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
				t.Fatalf("%s: %v", filepath.Base(file), err)
			}
			names = append(names, obj.GetName())
		}
	}
	for _, name := range names {
		established := func() bool {
			crd, err := crds.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false
			}
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			return slices.ContainsFunc(conditions, func(c any) bool {
				m, _ := c.(map[string]any)
				return m["type"] == "Established" && m["status"] == "True"
			})
		}
		waitFor(t, "CRD "+name+" established", established)
	}
	t.Logf("CRDs installed: %v", names)
}

// waitForMapping is a REST mapper of the API server's discovery, once it
// knows every kind of gks (discovery lags the CRDs that were just
// established).
func waitForMapping(t *testing.T, dc discovery.DiscoveryInterface, gks ...schema.GroupKind) meta.RESTMapper {
	t.Helper()
	var mapper meta.RESTMapper
	waitFor(t, fmt.Sprintf("discovery of %v", gks), func() bool {
		groups, err := restmapper.GetAPIGroupResources(dc)
		if err != nil {
			return false
		}
		mapper = restmapper.NewDiscoveryRESTMapper(groups)
		for _, gk := range gks {
			if _, err := mapper.RESTMapping(gk); err != nil {
				return false
			}
		}
		return true
	})
	return mapper
}

// waitFor polls cond every 50 ms for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dryRunCreate creates obj with dryRun=All and strict field validation: the
// API server defaults, validates and admits it, and stores nothing. A
// namespaced object goes to its own namespace, which must be given.
// wantRejected dry-runs a copy of original changed by mutate and wants the
// API server to refuse it with an error that says want.
func (c *cluster) wantRejected(t *testing.T, original *unstructured.Unstructured, mutate func(map[string]any), want string) {
	t.Helper()
	obj := original.DeepCopy()
	mutate(obj.Object)
	err := c.dryRunCreate(context.Background(), obj)
	if err == nil {
		t.Fatal("accepted")
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error does not contain %q: %v", want, err)
	}
}

func (c *cluster) dryRunCreate(ctx context.Context, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	resource := c.client.Resource(mapping.Resource)
	opts := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			return fmt.Errorf("%s %s names no namespace", obj.GetKind(), obj.GetName())
		}
		_, err = resource.Namespace(obj.GetNamespace()).Create(ctx, obj, opts)
	} else {
		_, err = resource.Create(ctx, obj, opts)
	}
	return err
}

// podOf is the pod a workload's controller would create from its template
// (a StatefulSet's also gets a volume per claim template), or nil for an
// object without a pod template. Pod Security admission enforces its
// standard on pods only; a workload it merely warns about.
func podOf(obj *unstructured.Unstructured) *unstructured.Unstructured {
	template, ok, _ := unstructured.NestedMap(obj.Object, "spec", "template")
	if !ok || !slices.Contains([]string{"Deployment", "StatefulSet", "Job"}, obj.GetKind()) {
		return nil
	}
	pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "spec": template["spec"]}}
	if m, ok := template["metadata"].(map[string]any); ok {
		pod.Object["metadata"] = m
	}
	pod.SetName(obj.GetName() + "-0")
	pod.SetNamespace(obj.GetNamespace())
	claims, _, _ := unstructured.NestedSlice(obj.Object, "spec", "volumeClaimTemplates")
	volumes, _, _ := unstructured.NestedSlice(pod.Object, "spec", "volumes")
	for _, claim := range claims {
		name, _, _ := unstructured.NestedString(claim.(map[string]any), "metadata", "name")
		volumes = append(volumes, map[string]any{"name": name, "persistentVolumeClaim": map[string]any{"claimName": name + "-" + pod.GetName()}})
	}
	if len(claims) > 0 {
		_ = unstructured.SetNestedSlice(pod.Object, volumes, "spec", "volumes")
	}
	return pod
}

// platformNamespace is infra/namespace.yaml's Namespace.
func platformNamespace(t *testing.T, root string) *corev1.Namespace {
	t.Helper()
	objs, err := manifests.LoadFile(filepath.Join(root, "infra", "namespace.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ns, ok := objs[0].Obj.(*corev1.Namespace)
	if len(objs) != 1 || !ok {
		t.Fatal("infra/namespace.yaml must hold one Namespace")
	}
	return ns
}

func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	out, err := manifests.Render(dir)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

// load is a manifest file's objects, as they are written.
func load(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, data)
}

func decode(t *testing.T, out []byte) []*unstructured.Unstructured {
	t.Helper()
	docs, err := manifests.Split(out)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, doc := range docs {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, obj)
	}
	return objs
}

func TestDryRun(t *testing.T) {
	root, err := manifests.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	ns := platformNamespace(t, root)
	c := startCluster(t, ns)
	dirs := []string{filepath.Join(root, "infra", "k8s")}
	overlays, _ := filepath.Glob(filepath.Join(root, "infra", "overlays", "*"))
	dirs = append(dirs, overlays...)
	dirs = append(dirs, filepath.Join(root, "infra", "loadtest"))
	// The production overlay holds what the others lack (budgets,
	// autoscalers, required spread, replica sets of three): it must be here.
	production := filepath.Join(root, "infra", "overlays", "production")
	if !slices.Contains(dirs, production) {
		t.Fatalf("no overlay %s", production)
	}

	// The GatewayClass, applied once per cluster beside the namespace.
	t.Run("the GatewayClass is accepted", func(t *testing.T) {
		for _, obj := range load(t, filepath.Join(root, "infra", "gatewayclass.yaml")) {
			if err := c.dryRunCreate(context.Background(), obj); err != nil {
				t.Errorf("GatewayClass %s: %v", obj.GetName(), err)
			}
			if w := c.warnings.take(); len(w) > 0 {
				t.Errorf("GatewayClass %s: warnings %q", obj.GetName(), w)
			}
		}
	})

	// Every object is accepted without a warning (Pod Security warns about a
	// workload whose template breaks the standard), and the pod each
	// workload would create is admitted under the namespace's enforcement.
	// infra/README.md's overlays for the reader to write (production with
	// observability), rendered as if they were where it says.
	documented, err := manifests.DocumentedOverlays(root)
	if err != nil {
		t.Fatal(err)
	}
	rendered := map[string][]*unstructured.Unstructured{}
	for _, dir := range dirs {
		rel, _ := filepath.Rel(root, dir)
		rendered[rel] = render(t, dir)
	}
	for _, o := range documented {
		out, err := manifests.RenderDocumented(root, o)
		if err != nil {
			t.Fatal(err)
		}
		rendered[o.Dir] = decode(t, out)
	}
	if _, ok := rendered[filepath.Join("infra", "overlays", "production-observability")]; !ok {
		t.Fatal("infra/README.md shows no infra/overlays/production-observability/kustomization.yaml")
	}
	t.Run("rendered manifests are accepted", func(t *testing.T) {
		for _, rel := range slices.Sorted(maps.Keys(rendered)) {
			for _, obj := range rendered[rel] {
				name := rel + "/" + obj.GetKind() + "/" + obj.GetName()
				if err := c.dryRunCreate(context.Background(), obj); err != nil {
					t.Errorf("%s: %v", name, err)
				}
				if w := c.warnings.take(); len(w) > 0 {
					t.Errorf("%s: warnings %q", name, w)
				}
				if pod := podOf(obj); pod != nil {
					if err := c.dryRunCreate(context.Background(), pod); err != nil {
						t.Errorf("%s: its pod: %v", name, err)
					}
					c.warnings.take()
				}
			}
		}
	})

	// The namespace's enforcement can fail: pods from real templates, each
	// made to break the restricted standard in one way, are refused, and a
	// Deployment of such a template is admitted with a warning (its pods
	// would be refused one by one).
	t.Run("the namespace refuses pods that are not restricted", func(t *testing.T) {
		templates := map[string]*unstructured.Unstructured{}
		for _, obj := range render(t, dirs[0]) {
			templates[obj.GetKind()+"/"+obj.GetName()] = obj
		}
		violates := `violates PodSecurity "restricted:` + ns.Labels["pod-security.kubernetes.io/enforce-version"] + `"`
		container := func(template map[string]any, field string, mutate func(c map[string]any)) {
			containers, _, _ := unstructured.NestedSlice(template, "spec", field)
			mutate(containers[0].(map[string]any))
			_ = unstructured.SetNestedSlice(template, containers, "spec", field)
		}
		tests := []struct {
			name, workload string
			mutate         func(template map[string]any) // the pod template: metadata and spec
		}{
			{"privilege escalation allowed", "Deployment/auth-depl", func(template map[string]any) {
				container(template, "containers", func(c map[string]any) {
					_ = unstructured.SetNestedField(c, true, "securityContext", "allowPrivilegeEscalation")
				})
			}},
			{"root", "Deployment/tickets-depl", func(template map[string]any) {
				_ = unstructured.SetNestedField(template, false, "spec", "securityContext", "runAsNonRoot")
				_ = unstructured.SetNestedField(template, int64(0), "spec", "securityContext", "runAsUser")
			}},
			{"a capability added", "Deployment/orders-depl", func(template map[string]any) {
				container(template, "containers", func(c map[string]any) {
					_ = unstructured.SetNestedStringSlice(c, []string{"NET_RAW"}, "securityContext", "capabilities", "add")
				})
			}},
			{"no seccomp profile", "Deployment/payments-depl", func(template map[string]any) {
				unstructured.RemoveNestedField(template, "spec", "securityContext", "seccompProfile")
			}},
			{"a host path", "StatefulSet/nats", func(template map[string]any) {
				volumes, _, _ := unstructured.NestedSlice(template, "spec", "volumes")
				volumes = append(volumes, map[string]any{"name": "host", "hostPath": map[string]any{"path": "/"}})
				_ = unstructured.SetNestedSlice(template, volumes, "spec", "volumes")
			}},
			{"an init container that may escalate", "StatefulSet/auth-mongo", func(template map[string]any) {
				container(template, "initContainers", func(c map[string]any) {
					unstructured.RemoveNestedField(c, "securityContext", "allowPrivilegeEscalation")
				})
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				workload, ok := templates[tt.workload]
				if !ok {
					t.Fatalf("the base renders no %s", tt.workload)
				}
				obj := workload.DeepCopy()
				template, _, _ := unstructured.NestedMap(obj.Object, "spec", "template")
				tt.mutate(template)
				_ = unstructured.SetNestedMap(obj.Object, template, "spec", "template")
				err := c.dryRunCreate(context.Background(), podOf(obj))
				if err == nil {
					t.Fatal("the pod was admitted")
				}
				if !strings.Contains(err.Error(), violates) {
					t.Errorf("error does not contain %q: %v", violates, err)
				}
				c.warnings.take()
				// The workload itself: admitted, with a warning.
				if err := c.dryRunCreate(context.Background(), obj); err != nil {
					t.Fatalf("the %s was refused: %v", tt.workload, err)
				}
				if w := c.warnings.take(); !slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, "would violate PodSecurity") }) {
					t.Errorf("no Pod Security warning for the %s: %q", tt.workload, w)
				}
			})
		}
	})

	// The check can fail: mutations that decode fine (so the static tests
	// let them through) but that the API server must reject.
	t.Run("invalid objects are rejected", func(t *testing.T) {
		var auth *unstructured.Unstructured
		for _, obj := range render(t, dirs[0]) {
			if obj.GetKind() == "Deployment" && obj.GetName() == "auth-depl" {
				auth = obj
			}
		}
		if auth == nil {
			t.Fatal("no Deployment auth-depl rendered")
		}
		tests := []struct {
			name, wantInError string
			mutate            func(obj map[string]any)
		}{
			{"no containers", "Required value", func(obj map[string]any) {
				unstructured.RemoveNestedField(obj, "spec", "template", "spec", "containers")
			}},
			{"selector does not match the pod labels", "does not match template", func(obj map[string]any) {
				_ = unstructured.SetNestedStringMap(obj, map[string]string{"app.kubernetes.io/name": "other"}, "spec", "selector", "matchLabels")
			}},
			{"empty selector", "empty selector is invalid", func(obj map[string]any) {
				_ = unstructured.SetNestedMap(obj, map[string]any{}, "spec", "selector")
			}},
			{"negative replicas", "must be greater than or equal to 0", func(obj map[string]any) {
				_ = unstructured.SetNestedField(obj, int64(-1), "spec", "replicas")
			}},
			{"invalid label value", "Invalid value", func(obj map[string]any) {
				_ = unstructured.SetNestedField(obj, "not a valid label!", "metadata", "labels", "app.kubernetes.io/component")
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c.wantRejected(t, auth, tt.mutate, tt.wantInError)
			})
		}
	})

	// The same for the edge: the Gateway API's schemas and validation rules
	// (CEL, in the CRDs) refuse these.
	t.Run("invalid edge objects are rejected", func(t *testing.T) {
		objs := map[string]*unstructured.Unstructured{}
		for _, obj := range render(t, dirs[0]) {
			objs[obj.GetKind()+"/"+obj.GetName()] = obj
		}
		listener := func(obj map[string]any, i int, mutate func(l map[string]any)) {
			listeners, _, _ := unstructured.NestedSlice(obj, "spec", "listeners")
			mutate(listeners[i].(map[string]any))
			_ = unstructured.SetNestedSlice(obj, listeners, "spec", "listeners")
		}
		rule := func(obj map[string]any, i int, mutate func(r map[string]any)) {
			rules, _, _ := unstructured.NestedSlice(obj, "spec", "rules")
			mutate(rules[i].(map[string]any))
			_ = unstructured.SetNestedSlice(obj, rules, "spec", "rules")
		}
		tests := []struct {
			name, object, wantInError string
			mutate                    func(obj map[string]any)
		}{
			{"HTTPS without a certificate", "Gateway/ticketing", "certificateRefs or options must be specified", func(obj map[string]any) {
				listener(obj, 0, func(l map[string]any) { _ = unstructured.SetNestedField(l, map[string]any{"mode": "Terminate"}, "tls") })
			}},
			{"HTTPS passed through", "Gateway/ticketing", "tls mode must be Terminate for protocol HTTPS", func(obj map[string]any) {
				listener(obj, 0, func(l map[string]any) { _ = unstructured.SetNestedField(l, "Passthrough", "tls", "mode") })
			}},
			{"TLS on plain HTTP", "Gateway/ticketing", "tls must not be specified", func(obj map[string]any) {
				listener(obj, 1, func(l map[string]any) {
					_ = unstructured.SetNestedField(l, map[string]any{"mode": "Terminate", "certificateRefs": []any{map[string]any{"name": "ticketing-tls"}}}, "tls")
				})
			}},
			{"two listeners of one name", "Gateway/ticketing", "unique", func(obj map[string]any) {
				listener(obj, 1, func(l map[string]any) { l["name"] = "https" })
			}},
			{"an invalid host name", "Gateway/ticketing", "hostname", func(obj map[string]any) {
				listener(obj, 0, func(l map[string]any) { l["hostname"] = "ticketing.dev:443" })
			}},
			{"a relative path", "HTTPRoute/ticketing", "path", func(obj map[string]any) {
				rule(obj, 0, func(r map[string]any) {
					_ = unstructured.SetNestedSlice(r, []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "api/users"}}}, "matches")
				})
			}},
			{"a redirect that also reaches a Service", "HTTPRoute/https-redirect", "RequestRedirect", func(obj map[string]any) {
				rule(obj, 0, func(r map[string]any) {
					r["backendRefs"] = []any{map[string]any{"name": "client-srv", "port": int64(3000)}}
				})
			}},
			{"a redirect status that is no redirect", "HTTPRoute/https-redirect", "statusCode", func(obj map[string]any) {
				rule(obj, 0, func(r map[string]any) {
					filters, _, _ := unstructured.NestedSlice(r, "filters")
					_ = unstructured.SetNestedField(filters[0].(map[string]any), int64(200), "requestRedirect", "statusCode")
					r["filters"] = filters
				})
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				original, ok := objs[tt.object]
				if !ok {
					t.Fatalf("the base renders no %s", tt.object)
				}
				c.wantRejected(t, original, tt.mutate, tt.wantInError)
			})
		}
	})

	// The same for what only the production overlay renders.
	t.Run("invalid production objects are rejected", func(t *testing.T) {
		objs := map[string]*unstructured.Unstructured{}
		for _, obj := range render(t, production) {
			objs[obj.GetKind()+"/"+obj.GetName()] = obj
		}
		tests := []struct {
			name, object, wantInError string
			mutate                    func(obj map[string]any)
		}{
			{"a budget with both bounds", "PodDisruptionBudget/auth", "minAvailable and maxUnavailable cannot be both set", func(obj map[string]any) {
				_ = unstructured.SetNestedField(obj, int64(1), "spec", "minAvailable")
			}},
			{"an autoscaler without a ceiling", "HorizontalPodAutoscaler/orders", "maxReplicas", func(obj map[string]any) {
				unstructured.RemoveNestedField(obj, "spec", "maxReplicas")
			}},
			// (A matchLabelKeys key also in the labelSelector passes here in a
			// pod template and fails only as pods are created; the static
			// rules refuse it.)
			{"a spread on an invalid label key", "Deployment/payments-depl", "matchLabelKeys", func(obj map[string]any) {
				spread, _, _ := unstructured.NestedSlice(obj, "spec", "template", "spec", "topologySpreadConstraints")
				first := spread[0].(map[string]any)
				first["matchLabelKeys"] = []any{"app.kubernetes.io/name!"}
				_ = unstructured.SetNestedSlice(obj, spread, "spec", "template", "spec", "topologySpreadConstraints")
			}},
			{"a spread of no topology", "StatefulSet/auth-mongo", "topologyKey", func(obj map[string]any) {
				spread, _, _ := unstructured.NestedSlice(obj, "spec", "template", "spec", "topologySpreadConstraints")
				delete(spread[0].(map[string]any), "topologyKey")
				_ = unstructured.SetNestedSlice(obj, spread, "spec", "template", "spec", "topologySpreadConstraints")
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				original, ok := objs[tt.object]
				if !ok {
					t.Fatalf("the production overlay renders no %s", tt.object)
				}
				c.wantRejected(t, original, tt.mutate, tt.wantInError)
			})
		}
	})

	// infra/README.md's PodMonitor (kube-prometheus's way of scraping the
	// services) meets the CRD's schema; a misspelt field and a wrong type
	// are refused.
	t.Run("the README's PodMonitor is accepted", func(t *testing.T) {
		docs, err := manifests.DocumentedYAML(root)
		if err != nil {
			t.Fatal(err)
		}
		var pm *unstructured.Unstructured
		for _, doc := range docs {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &obj.Object); err == nil && obj.GetKind() == "PodMonitor" {
				pm = obj
			}
		}
		if pm == nil {
			t.Fatal("infra/README.md shows no PodMonitor")
		}
		if err := c.dryRunCreate(context.Background(), pm); err != nil {
			t.Errorf("PodMonitor %s: %v", pm.GetName(), err)
		}
		if w := c.warnings.take(); len(w) > 0 {
			t.Errorf("PodMonitor %s: warnings %q", pm.GetName(), w)
		}
		for name, tt := range map[string]struct {
			want   string
			mutate func(obj map[string]any)
		}{
			"a misspelt field": {"podMetricEndpoints", func(obj map[string]any) {
				spec := obj["spec"].(map[string]any)
				spec["podMetricEndpoints"] = spec["podMetricsEndpoints"]
				delete(spec, "podMetricsEndpoints")
			}},
			"a port number for a port name": {"port", func(obj map[string]any) {
				endpoints, _, _ := unstructured.NestedSlice(obj, "spec", "podMetricsEndpoints")
				endpoints[0].(map[string]any)["port"] = int64(9090)
				_ = unstructured.SetNestedSlice(obj, endpoints, "spec", "podMetricsEndpoints")
			}},
		} {
			t.Run(name, func(t *testing.T) {
				c.wantRejected(t, pm, tt.mutate, tt.want)
			})
		}
	})

	// The observability component's own kinds: RBAC and the named ports of
	// its policies.
	t.Run("invalid observability objects are rejected", func(t *testing.T) {
		objs := map[string]*unstructured.Unstructured{}
		for _, obj := range rendered[filepath.Join("infra", "overlays", "observability")] {
			objs[obj.GetKind()+"/"+obj.GetName()] = obj
		}
		tests := []struct {
			name, object, wantInError string
			mutate                    func(obj map[string]any)
		}{
			{"a Role rule without verbs", "Role/prometheus", "verbs", func(obj map[string]any) {
				rules, _, _ := unstructured.NestedSlice(obj, "rules")
				delete(rules[0].(map[string]any), "verbs")
				_ = unstructured.SetNestedSlice(obj, rules, "rules")
			}},
			{"a RoleBinding to no Role", "RoleBinding/prometheus", "roleRef.name", func(obj map[string]any) {
				_ = unstructured.SetNestedField(obj, "", "roleRef", "name")
			}},
			{"a policy's port name that is no port name", "NetworkPolicy/services-telemetry", "port", func(obj map[string]any) {
				ingress, _, _ := unstructured.NestedSlice(obj, "spec", "ingress")
				_ = unstructured.SetNestedSlice(ingress[0].(map[string]any), []any{map[string]any{"port": "metrics port", "protocol": "TCP"}}, "ports")
				_ = unstructured.SetNestedSlice(obj, ingress, "spec", "ingress")
			}},
			{"an emptyDir of a negative size", "Deployment/prometheus-depl", "sizeLimit", func(obj map[string]any) {
				volumes, _, _ := unstructured.NestedSlice(obj, "spec", "template", "spec", "volumes")
				for _, v := range volumes {
					if e, ok := v.(map[string]any)["emptyDir"].(map[string]any); ok {
						e["sizeLimit"] = "-1Gi"
					}
				}
				_ = unstructured.SetNestedSlice(obj, volumes, "spec", "template", "spec", "volumes")
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				original, ok := objs[tt.object]
				if !ok {
					t.Fatalf("the observability overlay renders no %s", tt.object)
				}
				c.wantRejected(t, original, tt.mutate, tt.wantInError)
			})
		}
	})
}
