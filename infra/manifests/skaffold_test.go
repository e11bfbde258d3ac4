package manifests

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
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
	PortForward []struct {
		ResourceType string `yaml:"resourceType"`
		ResourceName string `yaml:"resourceName"`
		Namespace    string `yaml:"namespace"`
		Port         int    `yaml:"port"`
		LocalPort    int    `yaml:"localPort"`
	} `yaml:"portForward"`
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
