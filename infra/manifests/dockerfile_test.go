package manifests

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// There is no container engine here, so the build stage of each Go image's
// Dockerfile (the services' and the load generator's) is replayed on the
// host: its WORKDIR becomes a temporary directory, ENV is applied, COPY
// copies from the repository root (the build context, less what
// .dockerignore excludes), RUN runs with sh (cache mounts dropped; the
// absolute output path /out/ mapped into the temporary directory). It proves
// that the workspace cut down to the image's modules resolves and builds the
// binary the final stage copies.
func TestDockerfileBuildStageBuilds(t *testing.T) {
	root := repoRoot(t)
	for _, svc := range goImages {
		t.Run(svc, func(t *testing.T) {
			if !hasMain(filepath.Join(root, svc)) {
				t.Skipf("%s/main.go does not exist yet", svc)
			}
			t.Parallel()
			stage := buildStage(t, readFile(t, filepath.Join(root, svc, "Dockerfile")))
			ignore := readDockerignore(t, root)
			tmp := t.TempDir()
			workdir, out := filepath.Join(tmp, "workdir"), filepath.Join(tmp, "out")
			for _, dir := range []string{workdir, out} {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			env := append(os.Environ(), "GOWORK=", "GOFLAGS=")
			for _, ins := range stage {
				op, args, _ := strings.Cut(ins, " ")
				switch strings.ToUpper(op) {
				case "FROM", "WORKDIR":
				case "ENV":
					env = append(env, strings.Fields(args)...)
				case "COPY":
					srcs := strings.Fields(args)
					dest := filepath.Join(workdir, srcs[len(srcs)-1])
					for _, src := range srcs[:len(srcs)-1] {
						copyFromContext(t, root, src, dest, ignore)
					}
				case "RUN":
					var words []string
					for _, w := range strings.Fields(args) {
						if !strings.HasPrefix(w, "--mount=") {
							words = append(words, w)
						}
					}
					script := strings.ReplaceAll(strings.Join(words, " "), " /out/", " "+out+"/")
					cmd := exec.Command("sh", "-c", script)
					cmd.Dir, cmd.Env = workdir, env
					if output, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("RUN %s: %v\n%s", script, err, output)
					}
				default:
					t.Fatalf("the replay does not know %s", op)
				}
			}
			if _, err := os.Stat(filepath.Join(out, svc)); err != nil {
				t.Errorf("the build stage did not produce /out/%s: %v", svc, err)
			}
		})
	}
}

// buildStage returns the instructions of the first stage, continuation lines
// joined, comments and parser directives dropped.
func buildStage(t *testing.T, dockerfile string) []string {
	t.Helper()
	var instructions []string
	var current string
	for _, line := range strings.Split(dockerfile, "\n") {
		trimmed := strings.TrimSpace(line)
		if current == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			current += cont + " "
			continue
		}
		instructions = append(instructions, current+trimmed)
		current = ""
	}
	var stage []string
	for i, ins := range instructions {
		if i > 0 && strings.HasPrefix(strings.ToUpper(ins), "FROM ") {
			break
		}
		stage = append(stage, ins)
	}
	if len(stage) == len(instructions) {
		t.Fatal("the Dockerfile has a single stage: want a build stage and a runtime stage")
	}
	return stage
}

// copyFromContext copies src (a path relative to the context, possibly a
// glob, possibly a directory) to dest as Docker's COPY does, leaving out what
// .dockerignore excludes from the context.
func copyFromContext(t *testing.T, root, src, dest string, ignore []string) {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(root, src))
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) == 0 && !strings.ContainsAny(src, "*?[") {
		t.Fatalf("COPY %s: not in the build context", src)
	}
	for _, match := range matches {
		info, err := os.Stat(match)
		if err != nil {
			t.Fatal(err)
		}
		target := dest
		if !info.IsDir() && (strings.HasSuffix(dest, "/") || isDir(dest)) {
			target = filepath.Join(dest, filepath.Base(match))
		}
		err = filepath.WalkDir(match, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			if dockerignored(filepath.ToSlash(rel), ignore) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			within, _ := filepath.Rel(match, path)
			to := filepath.Join(target, within)
			if d.IsDir() {
				return os.MkdirAll(to, 0o755)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
				return err
			}
			return os.WriteFile(to, data, 0o644)
		})
		if err != nil {
			t.Fatalf("COPY %s: %v", src, err)
		}
	}
}

// dockerignored reports whether .dockerignore patterns exclude rel (a
// slash-separated path in the context): a pattern matches the path or one of
// its parent directories, and a leading **/ matches at any depth.
func dockerignored(rel string, patterns []string) bool {
	parts := strings.Split(rel, "/")
	for _, pattern := range patterns {
		anyDepth := strings.HasPrefix(pattern, "**/")
		pattern = strings.TrimPrefix(pattern, "**/")
		for start := 0; start < len(parts); start++ {
			if start > 0 && !anyDepth {
				break
			}
			for end := start + 1; end <= len(parts); end++ {
				if ok, _ := filepath.Match(pattern, strings.Join(parts[start:end], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

func readDockerignore(t *testing.T, root string) []string {
	t.Helper()
	var patterns []string
	for _, line := range strings.Split(readFile(t, filepath.Join(root, ".dockerignore")), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf(".dockerignore exception %q: the replay does not implement exceptions", line)
		}
		patterns = append(patterns, strings.TrimSuffix(line, "/"))
	}
	return patterns
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

func TestDockerignoreMatching(t *testing.T) {
	patterns := []string{".git", "client", "**/node_modules", "**/*_test.go", "**/*.md"}
	tests := []struct {
		path string
		want bool
	}{
		{"auth/main.go", false},
		{"auth/main_test.go", true},
		{"auth/httpapi/httpapi_test.go", true},
		{"client/package.json", true},
		{"common/client/x.go", false},
		{".git/HEAD", true},
		{"auth/node_modules/x/y.js", true},
		{"README.md", true},
		{"common/go.mod", false},
	}
	for _, tt := range tests {
		if got := dockerignored(tt.path, patterns); got != tt.want {
			t.Errorf("dockerignored(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}
