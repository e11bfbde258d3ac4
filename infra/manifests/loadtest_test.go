package manifests

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// The load generator's Job (infra/loadtest) is checked like the workloads of
// the base: decoded strictly, rendered by kustomize, hardened, and its image
// built by skaffold (in the loadtest profile only). It is never part of the
// base: a deploy must not start a load test.

func loadtestDir(t testing.TB) string { return filepath.Join(repoRoot(t), "infra", "loadtest") }

// loadtestObjects renders infra/loadtest with kustomize and decodes it strictly.
func loadtestObjects(t *testing.T) []Object {
	t.Helper()
	objs, err := RenderAndDecode(loadtestDir(t))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func loadtestJob(t *testing.T, objs []Object) *batchv1.Job {
	t.Helper()
	var jobs []*batchv1.Job
	for _, o := range objs {
		if j, ok := o.Obj.(*batchv1.Job); ok {
			jobs = append(jobs, j)
		}
	}
	if len(jobs) != 1 {
		t.Fatalf("infra/loadtest renders %d Jobs, want 1", len(jobs))
	}
	return jobs[0]
}

// Every manifest file of infra/loadtest decodes strictly, the kustomization
// lists exactly them, and it renders one Job, its ServiceAccount and its
// NetworkPolicy (the namespace denies every connection no policy allows).
func TestLoadtestManifestsDecodeAndRender(t *testing.T) {
	dir := loadtestDir(t)
	resources, files := kustomization(t, dir)
	documents := 0
	for _, name := range files {
		objs, err := LoadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		documents += len(objs)
	}
	if got, want := slices.Sorted(slices.Values(resources)), slices.Sorted(slices.Values(files)); !slices.Equal(got, want) {
		t.Errorf("kustomization resources = %v, want the files %v", got, want)
	}
	objs := loadtestObjects(t)
	if len(objs) != documents {
		t.Errorf("rendered %d objects, want %d (one per document)", len(objs), documents)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Obj.GetObjectKind().GroupVersionKind().Kind)
	}
	if slices.Sort(kinds); !slices.Equal(kinds, []string{"Job", "NetworkPolicy", "ServiceAccount"}) {
		t.Errorf("kinds %v, want one Job, its ServiceAccount and its NetworkPolicy", kinds)
	}
}

// The Job's pod is hardened like every workload's (no probes: it serves
// nothing), runs once, and is bounded in time.
func TestLoadtestJobIsHardened(t *testing.T) {
	objs := loadtestObjects(t)
	job := loadtestJob(t, objs)
	checkLabels(t, "Job", job.Labels)
	checkPod(t, objs[0].Source, job.Spec.Template, serviceAccounts(objs), nil, false)
	spec := job.Spec
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q, want Never: a failed load test is a result", spec.Template.Spec.RestartPolicy)
	}
	if spec.BackoffLimit == nil || *spec.BackoffLimit != 0 {
		t.Error("backoffLimit must be 0: a failed load test must not run again")
	}
	if spec.ActiveDeadlineSeconds == nil || *spec.ActiveDeadlineSeconds <= 0 {
		t.Error("no activeDeadlineSeconds: the Job must be bounded in time")
	}
	if spec.TTLSecondsAfterFinished == nil || *spec.TTLSecondsAfterFinished <= 0 {
		t.Error("no ttlSecondsAfterFinished: finished Jobs would pile up")
	}
	if cs := spec.Template.Spec.Containers; len(cs) != 1 || cs[0].Image != "ticketing/loadtest" {
		t.Errorf("containers %v, want one running ticketing/loadtest", cs)
	}
}

// loadtestArgs are the Job's flags, written -name=value (or -name for a
// boolean), by name.
func loadtestArgs(t *testing.T, job *batchv1.Job) map[string]string {
	t.Helper()
	c := job.Spec.Template.Spec.Containers[0]
	if len(c.Command) != 0 {
		t.Errorf("command %v: the image's entrypoint is the load generator", c.Command)
	}
	args := map[string]string{}
	for _, a := range c.Args {
		name, value, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name == "" {
			t.Fatalf("argument %q: want -name=value", a)
		}
		args[name] = value
	}
	return args
}

