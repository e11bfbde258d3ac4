package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Every Service selects a workload, but the edge's alias (an ExternalName of
// the controller's Service, which checkEdge checks).
func TestEveryServiceSelectsAWorkload(t *testing.T) {
	objs := baseObjects(t)
	ws := workloads(objs)
	for _, name := range sortedKeys(services(objs)) {
		svc := services(objs)[name]
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		t.Run(name, func(t *testing.T) {
			w := serviceFor(t, svc, ws)
			if !selects(w.Selector, w.Template.Labels) {
				t.Errorf("%s %s: its selector %v does not match its own pod labels", w.Kind, w.Name, w.Selector)
			}
			if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Errorf("type %s, want ClusterIP", svc.Spec.Type)
			}
			for _, p := range svc.Spec.Ports {
				target := p.TargetPort
				if target.Type == intstr.Int && target.IntVal == 0 {
					target = intstr.FromInt32(p.Port)
				}
				if _, ok := containerPort(w.Template.Spec, target); !ok {
					t.Errorf("port %d: targetPort %s is no container port of %s %s", p.Port, target.String(), w.Kind, w.Name)
				}
			}
		})
	}
}

// Every workload is reachable through a Service of its own name-srv (the
// original layout's naming), the replica sets through their members' names
// under a headless <name>-hl, and the API services listen on port 3000.
func TestServiceNamesAndPorts(t *testing.T) {
	svcs := services(baseObjects(t))
	tests := []struct {
		service string
		port    int32
	}{
		{"auth-srv", 3000}, {"tickets-srv", 3000}, {"orders-srv", 3000}, {"payments-srv", 3000},
		{"expiration-srv", 3000}, {"client-srv", 3000},
		{"expiration-redis-srv", 6379}, {"nats-srv", 4222},
		// The governing Services of the clustered stores: a name per member.
		{"auth-mongo-hl", 27017}, {"tickets-mongo-hl", 27017}, {"orders-mongo-hl", 27017},
		{"payments-mongo-hl", 27017}, {"nats-hl", 6222},
	}
	for _, tt := range tests {
		svc, ok := svcs[tt.service]
		if !ok {
			t.Errorf("no Service %s", tt.service)
			continue
		}
		if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == tt.port }) {
			t.Errorf("Service %s does not expose port %d", tt.service, tt.port)
		}
	}
}

// The connection strings in the Deployments name Services and ports that
// exist, in the base and in every overlay: a typo in a host name would only
// show as a crash loop in a cluster. A URL may list several hosts
// (mongodb://a:1,b:2/...); a host is a Service, or a pod under its
// StatefulSet's governing Service (<statefulset>-<ordinal>.<service>).
// Credentials before the hosts (user:password@) are not a host; an HTTP
// URL without a port names its scheme's.
func TestConnectionURLsNameServices(t *testing.T) {
	url := regexp.MustCompile(`^(mongodb|nats|redis|https?)://(?:[^@/?]*@)?([^/?]+)`)
	for _, dir := range kustomizationDirs(t) {
		t.Run(dir, func(t *testing.T) {
			objs := rendered(t, dir)
			inv := inventoryOf(objs)
			for _, w := range workloads(objs) {
				for _, c := range w.Template.Spec.Containers {
					for _, e := range c.Env {
						m := url.FindStringSubmatch(e.Value)
						if m == nil {
							continue
						}
						for _, hostPort := range strings.Split(m[2], ",") {
							if port, ok := defaultPorts[m[1]]; ok && !strings.Contains(hostPort, ":") {
								hostPort += ":" + port
							}
							if err := checkHost(inv, hostPort); err != nil {
								t.Errorf("%s %s: %s=%s: %v", w.Kind, w.Name, e.Name, e.Value, err)
							}
						}
					}
				}
			}
		})
	}
}

// checkHost checks that host:port names a Service of inv and one of its
// ports, or a pod of a StatefulSet under its governing Service. A host of
// two dots or more is outside this kustomization.
func checkHost(inv inventory, hostPort string) error {
	host, port, _ := strings.Cut(hostPort, ":")
	if strings.Count(host, ".") >= 2 {
		return nil
	}
	if port == "" {
		return fmt.Errorf("host %s names no port", host)
	}
	name := host
	if podName, service, dotted := strings.Cut(host, "."); dotted {
		name = service
		i := slices.IndexFunc(inv.statefulSets, func(s *appsv1.StatefulSet) bool { return s.Spec.ServiceName == service })
		if i < 0 {
			return fmt.Errorf("%s: %s governs no StatefulSet", host, service)
		}
		s := inv.statefulSets[i]
		ordinal, err := strconv.Atoi(strings.TrimPrefix(podName, s.Name+"-"))
		if err != nil || !strings.HasPrefix(podName, s.Name+"-") || ordinal >= int(replicasOf(s.Spec.Replicas)) {
			return fmt.Errorf("%s: %s is no pod of StatefulSet %s (%d replicas)", host, podName, s.Name, replicasOf(s.Spec.Replicas))
		}
	}
	svc, ok := inv.services[name]
	if !ok {
		return fmt.Errorf("%s names no Service", host)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return fmt.Sprint(p.Port) == port }) {
		return fmt.Errorf("Service %s has no port %s", name, port)
	}
	return nil
}

