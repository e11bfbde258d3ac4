package manifests

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// A service started without a required variable exits non-zero and names
// each missing one as "<NAME> is required" (common/config).
var requiredPattern = regexp.MustCompile(`\b([A-Z][A-Z0-9_]*) is required\b`)

var (
	buildOnce sync.Once
	binDir    string
	built     []string
	buildErr  error
)

// buildServices builds every service that has a main.go, in one go build
// from the workspace at the repository root.
func buildServices(t *testing.T) (dir string, services []string) {
	t.Helper()
	root := repoRoot(t)
	buildOnce.Do(func() {
		var pkgs []string
		for _, svc := range goServices {
			if hasMain(filepath.Join(root, svc)) {
				built = append(built, svc)
				pkgs = append(pkgs, "./"+svc)
			}
		}
		if len(pkgs) == 0 {
			return
		}
		if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
			buildErr = errors.New("no go.work at the repository root")
			return
		}
		binDir, buildErr = os.MkdirTemp("", "ticketing-services-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", append([]string{"build", "-o", binDir + string(os.PathSeparator)}, pkgs...)...)
		cmd.Dir = root
		// These tests may run with GOWORK=off (infra is its own module); the
		// services build in the repository's workspace.
		cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New("go build " + strings.Join(pkgs, " ") + ": " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir, built
}

// run starts bin with exactly env and returns its output once it exits, or
// after wait with timedOut set (the process is then killed).
func run(t *testing.T, bin string, env []string, wait time.Duration) (out string, exitErr error, timedOut bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.Dir = t.TempDir()
	err := cmd.Run()
	return buf.String(), err, ctx.Err() != nil
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// Every variable a service requires at start is set in its Deployment, and
// the Deployment's values pass the service's own configuration checks. What
// is required is learnt from the binaries themselves, not from a second list.
func TestDeploymentsSetEveryRequiredVariable(t *testing.T) {
	root := repoRoot(t)
	objs := baseObjects(t)
	for _, svc := range goServices {
		t.Run(svc, func(t *testing.T) {
			if !hasMain(filepath.Join(root, svc)) {
				t.Skipf("%s/main.go does not exist yet: cannot learn which variables %s requires", svc, svc)
			}
			dir, _ := buildServices(t)
			t.Parallel()
			bin := filepath.Join(dir, svc)

			out, err, timedOut := run(t, bin, []string{}, 20*time.Second)
			if timedOut || err == nil {
				t.Fatalf("started with an empty environment, %s did not exit with an error:\n%s", svc, out)
			}
			var required []string
			for _, m := range requiredPattern.FindAllStringSubmatch(out, -1) {
				if !slices.Contains(required, m[1]) {
					required = append(required, m[1])
				}
			}
			if len(required) == 0 {
				t.Fatalf("%s exited (%v) without naming a required variable:\n%s", svc, err, out)
			}
			t.Logf("%s requires %v", svc, required)

			container := serviceContainer(t, objs, svc)
			env := envNames(container)
			for _, name := range required {
				if _, ok := env[name]; !ok {
					t.Errorf("%s requires %s, which its Deployment does not set", svc, name)
				}
			}

			// With the Deployment's environment (secrets replaced by test
			// values, PORT by a free port) the configuration is accepted: the
			// service gets past its checks and fails later, if at all, on the
			// unreachable cluster hosts.
			var vars []string
			for _, e := range container.Env {
				value := e.Value
				switch {
				case e.Name == "PORT":
					value = freePort(t)
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
					value = "sk_test_" + strings.Repeat("0123456789abcdef", 3)
				case e.ValueFrom != nil:
					t.Fatalf("%s: %s comes from a source this test does not know", svc, e.Name)
				}
				vars = append(vars, e.Name+"="+value)
			}
			out, _, _ = run(t, bin, vars, 3*time.Second)
			if strings.Contains(out, "invalid configuration") || requiredPattern.MatchString(out) {
				t.Errorf("%s rejects its Deployment's environment:\n%s", svc, out)
			}
		})
	}
}

func serviceContainer(t *testing.T, objs []Object, svc string) corev1.Container {
	t.Helper()
	d := deploymentByImage(t, objs, "ticketing/"+svc)
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Image == "ticketing/"+svc {
			return c
		}
	}
	panic("unreachable")
}
