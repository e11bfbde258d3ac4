package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The file names of the original layout, each the home of one workload,
// the MongoDB members' script they share, the namespace's default-deny
// NetworkPolicy, and the edge: the Gateway (gateway.yaml) and its routing
// table (routes.yaml, which the local gateway of `make up` reads too).
var manifestFiles = []string{
	"default-deny.yaml",
	"auth-depl.yaml", "auth-mongo-depl.yaml",
	"tickets-depl.yaml", "tickets-mongo-depl.yaml",
	"orders-depl.yaml", "orders-mongo-depl.yaml",
	"payments-depl.yaml", "payments-mongo-depl.yaml", "mongo-replset.yaml",
	"expiration-depl.yaml", "expiration-redis-depl.yaml",
	"nats-depl.yaml", "client-depl.yaml", "gateway.yaml", "routes.yaml",
}

// The Go services: their directory, Service name and image.
var goServices = []string{"auth", "tickets", "orders", "expiration", "payments"}

// The Go images built from the repository root: the services and the load
// generator (loadtest/, run by the Job in infra/loadtest).
var goImages = append(slices.Clone(goServices), "loadtest")

// What every service serves besides its API (contract §1, Health).
var servedProbePaths = map[string]bool{"/healthz": true, "/readyz": true}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func k8sDir(t testing.TB) string { return filepath.Join(repoRoot(t), "infra", "k8s") }

var (
	baseOnce sync.Once
	baseObjs []Object
	baseErr  error
)

// baseObjects decodes every file of infra/k8s listed in manifestFiles.
func baseObjects(t testing.TB) []Object {
	t.Helper()
	baseOnce.Do(func() {
		dir := k8sDir(t)
		for _, name := range manifestFiles {
			objs, err := LoadFile(filepath.Join(dir, name))
			if err != nil {
				baseErr = fmt.Errorf("%s: %w", name, err)
				return
			}
			baseObjs = append(baseObjs, objs...)
		}
	})
	if baseErr != nil {
		t.Fatal(baseErr)
	}
	return baseObjs
}

// workload is a Deployment or a StatefulSet, seen through what both share.
type workload struct {
	Kind, Name, Source string
	Labels             map[string]string
	Selector           map[string]string
	Template           corev1.PodTemplateSpec
	ClaimTemplates     []corev1.PersistentVolumeClaim
}

func workloads(objs []Object) []workload {
	var out []workload
	for _, o := range objs {
		switch w := o.Obj.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{"Deployment", w.Name, o.Source, w.Labels, w.Spec.Selector.MatchLabels, w.Spec.Template, nil})
		case *appsv1.StatefulSet:
			out = append(out, workload{"StatefulSet", w.Name, o.Source, w.Labels, w.Spec.Selector.MatchLabels, w.Spec.Template, w.Spec.VolumeClaimTemplates})
		}
	}
	return out
}

func services(objs []Object) map[string]*corev1.Service {
	out := map[string]*corev1.Service{}
	for _, o := range objs {
		if s, ok := o.Obj.(*corev1.Service); ok {
			out[s.Name] = s
		}
	}
	return out
}

func httpRoutes(objs []Object) []*gatewayv1.HTTPRoute { return inventoryOf(objs).httpRoutes }

// selects reports whether selector (non-empty) matches labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// containerPort resolves a Service targetPort or a probe port (a number or a
// port name) against a pod's containers.
func containerPort(pod corev1.PodSpec, port intstr.IntOrString) (int32, bool) {
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if port.Type == intstr.String && p.Name == port.StrVal {
				return p.ContainerPort, true
			}
			if port.Type == intstr.Int && p.ContainerPort == port.IntVal {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

// serviceFor returns the workload a Service selects; there must be exactly one.
func serviceFor(t *testing.T, svc *corev1.Service, ws []workload) workload {
	t.Helper()
	var found []workload
	for _, w := range ws {
		if selects(svc.Spec.Selector, w.Template.Labels) {
			found = append(found, w)
		}
	}
	if len(found) != 1 {
		t.Fatalf("Service %s (selector %v) selects %d workloads, want exactly 1", svc.Name, svc.Spec.Selector, len(found))
	}
	return found[0]
}

func envNames(c corev1.Container) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		out[e.Name] = e
	}
	return out
}

