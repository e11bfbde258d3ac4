package manifests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Prometheus's own code answers what the tests would otherwise imitate:
// infra/promcheck, a module of its own outside the workspace (Prometheus's
// dependencies never change the services' versions), loads a
// prometheus.yml, runs kubernetes_sd's pod discoverer and the job's
// relabeling over the pods the manifests run, and parses PromQL. It is
// built once per test binary, with GOWORK=off.

// promRequest and promResponse mirror infra/promcheck's Request and
// Response.
type promRequest struct {
	Config       string       `json:"config,omitempty"`
	Pods         []corev1.Pod `json:"pods,omitempty"`
	OwnNamespace string       `json:"ownNamespace,omitempty"`
	Exprs        []string     `json:"exprs,omitempty"`
}

type promResponse struct {
	ConfigError string     `json:"configError"`
	Jobs        []promJob  `json:"jobs"`
	Exprs       []promExpr `json:"exprs"`
}

type promJob struct {
	Name      string `json:"name"`
	Discovery []struct {
		Role       string   `json:"role"`
		Namespaces []string `json:"namespaces"`
	} `json:"discovery"`
	Targets []map[string]string `json:"targets"`
	Errors  []string            `json:"errors"`
}

type promExpr struct {
	Expr         string         `json:"expr"`
	Error        string         `json:"error"`
	Selectors    []promSelector `json:"selectors"`
	Groupings    []promGrouping `json:"groupings"`
	Functions    []string       `json:"functions"`
	Aggregations []string       `json:"aggregations"`
	Quantiles    []float64      `json:"quantiles"`
}

type promSelector struct {
	Name     string        `json:"name"`
	Matchers []promMatcher `json:"matchers"`
}

type promMatcher struct {
	Label string `json:"label"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

type promGrouping struct {
	Kind    string   `json:"kind"`
	Labels  []string `json:"labels"`
	Metrics []string `json:"metrics"`
}

var promcheck struct {
	once     sync.Once
	dir, bin string
	err      error
}

// promcheckDir is infra/promcheck.
func promcheckDir() (string, error) {
	root, err := RepoRoot(".")
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "infra", "promcheck"), nil
}

// promcheckBinary builds infra/promcheck (once per test binary).
func promcheckBinary() (string, error) {
	promcheck.once.Do(func() {
		src, err := promcheckDir()
		if err != nil {
			promcheck.err = err
			return
		}
		dir, err := os.MkdirTemp("", "promcheck-")
		if err != nil {
			promcheck.err = err
			return
		}
		promcheck.dir = dir
		bin := filepath.Join(dir, "promcheck")
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			promcheck.err = fmt.Errorf("building infra/promcheck (GOWORK=off go build; its modules come from the module cache or the Go module proxy): %w\n%s", err, out)
			return
		}
		promcheck.bin = bin
	})
	return promcheck.bin, promcheck.err
}

// askPrometheus runs infra/promcheck on req.
func askPrometheus(req promRequest) (promResponse, error) {
	var resp promResponse
	bin, err := promcheckBinary()
	if err != nil {
		return resp, err
	}
	data, err := json.Marshal(req)
	if err != nil {
		return resp, err
	}
	cmd := exec.Command(bin)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return resp, fmt.Errorf("infra/promcheck: %w\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, fmt.Errorf("infra/promcheck's answer: %w", err)
	}
	return resp, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if promcheck.dir != "" {
		_ = os.RemoveAll(promcheck.dir)
	}
	os.Exit(code)
}

// promcheckVersion is the Prometheus module infra/promcheck builds with
// (v0.315.1), and the Prometheus release it is (v3.15.1: Prometheus 3's
// module versions are v0.3MM.P for v3.MM.P).
func promcheckVersion(t testing.TB) (module, release string) {
	t.Helper()
	dir, err := promcheckDir()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/prometheus/prometheus (v0\.3(\d\d)\.(\d+))$`).FindStringSubmatch(readFile(t, filepath.Join(dir, "go.mod")))
	if m == nil {
		t.Fatal("infra/promcheck/go.mod requires no github.com/prometheus/prometheus v0.3MM.P")
	}
	return m[1], "v3." + strings.TrimLeft(m[2], "0") + "." + m[3]
}

// The checker answers as Prometheus does: a configuration with a misspelt
// key is refused, a relabeling keeps and drops as written, an expression
// that does not parse is an error.
func TestPromcheck(t *testing.T) {
	pod := corev1.Pod{}
	pod.Name, pod.Namespace = "web-0", "shop"
	pod.Labels = map[string]string{"app.kubernetes.io/name": "web"}
	pod.Spec.Containers = []corev1.Container{{Name: "web", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}, {Name: "metrics", ContainerPort: 9100}}}}
	pod.Status.PodIP, pod.Status.Phase = "10.0.0.7", corev1.PodRunning
	config := "scrape_configs:\n  - job_name: shop\n    kubernetes_sd_configs:\n      - role: pod\n        namespaces: {names: [shop]}\n" +
		"    relabel_configs:\n      - source_labels: [__meta_kubernetes_pod_container_port_name]\n        regex: metrics\n        action: keep\n" +
		"      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name]\n        target_label: app\n"
	resp, err := askPrometheus(promRequest{Config: config, Pods: []corev1.Pod{pod}, Exprs: []string{`sum by (app) (rate(x_total[5m]))`, `sum(`}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ConfigError != "" || len(resp.Jobs) != 1 || len(resp.Jobs[0].Errors) != 0 {
		t.Fatalf("the configuration: %+v", resp)
	}
	if targets := resp.Jobs[0].Targets; len(targets) != 1 || targets[0]["__address__"] != "10.0.0.7:9100" || targets[0]["app"] != "web" {
		t.Errorf("targets %v, want one, 10.0.0.7:9100 with app=web", targets)
	}
	if e := resp.Exprs[0]; e.Error != "" || len(e.Selectors) != 1 || e.Selectors[0].Name != "x_total" || len(e.Groupings) != 1 || e.Groupings[0].Labels[0] != "app" {
		t.Errorf("the expression: %+v", e)
	}
	if resp.Exprs[1].Error == "" {
		t.Error("sum( parsed")
	}
	bad, err := askPrometheus(promRequest{Config: strings.Replace(config, "relabel_configs", "relabel_config", 1)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(bad.ConfigError, "relabel_config") {
		t.Errorf("a misspelt key: %q, want an error naming it", bad.ConfigError)
	}
}
