package bincache

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// checkout is a module with one main package, hello, that prints says.
func checkout(t *testing.T, root, says string) {
	t.Helper()
	files := map[string]string{
		"go.mod":        "module example.test/checkout\n\ngo 1.26\n",
		"hello/main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Print(" + says + ") }\n",
	}
	for name, body := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func run(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return string(out)
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ino
}

func TestBuildServices(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	// The test's own cache; Go's build cache stays the usual one.
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("GOWORK", "off")
	ctx := context.Background()
	root, tmp := t.TempDir(), t.TempDir()
	dst := func(name string) string { return filepath.Join(tmp, name) }
	build := func(into string) error {
		var out bytes.Buffer
		err := BuildServices(ctx, root, into, []string{"hello"}, &out)
		if err != nil {
			t.Logf("go build: %s", out.String())
		}
		return err
	}

	checkout(t, root, `"one"`)
	if err := build(dst("first")); err != nil {
		t.Fatal(err)
	}
	if got := run(t, filepath.Join(dst("first"), "hello")); got != "one" {
		t.Fatalf("first build runs %q, want one", got)
	}
	base, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	cached, _ := filepath.Glob(filepath.Join(base, "services", "*", "hello"))
	if len(cached) != 1 {
		t.Fatalf("cached binaries %v, want one", cached)
	}
	before := inode(t, cached[0])

	// Unchanged code, two platforms at once: both get it, not linked again.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, name := range []string{"second", "third"} {
		wg.Go(func() { errs[i] = build(dst(name)) })
	}
	wg.Wait()
	for i, name := range []string{"second", "third"} {
		if errs[i] != nil {
			t.Fatalf("%s build: %v", name, errs[i])
		}
		if got := run(t, filepath.Join(dst(name), "hello")); got != "one" {
			t.Fatalf("%s build runs %q, want one", name, got)
		}
	}
	if after := inode(t, cached[0]); after != before {
		t.Fatal("an unchanged package was built again")
	}

	// Changed code: the new build runs it; the earlier platform keeps its own.
	checkout(t, root, `"two"`)
	if err := build(dst("changed")); err != nil {
		t.Fatal(err)
	}
	if got := run(t, filepath.Join(dst("changed"), "hello")); got != "two" {
		t.Fatalf("build after the change runs %q, want two", got)
	}
	if got := run(t, filepath.Join(dst("first"), "hello")); got != "one" {
		t.Fatalf("the first platform's binary now runs %q: a rebuild replaced it", got)
	}

	// Code that does not compile: an error, and the output says why.
	checkout(t, root, `undefined`)
	var out bytes.Buffer
	if err := BuildServices(ctx, root, dst("broken"), []string{"hello"}, &out); err == nil {
		t.Fatal("a build that cannot compile succeeded")
	}
	if !strings.Contains(out.String(), "undefined") {
		t.Fatalf("go build's output %q does not name the error", out.String())
	}
}
