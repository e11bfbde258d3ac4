package traceui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"ticketing.dev/devstack/bincache"
)

// JaegerVersion is the Jaeger that devstack/jaeger/go.mod pins, and
// JaegerPackage its all-in-one program, built as that module's tool.
const (
	JaegerVersion = "v1.76.0"
	JaegerPackage = "github.com/jaegertracing/jaeger/cmd/jaeger"
)

// JaegerModule is the directory of the Jaeger module in the repository at
// root: a module of its own, outside go.work, so that Jaeger's dependencies
// never change the services' versions.
func JaegerModule(root string) string { return filepath.Join(root, "devstack", "jaeger") }

// JaegerConfig is the Jaeger configuration devstack runs (memory storage,
// OTLP/HTTP in, the query API; every port from the environment).
func JaegerConfig(root string) string { return filepath.Join(JaegerModule(root), "config.yaml") }

// Assets is the directory of the viewer's page in the repository: Jaeger's
// jaeger_query serves it too (ui.assets_path), in place of the UI the Go
// module does not ship.
func Assets(root string) string { return filepath.Join(root, "devstack", "traceui", "ui") }

// JaegerCacheDir is where built Jaeger binaries are kept, shared by every
// data directory and by the tests: the user's cache directory
// (~/.cache/ticketing-devstack/jaeger), so `make clean` does not cost a
// rebuild either.
func JaegerCacheDir() (string, error) {
	dir, err := bincache.Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "jaeger"), nil
}

// JaegerBinary is the path of the binary for the Jaeger module at root and
// the go command on PATH (named after a hash of go.mod, go.sum and the Go
// version and platform), and whether it is built already.
func JaegerBinary(ctx context.Context, root string) (path string, built bool, err error) {
	dir, err := JaegerCacheDir()
	if err != nil {
		return "", false, err
	}
	key, err := buildKey(ctx, JaegerModule(root))
	if err != nil {
		return "", false, err
	}
	path = filepath.Join(dir, "jaeger-"+JaegerVersion+"-"+key)
	_, err = os.Stat(path)
	return path, err == nil, nil
}