// Probes of the Go services use the paths the services serve (contract §1,
// Health), on their HTTP port; liveness never depends on the store.
func TestServiceProbesUseServedPaths(t *testing.T) {
	objs := baseObjects(t)
	for _, svc := range goServices {
		t.Run(svc, func(t *testing.T) {
			d := deploymentByImage(t, objs, "ticketing/"+svc)
			pod := d.Spec.Template.Spec
			for _, c := range pod.Containers {
				probes := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
				wantPath := map[string]string{"liveness": "/healthz", "readiness": "/readyz"}
				for kind, p := range probes {
					if p == nil || p.HTTPGet == nil {
						t.Errorf("%s: no HTTP %s probe", c.Name, kind)
						continue
					}
					if !servedProbePaths[p.HTTPGet.Path] {
						t.Errorf("%s: %s probe path %s is not served", c.Name, kind, p.HTTPGet.Path)
					}
					if p.HTTPGet.Path != wantPath[kind] {
						t.Errorf("%s: %s probe on %s, want %s", c.Name, kind, p.HTTPGet.Path, wantPath[kind])
					}
					if port, ok := containerPort(pod, p.HTTPGet.Port); !ok || port != 3000 {
						t.Errorf("%s: %s probe port %s is not container port 3000", c.Name, kind, p.HTTPGet.Port.String())
					}
				}
			}
		})
	}
}

// Every Secret key a pod reads (a variable's secretKeyRef, or a key of a
// Secret volume) is documented with the command that creates it, in the
// platform's namespace, so a fresh cluster gets exactly the keys the pods
// look up (from a literal, or from a file: the edge's certificate). A
// command may go on over lines ending in a backslash.
func TestSecretKeysAreDocumented(t *testing.T) {
	readme := strings.ReplaceAll(readFile(t, filepath.Join(repoRoot(t), "infra", "README.md")), "\\\n", " ")
	refs := secretKeys(t, append(slices.Clone(rendered(t, "infra/k8s")), loadtestObjects(t)...))
	if len(refs) == 0 {
		t.Fatal("no Secret key found: JWT_KEY and STRIPE_KEY must come from Secrets")
	}
	ns := platformNamespace(t).Name
	for _, ref := range sortedKeys(refs) {
		name, key, _ := strings.Cut(ref, "/")
		cmd := regexp.MustCompile(`kubectl -n ` + regexp.QuoteMeta(ns) + ` create secret generic ` + regexp.QuoteMeta(name) +
			`\b[^\n]*--from-(?:literal|file)=` + regexp.QuoteMeta(key) + `=`)
		if !cmd.MatchString(readme) {
			t.Errorf("infra/README.md has no `kubectl -n %s create secret generic %s ... --from-literal=%s=...` (or --from-file; read by %s)", ns, name, key, refs[ref])
		}
	}
	for _, want := range []string{"jwt-secret/JWT_KEY", "stripe-secret/STRIPE_KEY"} {
		if refs[want] == "" {
			t.Errorf("no workload reads %s (contract §6)", want)
		}
	}
}

// secretKeys are the "<secret>/<key>" a pod of objs reads, each with the
// name of one workload that reads it.
func secretKeys(t *testing.T, objs []Object) map[string]string {
	t.Helper()
	refs := map[string]string{}
	for _, w := range inventoryOf(objs).podTemplates() {
		pod := w.template.Spec
		for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			for _, e := range c.Env {
				if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil {
					refs[r.SecretKeyRef.Name+"/"+r.SecretKeyRef.Key] = w.String()
				}
			}
		}
		for _, v := range pod.Volumes {
			if v.Secret == nil {
				continue
			}
			if len(v.Secret.Items) == 0 {
				t.Errorf("%s: volume %s mounts every key of Secret %s: name the keys (items), so each is documented", w, v.Name, v.Secret.SecretName)
			}
			for _, item := range v.Secret.Items {
				refs[v.Secret.SecretName+"/"+item.Key] = w.String()
			}
		}
	}
	return refs
}

func TestWorkloadsAreHardened(t *testing.T) {
	objs := baseObjects(t)
	accounts := serviceAccounts(objs)
	for _, w := range workloads(objs) {
		t.Run(w.Kind+"/"+w.Name, func(t *testing.T) {
			checkLabels(t, "workload", w.Labels)
			volumes := map[string]bool{}
			for _, c := range w.ClaimTemplates {
				volumes[c.Name] = true
			}
			checkPod(t, w.Source, w.Template, accounts, volumes, true)
		})
	}
}

// serviceAccounts are the ServiceAccounts of objs by "<source>/<name>".
func serviceAccounts(objs []Object) map[string]*corev1.ServiceAccount {
	accounts := map[string]*corev1.ServiceAccount{}
	for _, o := range objs {
		if sa, ok := o.Obj.(*corev1.ServiceAccount); ok {
			accounts[o.Source+"/"+sa.Name] = sa
		}
	}
	return accounts
}

