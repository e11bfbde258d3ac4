package manifests

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
)

// The platform's namespace, infra/namespace.yaml: the restricted Pod
// Security Standard enforced at a pinned version, every object of the base,
// the overlays and infra/loadtest rendered into it, and the Namespace itself
// left out of every kustomization (skaffold deletes what it deployed, and
// the namespace holds the Secrets and the stores' volumes). The kube-apiserver
// dry run (infra/apiserver) creates this Namespace and checks that its
// admission refuses a non-compliant pod and admits every rendered one.

const podSecurity = "pod-security.kubernetes.io/"

// platformNamespace is the one Namespace of infra/namespace.yaml.
func platformNamespace(t testing.TB) *corev1.Namespace {
	t.Helper()
	objs, err := LoadFile(filepath.Join(repoRoot(t), "infra", "namespace.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("infra/namespace.yaml holds %d documents, want one Namespace", len(objs))
	}
	ns, ok := objs[0].Obj.(*corev1.Namespace)
	if !ok {
		t.Fatalf("infra/namespace.yaml holds a %T, want a Namespace", objs[0].Obj)
	}
	return ns
}

var kubernetesVersion = regexp.MustCompile(`^v1\.[0-9]+$`)

// checkPodSecurityLabels: restricted is enforced, at a pinned version so a
// cluster upgrade does not change what is refused; warn and audit report
// the same standard.
func checkPodSecurityLabels(ns *corev1.Namespace) []error {
	var errs []error
	labels := ns.Labels
	if got := labels[podSecurity+"enforce"]; got != "restricted" {
		errs = append(errs, fmt.Errorf("Namespace %s: %senforce is %q, want restricted", ns.Name, podSecurity, got))
	}
	if got := labels[podSecurity+"enforce-version"]; !kubernetesVersion.MatchString(got) {
		errs = append(errs, fmt.Errorf("Namespace %s: %senforce-version is %q, want a pinned version v1.N", ns.Name, podSecurity, got))
	}
	for _, mode := range []string{"warn", "audit"} {
		if got := labels[podSecurity+mode]; got != "restricted" {
			errs = append(errs, fmt.Errorf("Namespace %s: %s%s is %q, want restricted", ns.Name, podSecurity, mode, got))
		}
	}
	return errs
}

func TestNamespaceEnforcesRestricted(t *testing.T) {
	for _, err := range checkPodSecurityLabels(platformNamespace(t)) {
		t.Error(err)
	}
}

func TestNamespaceRuleRejectsMutations(t *testing.T) {
	tests := []struct {
		name, label, value, want string
	}{
		{"baseline only", "enforce", "baseline", "enforce is"},
		{"nothing enforced", "enforce", "", "enforce is"},
		{"the version left to the cluster", "enforce-version", "latest", "enforce-version"},
		{"no warnings", "warn", "", "warn is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := platformNamespace(t).DeepCopy()
			ns.Labels[podSecurity+tt.label] = tt.value
			errs := checkPodSecurityLabels(ns)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("no error names %q: %v", tt.want, errs)
			}
		})
	}
}

// checkNamespaces: every object renders into namespace ns, and none is a
// Namespace.
func checkNamespaces(objs []Object, ns string) []error {
	var errs []error
	for _, o := range objs {
		if _, ok := o.Obj.(*corev1.Namespace); ok {
			errs = append(errs, fmt.Errorf("%s: a Namespace in a kustomization: skaffold would delete it, and the Secrets and volumes in it, when it stops", o))
			continue
		}
		m, err := meta.Accessor(o.Obj)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o, err))
			continue
		}
		if m.GetNamespace() != ns {
			errs = append(errs, fmt.Errorf("%s %s: namespace %q, want %q (infra/namespace.yaml)", o, m.GetName(), m.GetNamespace(), ns))
		}
	}
	return errs
}

func TestEverythingRendersIntoTheNamespace(t *testing.T) {
	ns := platformNamespace(t).Name
	for _, dir := range append(kustomizationDirs(t), loadtestDirName) {
		t.Run(dir, func(t *testing.T) {
			for _, err := range checkNamespaces(rendered(t, dir), ns) {
				t.Error(err)
			}
		})
	}
	// The check can fail.
	objs := copyObjects(rendered(t, "infra/k8s"))
	find[*corev1.Service](t, objs, "auth-srv").Namespace = "default"
	objs = append(objs, Object{Source: "mutation", Obj: platformNamespace(t)})
	if errs := checkNamespaces(objs, ns); len(errs) != 2 {
		t.Errorf("a Service in another namespace and a rendered Namespace: %d errors, want 2: %v", len(errs), errs)
	}
}

// The README's way from a fresh cluster creates the namespace first, with
// this file.
func TestNamespaceIsDocumented(t *testing.T) {
	readme := readFile(t, filepath.Join(repoRoot(t), "infra", "README.md"))
	if !strings.Contains(readme, "kubectl apply -f infra/namespace.yaml") {
		t.Error("infra/README.md does not create the namespace with `kubectl apply -f infra/namespace.yaml`")
	}
}
