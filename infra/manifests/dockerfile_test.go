package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// There is no container engine here, so the build stage of each service's
// Dockerfile is replayed on the host: its WORKDIR becomes a temporary
// directory, ENV is applied, COPY copies from the repository root (the build
// context), RUN runs with sh (cache mounts dropped; the absolute output path
// /out/ mapped into the temporary directory). It proves that the workspace cut
// down to common and the service resolves and builds the binary the final
// stage copies.
func TestDockerfileBuildStageBuilds(t *testing.T) {
	root := repoRoot(t)
	for _, svc := range goServices {
		t.Run(svc, func(t *testing.T) {
			if !hasMain(filepath.Join(root, svc)) {
				t.Skipf("%s/main.go does not exist yet", svc)
			}
			t.Parallel()
			stage := buildStage(t, readFile(t, filepath.Join(root, svc, "Dockerfile")))
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
						copyFromContext(t, root, src, dest)
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
// glob, possibly a directory) to dest as Docker's COPY does.
func copyFromContext(t *testing.T, root, src, dest string) {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(root, src))
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) == 0 && !strings.ContainsAny(src, "*?[") {
		t.Fatalf("COPY %s: not in the build context", src)
	}
	for _, m := range matches {
		info, err := os.Stat(m)
		if err != nil {
			t.Fatal(err)
		}
		target := dest
		if !info.IsDir() && strings.HasSuffix(dest, string(os.PathSeparator)) || !info.IsDir() && isDir(dest) {
			target = filepath.Join(dest, filepath.Base(m))
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("cp", "-R", m+suffixIfDir(info.IsDir()), target)
		if info.IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if output, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("COPY %s: %v\n%s", src, err, output)
		}
	}
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// suffixIfDir makes cp copy a directory's contents, as COPY dir/ dest/ does.
func suffixIfDir(dir bool) string {
	if dir {
		return "/."
	}
	return ""
}