// buildKey hashes what the binary depends on: the module's go.mod and
// go.sum, and the toolchain and target.
func buildKey(ctx context.Context, module string) (string, error) {
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(module, name))
		if err != nil {
			return "", fmt.Errorf("the Jaeger module: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	cmd := exec.CommandContext(ctx, "go", "env", "GOVERSION", "GOOS", "GOARCH", "GOAMD64", "CGO_ENABLED")
	cmd.Dir = module
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env (is Go on PATH?): %w", err)
	}
	h.Write(out)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// BuildJaeger returns the Jaeger binary for the module at root, building it
// first when JaegerBinary is not built yet: `go mod download`, then `go
// build` of JaegerPackage, each at the lowest CPU priority (nice 19, when
// nice is on PATH) so that a first build, minutes long, takes only the CPU
// the platform leaves. run runs each command (cmd.Dir and cmd.Env are set;
// the caller may add output and process attributes) and returns once it
// has ended. One build at a time per binary, across processes (a lock
// file); a build is written under a temporary name and renamed, so a killed
// build leaves no half binary, and Go's build cache keeps what it compiled.
// Binaries of other versions not used for two weeks are removed.
func BuildJaeger(ctx context.Context, root string, run func(*exec.Cmd) error) (string, error) {
	bin, built, err := JaegerBinary(ctx, root)
	if err != nil {
		return "", err
	}
	if built {
		bincache.Touch(bin)
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	unlock, err := bincache.Lock(ctx, bin+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil { // built while we waited
		bincache.Touch(bin)
		return bin, nil
	}
	tmp := bin + ".tmp"
	_ = os.Remove(tmp)
	for _, args := range [][]string{
		{"mod", "download"}, // quiet, unlike the build's "go: downloading" lines
		{"build", "-buildvcs=false", "-o", tmp, JaegerPackage},
	} {
		cmd := lowPriority(ctx, "go", args...)
		cmd.Dir = JaegerModule(root)
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if err := run(cmd); err != nil {
			_ = os.Remove(tmp)
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", fmt.Errorf("go %s in %s: %w", args[0], cmd.Dir, err)
		}
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	pruneOthers(bin)
	return bin, nil
}

// lowPriority is name args run with nice 19 where nice exists.
func lowPriority(ctx context.Context, name string, args ...string) *exec.Cmd {
	if nice, err := exec.LookPath("nice"); err == nil {
		return exec.CommandContext(ctx, nice, append([]string{"-n", "19", name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// pruneOthers removes the cached binaries other than keep that were not
// used for two weeks (each is over 100 MB).
func pruneOthers(keep string) {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(keep), "jaeger-*"))
	for _, m := range matches {
		if m == keep || strings.HasPrefix(m, keep) {
			continue
		}
		if info, err := os.Stat(m); err == nil && time.Since(info.ModTime()) > 14*24*time.Hour {
			_ = os.Remove(m)
		}
	}
}

// Jaeger is one Jaeger process as devstack runs it: the binary, the
// repository's configuration, and its three loopback ports (every one
// chosen by the caller; none is a standard port).
type Jaeger struct {
	Bin  string
	Root string
	// OTLPHTTP is the OTLP/HTTP receiver; QueryHTTP the query API (and the
	// viewer's page, ui.assets_path); QueryGRPC the query gRPC API, which
	// jaeger_query always starts.
	OTLPHTTP, QueryHTTP, QueryGRPC int
	// MaxTraces is how many traces the memory store keeps (0: the
	// configuration's 10,000).
	MaxTraces int
	// LogLevel is info (when empty), warn or error.
	LogLevel string
}

// Args are the command-line arguments.
func (j Jaeger) Args() []string {
	return []string{"--config", "file:" + JaegerConfig(j.Root)}
}

// Env is what the configuration reads from the environment.
func (j Jaeger) Env() map[string]string {
	env := map[string]string{
		"JAEGER_OTLP_HTTP_PORT":  strconv.Itoa(j.OTLPHTTP),
		"JAEGER_QUERY_HTTP_PORT": strconv.Itoa(j.QueryHTTP),
		"JAEGER_QUERY_GRPC_PORT": strconv.Itoa(j.QueryGRPC),
		"JAEGER_UI_ASSETS":       Assets(j.Root),
		"JAEGER_LOG_LEVEL":       "info",
	}
	if j.MaxTraces > 0 {
		env["JAEGER_MAX_TRACES"] = strconv.Itoa(j.MaxTraces)
	}
	if j.LogLevel != "" {
		env["JAEGER_LOG_LEVEL"] = j.LogLevel
	}
	return env
}

// Command is the process, with the caller's environment plus Env.
func (j Jaeger) Command() *exec.Cmd {
	cmd := exec.Command(j.Bin, j.Args()...)
	cmd.Env = os.Environ()
	for k, v := range j.Env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// OTLPAddr and QueryAddr are the receiver's and the query API's addresses.
func (j Jaeger) OTLPAddr() string  { return "127.0.0.1:" + strconv.Itoa(j.OTLPHTTP) }
func (j Jaeger) QueryAddr() string { return "127.0.0.1:" + strconv.Itoa(j.QueryHTTP) }

var readyClient = &http.Client{Timeout: 2 * time.Second}

// Ready answers nil once the query API answers and the receiver listens.
func (j Jaeger) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+j.QueryAddr()+"/api/services", nil)
	if err != nil {
		return err
	}
	res, err := readyClient.Do(req)
	if err != nil {
		return errors.New("query API not answering yet")
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("query API answered %d", res.StatusCode)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", j.OTLPAddr())
	if err != nil {
		return errors.New("OTLP receiver not listening yet")
	}
	return c.Close()
}
