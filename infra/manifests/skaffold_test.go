package manifests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
)

// skaffoldConfig mirrors the part of skaffold's v4beta13 schema that
// skaffold.yaml uses, field names as in skaffold's pkg/skaffold/schema/v4beta13.
// Decoding it as skaffold does (yaml.v3, known fields only) rejects a
// misspelt or misplaced key; a field skaffold knows but this mirror does not
// must be added here before skaffold.yaml uses it.
type skaffoldConfig struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	skaffoldPipeline `yaml:",inline"`
	Profiles         []struct {
		Name             string `yaml:"name"`
		skaffoldPipeline `yaml:",inline"`
	} `yaml:"profiles"`
}

type skaffoldPipeline struct {
	Build *struct {
		Local *struct {
			Push        *bool `yaml:"push"`
			UseBuildkit *bool `yaml:"useBuildkit"`
			Concurrency *int  `yaml:"concurrency"`
		} `yaml:"local"`
		Artifacts []skaffoldArtifact `yaml:"artifacts"`
	} `yaml:"build,omitempty"`
	Manifests *struct {
		RawYaml   []string `yaml:"rawYaml"`
		Kustomize *struct {
			Paths []string `yaml:"paths"`
		} `yaml:"kustomize"`
	} `yaml:"manifests,omitempty"`
	Deploy *struct {
		Kubectl                       *struct{} `yaml:"kubectl"`
		StatusCheckDeadlineSeconds    int       `yaml:"statusCheckDeadlineSeconds"`
		TolerateFailuresUntilDeadline bool      `yaml:"tolerateFailuresUntilDeadline"`
	} `yaml:"deploy,omitempty"`
	PortForward []skaffoldPortForward `yaml:"portForward"`
}

type skaffoldPortForward struct {
	ResourceType string `yaml:"resourceType"`
	ResourceName string `yaml:"resourceName"`
	Namespace    string `yaml:"namespace"`
	Port         int    `yaml:"port"`
	LocalPort    int    `yaml:"localPort"`
}