// checkPod checks the hardening every pod template shares: labels, its own
// ServiceAccount from the same source without an API token, a non-root
// RuntimeDefault pod, and each container as checkContainer says. claims are
// the volume claim templates' names, which containers may mount too.
func checkPod(t *testing.T, source string, tmpl corev1.PodTemplateSpec, accounts map[string]*corev1.ServiceAccount, claims map[string]bool, probes bool) {
	t.Helper()
	pod := tmpl.Spec
	checkLabels(t, "pod template", tmpl.Labels)
	sa, ok := accounts[source+"/"+pod.ServiceAccountName]
	if !ok {
		t.Errorf("serviceAccountName %q is not a ServiceAccount of %s", pod.ServiceAccountName, source)
	} else if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount %s mounts an API token nobody uses", sa.Name)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("pod mounts an API token nobody uses")
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("pod securityContext.runAsUser is not a non-zero number")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod seccompProfile is not RuntimeDefault")
	}
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = true
	}
	for name := range claims {
		volumes[name] = true
	}
	for _, c := range pod.Containers {
		checkContainer(t, c, volumes, probes)
	}
	// Init containers run first and exit: hardened the same, without probes.
	for _, c := range pod.InitContainers {
		checkContainer(t, c, volumes, false)
	}
}

func checkLabels(t *testing.T, what string, labels map[string]string) {
	t.Helper()
	for _, key := range []string{"app.kubernetes.io/name", "app.kubernetes.io/component"} {
		if labels[key] == "" {
			t.Errorf("%s: no label %s", what, key)
		}
	}
	if labels["app.kubernetes.io/part-of"] != "ticketing" {
		t.Errorf("%s: label app.kubernetes.io/part-of is not ticketing", what)
	}
}

// checkContainer checks resources, probes (where the container serves: not
// a Job's), the security context and volume mounts.
func checkContainer(t *testing.T, c corev1.Container, volumes map[string]bool, probes bool) {
	t.Helper()
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[res]; !ok {
			t.Errorf("%s: no %s request", c.Name, res)
		}
		if _, ok := c.Resources.Limits[res]; !ok {
			t.Errorf("%s: no %s limit", c.Name, res)
		}
	}
	if probes && (c.LivenessProbe == nil || c.ReadinessProbe == nil) {
		t.Errorf("%s: needs liveness and readiness probes", c.Name)
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatalf("%s: no securityContext", c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", c.Name)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("%s: capabilities must drop ALL and add none", c.Name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged", c.Name)
	}
	for _, m := range c.VolumeMounts {
		if !volumes[m.Name] {
			t.Errorf("%s: volumeMount %s has no volume or claim template", c.Name, m.Name)
		}
	}
	if c.Image == "" || (!strings.HasPrefix(c.Image, "ticketing/") && !strings.Contains(c.Image, ":")) {
		t.Errorf("%s: third-party image %q must name a tag", c.Name, c.Image)
	}
}

// The stores keep their data on persistent volumes.
func TestStatefulStoresUsePersistentVolumes(t *testing.T) {
	dataPath := map[string]string{"mongo": "/data/db", "redis": "/data", "nats": "/data"}
	var seen int
	for _, w := range workloads(baseObjects(t)) {
		if w.Kind != "StatefulSet" {
			continue
		}
		seen++
		if len(w.ClaimTemplates) == 0 {
			t.Errorf("StatefulSet %s has no volumeClaimTemplates", w.Name)
			continue
		}
		claim := w.ClaimTemplates[0].Name
		c := w.Template.Spec.Containers[0]
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == claim && m.MountPath == dataPath[c.Name]
		}) {
			t.Errorf("StatefulSet %s: container %s does not mount claim %s at %s", w.Name, c.Name, claim, dataPath[c.Name])
		}
	}
	if seen != 6 { // four MongoDBs, Redis, NATS
		t.Errorf("%d StatefulSets, want 6", seen)
	}
}

func TestDockerfilesBuildStaticNonRootImages(t *testing.T) {
	root := repoRoot(t)
	for _, svc := range goServices {
		t.Run(svc, func(t *testing.T) {
			df := readFile(t, filepath.Join(root, svc, "Dockerfile"))
			for _, want := range []string{
				"CGO_ENABLED=0",
				"go build -ldflags=\"-s -w\" -o /out/" + svc + " ./" + svc,
				"COPY common/ common/",
				"COPY " + svc + "/ " + svc + "/",
				"./common|./" + svc + ")",
				"FROM gcr.io/distroless/static-debian12:nonroot",
				"USER 65532:65532",
				"EXPOSE 3000",
				`ENTRYPOINT ["/` + svc + `"]`,
			} {
				if !strings.Contains(df, want) {
					t.Errorf("%s/Dockerfile lacks %q", svc, want)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(root, ".dockerignore")); err != nil {
		t.Error(err)
	}
}