// The Job drives the site through the edge's in-cluster alias, the address
// the client renders pages through, with the host the routes answer for
// (also the TLS server name); the base kustomization holds no Job.
func TestLoadtestJobTargetsTheEdge(t *testing.T) {
	base := baseObjects(t)
	args := loadtestArgs(t, loadtestJob(t, loadtestObjects(t)))
	client := deploymentByImage(t, base, "ticketing/client")
	apiBase := envNames(client.Spec.Template.Spec.Containers[0])["API_BASE_URL"].Value
	if apiBase == "" || args["base"] != apiBase {
		t.Errorf("-base=%q, want the client's API_BASE_URL %q", args["base"], apiBase)
	}
	if host := siteHost(t); args["host"] != host {
		t.Errorf("-host=%q, want the routes' host %q", args["host"], host)
	}
	for _, o := range base {
		if _, ok := o.Obj.(*batchv1.Job); ok {
			t.Errorf("%s: the base must not hold a Job (it would run on every deploy)", o)
		}
	}
}

// The Job's arguments are flags the load generator knows, with valid values:
// the binary, built from the workspace, parses them (-h after them stops it
// before anything runs).
func TestLoadtestJobArgsParse(t *testing.T) {
	if !hasMain(filepath.Join(repoRoot(t), "loadtest")) {
		t.Skip("loadtest/main.go does not exist yet")
	}
	job := loadtestJob(t, loadtestObjects(t))
	loadtestArgs(t, job) // the form the checks above read
	bin := buildService(t, "loadtest")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(slices.Clone(job.Spec.Template.Spec.Containers[0].Args), "-h")
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Errorf("loadtest %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestLoadtestDockerfile(t *testing.T) {
	df := readFile(t, filepath.Join(repoRoot(t), "loadtest", "Dockerfile"))
	for _, want := range []string{
		"CGO_ENABLED=0",
		`go build -ldflags="-s -w" -o /out/loadtest ./loadtest`,
		"COPY loadtest/ loadtest/",
		"./loadtest)",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER 65532:65532",
		`ENTRYPOINT ["/loadtest"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("loadtest/Dockerfile lacks %q", want)
		}
	}
}

// skaffold builds the load generator's image only in its profile, whose
// manifests are infra/loadtest alone and run exactly the images it builds.
func TestSkaffoldLoadtestProfile(t *testing.T) {
	root := repoRoot(t)
	cfg, err := loadSkaffold(t, []byte(readFile(t, filepath.Join(root, "skaffold.yaml"))))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.Build.Artifacts {
		if a.Image == "ticketing/loadtest" {
			t.Error("the main pipeline builds ticketing/loadtest: only the loadtest profile may")
		}
	}
	var p *skaffoldPipeline
	for i := range cfg.Profiles {
		if cfg.Profiles[i].Name == "loadtest" {
			p = &cfg.Profiles[i].skaffoldPipeline
		}
	}
	if p == nil {
		t.Fatal("no skaffold profile loadtest")
	}
	if p.Build == nil || len(p.Build.Artifacts) != 1 {
		t.Fatal("profile loadtest must build exactly one artifact")
	}
	a := p.Build.Artifacts[0]
	if a.Image != "ticketing/loadtest" || a.Context != "." || a.Docker == nil || a.Docker.Dockerfile != "loadtest/Dockerfile" {
		t.Errorf("artifact %+v, want ticketing/loadtest from . with loadtest/Dockerfile", a)
	}
	if p.Manifests == nil || p.Manifests.Kustomize == nil || !slices.Equal(p.Manifests.Kustomize.Paths, []string{"infra/loadtest"}) {
		t.Fatal("profile loadtest must render infra/loadtest alone")
	}
	var run []string
	for _, o := range loadtestObjects(t) {
		if j, ok := o.Obj.(*batchv1.Job); ok {
			for _, c := range j.Spec.Template.Spec.Containers {
				run = append(run, c.Image)
			}
		}
	}
	if !slices.Equal(run, []string{"ticketing/loadtest"}) {
		t.Errorf("profile loadtest runs %v, want exactly the image it builds", run)
	}
}
