package manifests

import (
	"bufio"
	"context"
	"errors"
	"io"
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
	binDirOnce sync.Once
	binDir     string
	binDirErr  error
)

// buildService builds one service from the workspace at the repository root
// and returns the binary's path.
func buildService(t *testing.T, svc string) string {
	t.Helper()
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatal("no go.work at the repository root")
	}
	binDirOnce.Do(func() { binDir, binDirErr = os.MkdirTemp("", "ticketing-services-") })
	if binDirErr != nil {
		t.Fatal(binDirErr)
	}
	bin := filepath.Join(binDir, svc)
	cmd := exec.Command("go", "build", "-o", bin, "./"+svc)
	cmd.Dir = root
	// These tests may run with GOWORK=off (infra is its own module); the
	// services build in the repository's workspace.
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./%s: %v\n%s", svc, err, out)
	}
	return bin
}

// run starts bin with exactly env and returns its output once it exits, or
// once the output so far satisfies enough (then the process is killed), or
// after limit with timedOut set.
func run(t *testing.T, bin string, env []string, limit time.Duration, enough func(out string) bool) (out string, exitErr error, timedOut bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	lines := bufio.NewScanner(pipe)
	for lines.Scan() {
		buf.WriteString(lines.Text() + "\n")
		if enough != nil && enough(buf.String()) {
			cancel()
			break
		}
	}
	_, _ = io.Copy(io.Discard, pipe)
	err = cmd.Wait()
	return buf.String(), err, errors.Is(ctx.Err(), context.DeadlineExceeded)
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
			t.Parallel()
			bin := buildService(t, svc)

			out, err, timedOut := run(t, bin, []string{}, 20*time.Second, nil)
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

			// With the Deployment's environment (each secret replaced by a test
			// value of its own, PORT by a free port, $(NAME) references
			// expanded as Kubernetes does) the configuration is accepted: the
			// service gets past its checks and fails later, if at all, on the
			// unreachable cluster hosts.
			var vars []string
			defined := map[string]string{}
			secrets := map[string]string{}
			port := freePort(t)
			for _, e := range container.Env {
				value := expand(e.Value, defined)
				switch {
				case e.Name == "PORT":
					value = port
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
					value = "sk_test_" + strings.Repeat("0123456789abcdef", 3) + "_" + strings.ToLower(e.Name)
					secrets[e.Name] = value
				case e.ValueFrom != nil:
					t.Fatalf("%s: %s comes from a source this test does not know", svc, e.Name)
				}
				defined[e.Name] = value
				vars = append(vars, e.Name+"="+value)
			}
			// The start-up line lists the configuration read, PORT unmasked:
			// once it shows the port given, the checks have passed.
			started := func(out string) bool { return strings.Contains(out, `"PORT":"`+port+`"`) }
			out, err, timedOut = run(t, bin, vars, 10*time.Second, started)
			switch {
			case strings.Contains(out, "invalid configuration") || requiredPattern.MatchString(out):
				t.Errorf("%s rejects its Deployment's environment:\n%s", svc, out)
			case !started(out):
				t.Errorf("%s did not log its configuration with PORT=%s (exit %v, timed out %v):\n%s", svc, port, err, timedOut, out)
			}
			// The secrets reach the service (in MONGO_URI too) but never its
			// log; a user name may.
			for name, value := range secrets {
				if !strings.HasSuffix(name, "_USER") && strings.Contains(out, value) {
					t.Errorf("%s logs the secret %s in clear:\n%s", svc, name, out)
				}
			}
		})
	}
}

// expand resolves the $(NAME) references of value from defined, as
// Kubernetes does for a container's variables (defined holds the variables
// listed before): $$ is a literal $, and a reference to a name not defined
// stays as written.
func expand(value string, defined map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(value); i++ {
		if value[i] == '$' && i+1 < len(value) {
			switch value[i+1] {
			case '$':
				b.WriteByte('$')
				i++
				continue
			case '(':
				if end := strings.IndexByte(value[i+2:], ')'); end >= 0 {
					if v, ok := defined[value[i+2:i+2+end]]; ok {
						b.WriteString(v)
						i += 2 + end
						continue
					}
				}
			}
		}
		b.WriteByte(value[i])
	}
	return b.String()
}

func TestExpand(t *testing.T) {
	defined := map[string]string{"USER": "u", "PASSWORD": "p"}
	for value, want := range map[string]string{
		"mongodb://$(USER):$(PASSWORD)@host/db": "mongodb://u:p@host/db",
		"$(UNDEFINED)@host":                     "$(UNDEFINED)@host",
		"$$(USER)":                              "$(USER)",
		"a $ b $(":                              "a $ b $(",
	} {
		if got := expand(value, defined); got != want {
			t.Errorf("expand(%q) = %q, want %q", value, got, want)
		}
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