func deploymentByImage(t *testing.T, objs []Object, image string) *appsv1.Deployment {
	t.Helper()
	for _, o := range objs {
		if d, ok := o.Obj.(*appsv1.Deployment); ok {
			for _, c := range d.Spec.Template.Spec.Containers {
				if c.Image == image {
					return d
				}
			}
		}
	}
	t.Fatalf("no Deployment runs image %s", image)
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func hasMain(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "main.go"))
	return err == nil && strings.Contains(string(data), "package main")
}

// kustomizationDirs are the base and every overlay, relative to the
// repository root: what a deployment may render.
func kustomizationDirs(t testing.TB) []string {
	t.Helper()
	dirs := []string{filepath.Join("infra", "k8s")}
	overlays, err := os.ReadDir(filepath.Join(repoRoot(t), "infra", "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range overlays {
		if o.IsDir() {
			dirs = append(dirs, filepath.Join("infra", "overlays", o.Name()))
		}
	}
	return append(dirs, sortedKeys(documentedOverlays(t))...)
}

var (
	documentedOnce sync.Once
	documented     map[string]DocumentedOverlay
	documentedErr  error
)

// documentedOverlays are the overlays infra/README.md shows for the reader
// to write (production with observability), by the directory it names:
// every test over kustomizationDirs checks them as if they were there.
func documentedOverlays(t testing.TB) map[string]DocumentedOverlay {
	t.Helper()
	documentedOnce.Do(func() {
		var all []DocumentedOverlay
		all, documentedErr = DocumentedOverlays(repoRoot(t))
		documented = map[string]DocumentedOverlay{}
		for _, o := range all {
			documented[o.Dir] = o
		}
	})
	if documentedErr != nil {
		t.Fatal(documentedErr)
	}
	return documented
}

// renderDir is `kustomize build` of dir (relative to the repository root; a
// documented overlay rendered in memory), decoded strictly.
func renderDir(t testing.TB, dir string) ([]Object, error) {
	t.Helper()
	o, ok := documentedOverlays(t)[dir]
	if !ok {
		return RenderAndDecode(filepath.Join(repoRoot(t), dir))
	}
	out, err := RenderDocumented(repoRoot(t), o)
	if err != nil {
		return nil, err
	}
	return DecodeAll("kustomize build "+filepath.Join(repoRoot(t), dir), out)
}

// loadtestDirName is infra/loadtest relative to the repository root: the
// load test's Job, deployed beside the base or an overlay.
var loadtestDirName = filepath.Join("infra", "loadtest")

var renderCache sync.Map // dir relative to the root → renderResult

type renderResult struct {
	objs []Object
	err  error
}

// rendered is `kustomize build` of dir (relative to the repository root),
// decoded strictly; rendered once per test binary. Callers that change the
// objects work on copyObjects of them.
func rendered(t testing.TB, dir string) []Object {
	t.Helper()
	r, ok := renderCache.Load(dir)
	if !ok {
		objs, err := renderDir(t, dir)
		r, _ = renderCache.LoadOrStore(dir, renderResult{objs, err})
	}
	res := r.(renderResult)
	if res.err != nil {
		t.Fatal(res.err)
	}
	return res.objs
}

// copyObjects deep-copies objs, for a test that mutates them.
func copyObjects(objs []Object) []Object {
	out := make([]Object, len(objs))
	for i, o := range objs {
		out[i] = Object{Source: o.Source, Index: o.Index, Obj: o.Obj.DeepCopyObject()}
	}
	return out
}