type skaffoldArtifact struct {
	Image   string `yaml:"image"`
	Context string `yaml:"context"`
	Docker  *struct {
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"docker"`
}

func loadSkaffold(t *testing.T, data []byte) (skaffoldConfig, error) {
	t.Helper()
	var cfg skaffoldConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&cfg)
	return cfg, err
}

func TestSkaffoldConfig(t *testing.T) {
	root := repoRoot(t)
	cfg, err := loadSkaffold(t, []byte(readFile(t, filepath.Join(root, "skaffold.yaml"))))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.APIVersion != "skaffold/v4beta13" || cfg.Kind != "Config" {
		t.Errorf("apiVersion/kind = %s/%s, want skaffold/v4beta13/Config", cfg.APIVersion, cfg.Kind)
	}
	if cfg.Build == nil || cfg.Build.Local == nil || cfg.Build.Local.Push == nil || *cfg.Build.Local.Push {
		t.Error("build.local.push must be false")
	}
	if cfg.Deploy == nil || cfg.Deploy.Kubectl == nil {
		t.Fatal("deploy.kubectl is not set")
	}
	// The services start before their stores and report not ready until
	// these answer: the status check waits for them instead of failing at
	// the first unready pod, up to a deadline that covers image pulls, the
	// replica sets' initiation and the NATS cluster's forming.
	if !cfg.Deploy.TolerateFailuresUntilDeadline || cfg.Deploy.StatusCheckDeadlineSeconds < 300 {
		t.Errorf("deploy: tolerateFailuresUntilDeadline %v, statusCheckDeadlineSeconds %d; want true and at least 300",
			cfg.Deploy.TolerateFailuresUntilDeadline, cfg.Deploy.StatusCheckDeadlineSeconds)
	}
	wantImages := map[string]string{"ticketing/client": "client"}
	for _, svc := range goServices {
		wantImages["ticketing/"+svc] = "."
	}
	got := map[string]string{}
	for _, a := range cfg.Build.Artifacts {
		got[a.Image] = a.Context
		if a.Docker == nil || a.Docker.Dockerfile == "" {
			t.Errorf("%s: no docker.dockerfile", a.Image)
			continue
		}
		dockerfile := filepath.Join(root, a.Context, a.Docker.Dockerfile)
		if _, err := os.Stat(dockerfile); err != nil {
			if a.Image == "ticketing/client" {
				t.Logf("%s: %v (the client's Dockerfile is not written yet)", a.Image, err)
				continue
			}
			t.Errorf("%s: %v", a.Image, err)
		}
	}
	for image, context := range wantImages {
		if got[image] != context {
			t.Errorf("artifact %s: context %q, want %q", image, got[image], context)
		}
	}
	if len(got) != len(wantImages) {
		t.Errorf("%d artifacts, want %d: %v", len(got), len(wantImages), sortedKeys(got))
	}
	pipelines := []skaffoldPipeline{cfg.skaffoldPipeline}
	for _, p := range cfg.Profiles {
		pipelines = append(pipelines, p.skaffoldPipeline)
	}
	for _, p := range pipelines {
		if p.Manifests == nil {
			continue
		}
		if p.Manifests.Kustomize == nil {
			t.Error("manifests are rendered with kustomize")
			continue
		}
		for _, dir := range p.Manifests.Kustomize.Paths {
			if _, err := RenderAndDecode(filepath.Join(root, dir)); err != nil {
				t.Errorf("manifests.kustomize.paths %s: %v", dir, err)
			}
		}
	}
}

// Every image a manifest runs is either built by skaffold or a tagged
// third-party image; every image skaffold builds is run by some manifest.
func TestImagesAreBuiltBySkaffold(t *testing.T) {
	root := repoRoot(t)
	cfg, err := loadSkaffold(t, []byte(readFile(t, filepath.Join(root, "skaffold.yaml"))))
	if err != nil {
		t.Fatal(err)
	}
	built := map[string]bool{}
	for _, a := range cfg.Build.Artifacts {
		built[a.Image] = false
	}
	thirdParty := []string{"mongo:7", "redis:7.4", "nats:2.12"}
	for _, w := range workloads(baseObjects(t)) {
		for _, c := range append(w.Template.Spec.InitContainers, w.Template.Spec.Containers...) {
			if _, ok := built[c.Image]; ok {
				built[c.Image] = true
				continue
			}
			if !slices.Contains(thirdParty, c.Image) {
				t.Errorf("%s %s runs %s: neither built by skaffold nor a known third-party image", w.Kind, w.Name, c.Image)
			}
		}
	}
	for image, used := range built {
		if !used {
			t.Errorf("skaffold builds %s but no manifest runs it", image)
		}
	}
}

// The strict skaffold check can fail.
func TestSkaffoldStrictDecodingRejectsMutations(t *testing.T) {
	original := readFile(t, filepath.Join(repoRoot(t), "skaffold.yaml"))
	tests := []struct{ name, old, new string }{
		{"misspelt key", "dockerfile: auth/Dockerfile", "dockerFile: auth/Dockerfile"},
		{"misplaced key", "  local:\n    push: false", "  local:\n    pushh: false"},
		{"unknown top-level section", "deploy:\n", "deplo:\n"},
		{"wrong type", "    concurrency: 2", "    concurrency: two"},
		{"misspelt deploy key", "tolerateFailuresUntilDeadline: true", "tolerateFailureUntilDeadline: true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(original, tt.old) {
				t.Fatalf("skaffold.yaml no longer contains %q: update the test", tt.old)
			}
			if _, err := loadSkaffold(t, []byte(strings.Replace(original, tt.old, tt.new, 1))); err == nil {
				t.Fatal("mutated skaffold.yaml decoded without error")
			}
		})
	}
}

// checkPortForwards: each port-forward of a pipeline (a profile's own, or
// else the top level's) forwards a port of the Service of the edge its
// manifests render, in the controller's namespace. A pipeline that renders
// no edge (the load test alone) is not checked.
func checkPortForwards(t *testing.T, cfg skaffoldConfig) []error {
	t.Helper()
	type pipeline struct {
		name string
		skaffoldPipeline
	}
	pipelines := []pipeline{{"the top level", cfg.skaffoldPipeline}}
	for _, p := range cfg.Profiles {
		pipelines = append(pipelines, pipeline{"profile " + p.Name, p.skaffoldPipeline})
	}
	var errs []error
	for _, p := range pipelines {
		manifests, forwards := p.Manifests, p.PortForward
		if manifests == nil {
			manifests = cfg.Manifests
		}
		if len(forwards) == 0 {
			forwards = cfg.PortForward
		}
		var objs []Object
		for _, dir := range manifests.Kustomize.Paths {
			objs = append(objs, rendered(t, dir)...)
		}
		inv := inventoryOf(objs)
		if len(inv.gateways)+len(inv.ingresses) == 0 {
			continue
		}
		edge, err := edgeOf(inv)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
			continue
		}
		if len(forwards) == 0 {
			errs = append(errs, fmt.Errorf("%s forwards nothing to the edge", p.name))
		}
		sawEdge := false
		for _, f := range forwards {
			if own, ok := ownService(objs, f); ok {
				// A Service the pipeline renders itself (the observability
				// profile's trace UI and Prometheus): one of its ports.
				if !own {
					errs = append(errs, fmt.Errorf("%s forwards port %d of %s/%s, which that Service does not serve", p.name, f.Port, f.Namespace, f.ResourceName))
				}
				continue
			}
			sawEdge = true
			switch {
			case f.ResourceType != "service" || f.ResourceName != edge.service || f.Namespace != edge.namespace:
				errs = append(errs, fmt.Errorf("%s forwards %s %s/%s, want the Service of the edge's controller, %s/%s", p.name, f.ResourceType, f.Namespace, f.ResourceName, edge.namespace, edge.service))
			case edge.servicePort[int32(f.Port)] == 0:
				errs = append(errs, fmt.Errorf("%s forwards port %d, which the Service of %s does not serve (%v)", p.name, f.Port, edge.name, sortedKeys(portNames(edge))))
			}
		}
		if !sawEdge {
			errs = append(errs, fmt.Errorf("%s forwards nothing to the edge", p.name))
		}
	}
	return errs
}

// ownService reports whether forward f names a Service among objs (found)
// and whether that Service serves f's port (own).
func ownService(objs []Object, f skaffoldPortForward) (own, found bool) {
	if f.ResourceType != "service" {
		return false, false
	}
	for _, o := range objs {
		svc, ok := o.Obj.(*corev1.Service)
		if !ok || svc.Name != f.ResourceName || (svc.Namespace != "" && svc.Namespace != f.Namespace) {
			continue
		}
		for _, p := range svc.Spec.Ports {
			if int(p.Port) == f.Port {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

func portNames(c controller) map[string]bool {
	out := map[string]bool{}
	for p := range c.servicePort {
		out[fmt.Sprint(p)] = true
	}
	return out
}

// skaffold forwards the edge of what each pipeline deploys, and the check
// can fail.
func TestSkaffoldForwardsTheEdge(t *testing.T) {
	original := readFile(t, filepath.Join(repoRoot(t), "skaffold.yaml"))
	cfg, err := loadSkaffold(t, []byte(original))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkPortForwards(t, cfg) {
		t.Error(err)
	}
	for _, tt := range []struct{ name, old, new, want string }{
		{"a Service Envoy Gateway does not make", "resourceName: envoy-ticketing-ticketing-fc42b6bf", "resourceName: envoy-ticketing-ticketing", "want the Service of the edge's controller"},
		{"HTTPS forwarded where plain HTTP is served", "    port: 80\n        localPort: 8080", "    port: 443\n        localPort: 8080", "forwards port 443"},
		{"a port the trace UI does not serve", "port: 16686\n        localPort: 16686", "port: 16000\n        localPort: 16686", "which that Service does not serve"},
		{"the observability profile forwarding a port the edge does not serve", "        port: 443\n        localPort: 8443\n      - resourceType: service\n        resourceName: jaeger-srv",
			"        port: 16686\n        localPort: 8443\n      - resourceType: service\n        resourceName: jaeger-srv", "profile observability forwards port 16686"},
		{"the Ingress profile forwarding the Gateway", "resourceName: ingress-nginx-controller\n        namespace: ingress-nginx", "resourceName: envoy-ticketing-ticketing-fc42b6bf\n        namespace: envoy-gateway-system", "profile ingress forwards"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(original, tt.old) {
				t.Fatalf("skaffold.yaml no longer contains %q: update the test", tt.old)
			}
			cfg, err := loadSkaffold(t, []byte(strings.Replace(original, tt.old, tt.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			errs := checkPortForwards(t, cfg)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("no error says %q: %v", tt.want, errs)
			}
		})
	}
}
