package manifests

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestEveryManifestDecodesStrictly(t *testing.T) {
	dir := k8sDir(t)
	for _, name := range manifestFiles {
		t.Run(name, func(t *testing.T) {
			objs, err := LoadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) == 0 {
				t.Fatal("no documents")
			}
			for _, o := range objs {
				gvk := o.Obj.GetObjectKind().GroupVersionKind()
				if gvk.Kind == "" || gvk.Version == "" {
					t.Errorf("%s: no apiVersion/kind", o)
				}
			}
		})
	}
}

// The routes file is also read by the local gateway of `make up`
// (devstack/gateway), which takes every document of it for an HTTPRoute: it
// must hold HTTPRoutes only, and the redirect stays beside the Gateway.
func TestRoutesFileHoldsOnlyHTTPRoutes(t *testing.T) {
	objs, err := LoadFile(filepath.Join(k8sDir(t), "routes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	routes := httpRoutes(objs)
	if len(objs) == 0 || len(routes) != len(objs) {
		t.Fatalf("routes.yaml holds %d documents, %d of them HTTPRoutes: want HTTPRoutes only", len(objs), len(routes))
	}
	for _, r := range routes {
		if redirectsOnly(r) {
			t.Errorf("HTTPRoute %s only redirects: it belongs in gateway.yaml", r.Name)
		}
	}
}

// A check that cannot fail proves nothing: each mutation of a real manifest,
// made in memory, must be rejected by the same decoder.
func TestStrictDecodingRejectsMutations(t *testing.T) {
	original := readFile(t, filepath.Join(k8sDir(t), "auth-depl.yaml"))
	if _, err := DecodeAll("auth-depl.yaml", []byte(original)); err != nil {
		t.Fatalf("the unmutated file must decode: %v", err)
	}
	tests := []struct {
		name, old, new, wantInError string
	}{
		{"misspelt spec field", "  replicas: 1", "  replica: 1", "replica"},
		{"misspelt container field", "imagePullPolicy: IfNotPresent", "imagePullPolcy: IfNotPresent", "imagePullPolcy"},
		{"unknown probe field", "              path: /healthz", "              paht: /healthz", "paht"},
		{"field at the wrong level", "      serviceAccountName: auth", "      serviceAccount_name: auth", "serviceAccount_name"},
		{"wrong type", "  replicas: 1", "  replicas: one", "replicas"},
		{"duplicate field", "  replicas: 1", "  replicas: 1\n  replicas: 2", "replicas"},
		{"unknown kind", "kind: Deployment", "kind: Deploymnet", "Deploymnet"},
		{"unknown api version", "apiVersion: apps/v1", "apiVersion: apps/v1beta9", "apps/v1beta9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(original, tt.old) {
				t.Fatalf("auth-depl.yaml no longer contains %q: update the test", tt.old)
			}
			mutated := strings.Replace(original, tt.old, tt.new, 1)
			_, err := DecodeAll("auth-depl.yaml", []byte(mutated))
			if err == nil {
				t.Fatal("mutated manifest decoded without error")
			}
			if !strings.Contains(err.Error(), tt.wantInError) {
				t.Errorf("error does not name %q: %v", tt.wantInError, err)
			}
		})
	}
}

// kustomization.yaml lists exactly the manifest files, so nothing written is
// left out of a deployment and nothing deployed is missing from the checks.
func TestKustomizationListsEveryManifest(t *testing.T) {
	resources, files := kustomization(t, k8sDir(t))
	want := slices.Sorted(slices.Values(manifestFiles))
	if got := slices.Sorted(slices.Values(resources)); !slices.Equal(got, want) {
		t.Errorf("kustomization resources = %v, want %v", got, want)
	}
	if got := slices.Sorted(slices.Values(files)); !slices.Equal(got, want) {
		t.Errorf("files in infra/k8s = %v, want %v", got, want)
	}
}

// kustomization reads dir's kustomization.yaml: the resources it lists,
// and the manifest files beside it.
func kustomization(t *testing.T, dir string) (resources, files []string) {
	t.Helper()
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(dir, "kustomization.yaml"))), &k); err != nil {
		t.Fatal(err)
	}
	onDisk, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range onDisk {
		if name := filepath.Base(p); name != "kustomization.yaml" {
			files = append(files, name)
		}
	}
	return k.Resources, files
}

// `kustomize build` of the base and of every overlay succeeds and its output
// decodes strictly; each renders exactly the documents of its resources (a
// file's documents, a directory's rendering: the base, or the ingress
// overlay under traefik) less the objects its patches delete (the ingress
// overlays' Gateway and routes).
func TestKustomizeBuildDecodesStrictly(t *testing.T) {
	root := repoRoot(t)
	for _, dir := range kustomizationDirs(t) {
		t.Run(dir, func(t *testing.T) {
			objs, err := renderDir(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(objs), renderedCount(t, filepath.Join(root, dir)); got != want {
				t.Errorf("rendered %d objects, want %d (one per document of its resources, less those its patches delete)", got, want)
			}
		})
	}
}

// renderedCount is how many objects the kustomization of dir must render:
// its resources' and its components' (a file's documents, a directory's
// rendering, a component's own resources), less the objects its patches
// delete. A documented overlay's kustomization is the README's.
func renderedCount(t *testing.T, dir string) int {
	t.Helper()
	if dir == k8sDir(t) {
		return len(baseObjects(t))
	}
	var text string
	if rel, err := filepath.Rel(repoRoot(t), dir); err == nil && documentedOverlays(t)[rel].Dir != "" {
		text = string(documentedOverlays(t)[rel].Kustomization)
	} else {
		text = readFile(t, filepath.Join(dir, "kustomization.yaml"))
	}
	var k struct {
		Resources  []string `json:"resources"`
		Components []string `json:"components"`
		Patches    []struct {
			Patch string `json:"patch"`
		} `json:"patches"`
	}
	if err := yaml.Unmarshal([]byte(text), &k); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range append(k.Resources, k.Components...) {
		if filepath.Ext(r) != ".yaml" {
			n += renderedCount(t, filepath.Join(dir, r))
			continue
		}
		own, err := LoadFile(filepath.Join(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		n += len(own)
	}
	for _, p := range k.Patches {
		if strings.Contains(p.Patch, "$patch: delete") {
			n--
		}
	}
	return n
}
