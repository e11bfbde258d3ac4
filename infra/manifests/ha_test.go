package manifests

import (
	"fmt"
	"maps"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The rules that make the stores' replicas one cluster rather than
// independent copies, and the availability wiring around them: stream
// replicas, replica-set URIs, drain times, disruption budgets, autoscalers,
// spread. Each rule is a function from rendered objects to the problems it
// finds, so the same rules run over the base, every overlay, and mutated
// copies that must fail (ha_rules_test.go).

// inventory is a rendered set of objects by kind.
type inventory struct {
	deployments     []*appsv1.Deployment
	statefulSets    []*appsv1.StatefulSet
	jobs            []*batchv1.Job
	services        map[string]*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	secrets         []*corev1.Secret
	pdbs            []*policyv1.PodDisruptionBudget
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	ingresses       []*networkingv1.Ingress
	gateways        []*gatewayv1.Gateway
	httpRoutes      []*gatewayv1.HTTPRoute
	networkPolicies []*networkingv1.NetworkPolicy
	serviceAccounts map[string]*corev1.ServiceAccount
	roles           []*rbacv1.Role
	roleBindings    []*rbacv1.RoleBinding
	clusterRoles    []*rbacv1.ClusterRole
	clusterBindings []*rbacv1.ClusterRoleBinding
}

func inventoryOf(objs []Object) inventory {
	inv := inventory{services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{},
		serviceAccounts: map[string]*corev1.ServiceAccount{}}
	for _, o := range objs {
		switch obj := o.Obj.(type) {
		case *appsv1.Deployment:
			inv.deployments = append(inv.deployments, obj)
		case *appsv1.StatefulSet:
			inv.statefulSets = append(inv.statefulSets, obj)
		case *batchv1.Job:
			inv.jobs = append(inv.jobs, obj)
		case *corev1.Secret:
			inv.secrets = append(inv.secrets, obj)
		case *networkingv1.NetworkPolicy:
			inv.networkPolicies = append(inv.networkPolicies, obj)
		case *corev1.Service:
			inv.services[obj.Name] = obj
		case *corev1.ConfigMap:
			inv.configMaps[obj.Name] = obj
		case *policyv1.PodDisruptionBudget:
			inv.pdbs = append(inv.pdbs, obj)
		case *autoscalingv2.HorizontalPodAutoscaler:
			inv.hpas = append(inv.hpas, obj)
		case *networkingv1.Ingress:
			inv.ingresses = append(inv.ingresses, obj)
		case *gatewayv1.Gateway:
			inv.gateways = append(inv.gateways, obj)
		case *gatewayv1.HTTPRoute:
			inv.httpRoutes = append(inv.httpRoutes, obj)
		case *corev1.ServiceAccount:
			inv.serviceAccounts[obj.Name] = obj
		case *rbacv1.Role:
			inv.roles = append(inv.roles, obj)
		case *rbacv1.RoleBinding:
			inv.roleBindings = append(inv.roleBindings, obj)
		case *rbacv1.ClusterRole:
			inv.clusterRoles = append(inv.clusterRoles, obj)
		case *rbacv1.ClusterRoleBinding:
			inv.clusterBindings = append(inv.clusterBindings, obj)
		}
	}
	return inv
}

// pods are the workloads' pod templates with their kind, name, namespace
// and replicas.
type pods struct {
	kind, name, namespace string
	replicas              int32
	template              *corev1.PodTemplateSpec
}

// workloads are the Deployments and StatefulSets: what runs all the time.
func (inv inventory) workloads() []pods {
	var out []pods
	for _, d := range inv.deployments {
		out = append(out, pods{"Deployment", d.Name, d.Namespace, replicasOf(d.Spec.Replicas), &d.Spec.Template})
	}
	for _, s := range inv.statefulSets {
		out = append(out, pods{"StatefulSet", s.Name, s.Namespace, replicasOf(s.Spec.Replicas), &s.Spec.Template})
	}
	return out
}

// podTemplates are the workloads and the Jobs: every pod that may run.
func (inv inventory) podTemplates() []pods {
	out := inv.workloads()
	for _, j := range inv.jobs {
		out = append(out, pods{"Job", j.Name, j.Namespace, 1, &j.Spec.Template})
	}
	return out
}

func (p pods) String() string { return p.kind + " " + p.name }

func replicasOf(r *int32) int32 {
	if r == nil {
		return 1 // the API server's default
	}
	return *r
}

// storeKind is what a StatefulSet runs, from its first container's image:
// "mongo", "nats" or "redis".
func storeKind(s *appsv1.StatefulSet) string {
	image, _, _ := strings.Cut(s.Spec.Template.Spec.Containers[0].Image, ":")
	return path.Base(image)
}

func envVar(c corev1.Container, name string) (corev1.EnvVar, bool) {
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		return corev1.EnvVar{}, false
	}
	return c.Env[i], true
}

// argAfter is the argument that follows flag in args.
func argAfter(args []string, flag string) (string, bool) {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return "", false
	}
	return args[i+1], true
}

// fileFromConfigMap is the content of the file at p in container c of pod,
// when p lies in a volume mounted from a ConfigMap of inv.
func (inv inventory) fileFromConfigMap(pod corev1.PodSpec, c corev1.Container, p string) (string, error) {
	for _, m := range c.VolumeMounts {
		if path.Dir(p) != path.Clean(m.MountPath) {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm, ok := inv.configMaps[v.ConfigMap.Name]
			if !ok {
				return "", fmt.Errorf("volume %s names no ConfigMap %s", v.Name, v.ConfigMap.Name)
			}
			data, ok := cm.Data[path.Base(p)]
			if !ok {
				return "", fmt.Errorf("ConfigMap %s has no key %s", cm.Name, path.Base(p))
			}
			return data, nil
		}
	}
	return "", fmt.Errorf("%s is in no volume mounted from a ConfigMap", p)
}

// podNameFromField reports whether c sets POD_NAME from the pod's name.
func podNameFromField(c corev1.Container) bool {
	e, ok := envVar(c, "POD_NAME")
	return ok && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
}

// checkStores applies to every StatefulSet the rule of its store: more than
// one replica only as a cluster.
func checkStores(inv inventory) []error {
	var errs []error
	for _, s := range inv.statefulSets {
		var found []error
		switch kind := storeKind(s); kind {
		case "mongo":
			found = checkMongo(inv, s)
		case "nats":
			found = checkNATS(inv, s)
		case "redis":
			found = checkRedis(inv, s)
		default:
			found = []error{fmt.Errorf("runs %s, a store no rule here knows", kind)}
		}
		for _, err := range found {
			errs = append(errs, fmt.Errorf("StatefulSet %s: %w", s.Name, err))
		}
	}
	return errs
}

// checkGoverning checks what members that find each other by name need:
// a headless governing Service selecting them that publishes their names
// before they are ready, and, with more than one, a parallel start.
func checkGoverning(inv inventory, s *appsv1.StatefulSet) []error {
	var errs []error
	svc, ok := inv.services[s.Spec.ServiceName]
	switch {
	case !ok:
		errs = append(errs, fmt.Errorf("serviceName %q names no Service", s.Spec.ServiceName))
	case svc.Spec.ClusterIP != corev1.ClusterIPNone:
		errs = append(errs, fmt.Errorf("governing Service %s is not headless (clusterIP: None): the members get no DNS name each", svc.Name))
	case !svc.Spec.PublishNotReadyAddresses:
		errs = append(errs, fmt.Errorf("governing Service %s lacks publishNotReadyAddresses: the members become ready only once they have found each other by name", svc.Name))
	case !selects(svc.Spec.Selector, s.Spec.Template.Labels):
		errs = append(errs, fmt.Errorf("governing Service %s does not select its pods", svc.Name))
	}
	if replicasOf(s.Spec.Replicas) > 1 && s.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		errs = append(errs, fmt.Errorf("podManagementPolicy %q, want Parallel: no member is ready before the others answer, so an ordered start stops at the first", s.Spec.PodManagementPolicy))
	}
	return errs
}

// mongoMembers are the hosts of a MongoDB StatefulSet's replica set
// members: <pod>.<governing Service>:27017, as the members' script names
// them.
func mongoMembers(s *appsv1.StatefulSet) []string {
	var hosts []string
	for i := range replicasOf(s.Spec.Replicas) {
		hosts = append(hosts, fmt.Sprintf("%s-%d.%s:27017", s.Name, i, s.Spec.ServiceName))
	}
	return hosts
}

func checkMongo(inv inventory, s *appsv1.StatefulSet) []error {
	n := replicasOf(s.Spec.Replicas)
	pod := s.Spec.Template.Spec
	c := pod.Containers[0]
	set, ok := argAfter(c.Args, "--replSet")
	if !ok || set == "" {
		if n > 1 {
			return []error{fmt.Errorf("%d replicas of mongod without --replSet: independent databases, not one replica set", n)}
		}
		return nil // a standalone; the MONGO_URI rule refuses it to the services
	}
	var errs []error
	if e, _ := envVar(c, "MONGO_REPLICAS"); e.Value != strconv.Itoa(int(n)) {
		errs = append(errs, fmt.Errorf("MONGO_REPLICAS=%q, want %d (its replicas): the members' script would initiate or grow the set to another size", e.Value, n))
	}
	if e, _ := envVar(c, "MONGO_SERVICE"); e.Value != s.Spec.ServiceName {
		errs = append(errs, fmt.Errorf("MONGO_SERVICE=%q, want its governing Service %q: the members' names would not resolve", e.Value, s.Spec.ServiceName))
	}
	if !podNameFromField(c) {
		errs = append(errs, fmt.Errorf("POD_NAME is not set from metadata.name: the members' script cannot tell its ordinal"))
	}
	errs = append(errs, checkGoverning(inv, s)...)
	// The readiness probe runs the script that initiates and grows the set.
	if p := c.ReadinessProbe; p == nil || p.Exec == nil || len(p.Exec.Command) == 0 {
		errs = append(errs, fmt.Errorf("no exec readiness probe: nothing initiates the replica set"))
	} else if script, err := inv.fileFromConfigMap(pod, c, p.Exec.Command[len(p.Exec.Command)-1]); err != nil {
		errs = append(errs, fmt.Errorf("readiness probe: %w", err))
	} else if !strings.Contains(script, "replSetInitiate") {
		errs = append(errs, fmt.Errorf("the readiness probe's script never initiates the replica set"))
	}
	return errs
}

// natsConfig parses a NATS server configuration with nats-server's own
// parser, as the pod named podName reads it ($POD_NAME resolved to it).
func natsConfig(conf, podName string) (*server.Options, error) {
	opts := &server.Options{}
	if strings.Contains(conf, "$POD_NAME") {
		// A variable defined in the file resolves like the environment's.
		conf = fmt.Sprintf("POD_NAME: %q\n%s", podName, conf)
	}
	// The users' passwords come from Secrets through the environment: a
	// placeholder stands in for each (checkNATS checks where they come from).
	for _, v := range passwordVars(conf) {
		conf = fmt.Sprintf("%s: %q\n%s", v, "placeholder-"+v, conf)
	}
	if err := opts.ProcessConfigString(conf); err != nil {
		return nil, err
	}
	return opts, nil
}

func checkNATS(inv inventory, s *appsv1.StatefulSet) []error {
	n := replicasOf(s.Spec.Replicas)
	pod := s.Spec.Template.Spec
	c := pod.Containers[0]
	confPath, ok := argAfter(c.Args, "--config")
	if !ok {
		return []error{fmt.Errorf("nats-server runs without --config")}
	}
	conf, err := inv.fileFromConfigMap(pod, c, confPath)
	if err != nil {
		return []error{fmt.Errorf("--config: %w", err)}
	}
	first := s.Name + "-0"
	opts, err := natsConfig(conf, first)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", confPath, err)}
	}
	var errs []error
	if opts.ServerName != first {
		errs = append(errs, fmt.Errorf("server_name is %q in pod %s, want the pod's name (server_name: $POD_NAME): JetStream tells its servers apart by name", opts.ServerName, first))
	}
	if strings.Contains(conf, "$POD_NAME") && !podNameFromField(c) {
		errs = append(errs, fmt.Errorf("the configuration reads $POD_NAME, which is not set from metadata.name"))
	}
	if !opts.JetStream {
		errs = append(errs, fmt.Errorf("JetStream is not enabled"))
	}
	for _, v := range passwordVars(conf) {
		if e, ok := envVar(c, v); !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			errs = append(errs, fmt.Errorf("the configuration reads $%s, which is not set from a Secret", v))
		}
	}
	if len(opts.Users) == 0 {
		errs = append(errs, fmt.Errorf("no authorization users: every client could publish and consume anything"))
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return path.Clean(m.MountPath) == path.Clean(opts.StoreDir) &&
			slices.ContainsFunc(s.Spec.VolumeClaimTemplates, func(p corev1.PersistentVolumeClaim) bool { return p.Name == m.Name })
	}) {
		errs = append(errs, fmt.Errorf("JetStream's store_dir %q is not on the persistent volume", opts.StoreDir))
	}
	if _, err := server.NewServer(opts); err != nil {
		errs = append(errs, fmt.Errorf("nats-server refuses the configuration: %w", err))
	}
	if n > 1 {
		if opts.Cluster.Name == "" {
			errs = append(errs, fmt.Errorf("%d servers without a cluster name", n))
		}
		var want, got []string
		for i := range n {
			want = append(want, fmt.Sprintf("nats://%s-%d.%s:%d", s.Name, i, s.Spec.ServiceName, opts.Cluster.Port))
		}
		for _, r := range opts.Routes {
			got = append(got, r.String())
		}
		if slices.Sort(got); !slices.Equal(got, want) {
			errs = append(errs, fmt.Errorf("%d servers but cluster routes %v, want one per ordinal %v", n, got, want))
		}
		errs = append(errs, checkGoverning(inv, s)...)
	}
	// Lame duck mode (the preStop hook) runs its grace period and duration
	// before the server exits; SIGKILL must not cut it short.
	ldm := opts.LameDuckGracePeriod + opts.LameDuckDuration
	if grace := gracePeriod(pod); time.Duration(grace)*time.Second <= ldm {
		errs = append(errs, fmt.Errorf("terminationGracePeriodSeconds %d does not cover lame duck mode (%s + %s) and the store's flush",
			grace, opts.LameDuckGracePeriod, opts.LameDuckDuration))
	}
	if h := c.Lifecycle; h == nil || h.PreStop == nil || h.PreStop.Exec == nil ||
		!slices.Contains(h.PreStop.Exec.Command, "ldm="+opts.PidFile) {
		errs = append(errs, fmt.Errorf("no preStop hook signals lame duck mode through the pid_file %q", opts.PidFile))
	}
	return errs
}

func checkRedis(inv inventory, s *appsv1.StatefulSet) []error {
	n := replicasOf(s.Spec.Replicas)
	if n <= 1 {
		return nil
	}
	runsSentinel, usesSentinel := false, false
	for _, w := range inv.workloads() {
		for _, c := range w.template.Spec.Containers {
			if strings.Contains(strings.Join(append(slices.Clone(c.Command), c.Args...), " "), "sentinel") {
				runsSentinel = true
			}
			_, addrs := envVar(c, "REDIS_SENTINEL_ADDRS")
			_, master := envVar(c, "REDIS_SENTINEL_MASTER")
			_, plain := envVar(c, "REDIS_URL")
			if addrs && master && !plain {
				usesSentinel = true
			}
		}
	}
	if !runsSentinel || !usesSentinel {
		return []error{fmt.Errorf("%d Redis replicas without Sentinel: independent servers that would split the jobs between them "+
			"(a Sentinel must run, and expiration connect through REDIS_SENTINEL_ADDRS and REDIS_SENTINEL_MASTER instead of REDIS_URL)", n)}
	}
	return nil
}

// statefulSetBehind is the StatefulSet a URL reaches, through the Service
// its host names.
func (inv inventory) statefulSetBehind(rawURL string) *appsv1.StatefulSet {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	svc, ok := inv.services[u.Hostname()]
	if !ok {
		return nil
	}
	for _, s := range inv.statefulSets {
		if selects(svc.Spec.Selector, s.Spec.Template.Labels) {
			return s
		}
	}
	return nil
}

// checkStreamReplicas: every service on NATS says how many replicas its
// streams get, within what the code accepts and what the cluster has.
func checkStreamReplicas(inv inventory) []error {
	var errs []error
	for _, d := range inv.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			natsURL, ok := envVar(c, "NATS_URL")
			if !ok {
				continue
			}
			e, ok := envVar(c, "NATS_STREAM_REPLICAS")
			if !ok {
				errs = append(errs, fmt.Errorf("Deployment %s: NATS_URL without NATS_STREAM_REPLICAS", d.Name))
				continue
			}
			r, err := strconv.Atoi(e.Value)
			if err != nil || r < 1 || r > 5 {
				errs = append(errs, fmt.Errorf("Deployment %s: NATS_STREAM_REPLICAS=%q is not an integer from 1 to 5", d.Name, e.Value))
				continue
			}
			s := inv.statefulSetBehind(natsURL.Value)
			if s == nil {
				errs = append(errs, fmt.Errorf("Deployment %s: NATS_URL %s reaches no StatefulSet", d.Name, natsURL.Value))
				continue
			}
			if servers := replicasOf(s.Spec.Replicas); int32(r) > servers {
				errs = append(errs, fmt.Errorf("Deployment %s: NATS_STREAM_REPLICAS=%d exceeds the %d NATS servers: the stream could not be created", d.Name, r, servers))
			}
		}
	}
	return errs
}

// checkMongoURIs: every MONGO_URI names a replica set by its name and lists
// exactly its members.
func checkMongoURIs(inv inventory) []error {
	var errs []error
	for _, d := range inv.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			e, ok := envVar(c, "MONGO_URI")
			if !ok {
				continue
			}
			if err := checkMongoURI(inv, e.Value); err != nil {
				errs = append(errs, fmt.Errorf("Deployment %s: MONGO_URI %s: %w", d.Name, e.Value, err))
			}
		}
	}
	return errs
}

func checkMongoURI(inv inventory, uri string) error {
	rest, ok := strings.CutPrefix(uri, "mongodb://")
	if !ok {
		return fmt.Errorf("not a mongodb:// URI")
	}
	hostList, rest, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(hostList, "@"); at >= 0 {
		hostList = hostList[at+1:] // after the credentials, which credentials_test.go checks
	}
	_, rawQuery, _ := strings.Cut(rest, "?")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return err
	}
	set := query.Get("replicaSet")
	if set == "" {
		return fmt.Errorf("names no replicaSet: the driver would use one member as a standalone server")
	}
	hosts := strings.Split(hostList, ",")
	_, service, _ := strings.Cut(hosts[0], ".")
	service, _, _ = strings.Cut(service, ":")
	i := slices.IndexFunc(inv.statefulSets, func(s *appsv1.StatefulSet) bool {
		return s.Spec.ServiceName == service && storeKind(s) == "mongo"
	})
	if i < 0 {
		return fmt.Errorf("host %s is no member of a MongoDB StatefulSet (<pod>.<governing Service>:27017)", hosts[0])
	}
	s := inv.statefulSets[i]
	if got, _ := argAfter(s.Spec.Template.Spec.Containers[0].Args, "--replSet"); got != set {
		return fmt.Errorf("replicaSet=%s, but %s runs --replSet %q", set, s.Name, got)
	}
	want := mongoMembers(s)
	if got := slices.Sorted(slices.Values(hosts)); !slices.Equal(got, want) {
		return fmt.Errorf("lists %v, want every member of %s: %v", got, s.Name, want)
	}
	return nil
}

func gracePeriod(pod corev1.PodSpec) int64 {
	if pod.TerminationGracePeriodSeconds == nil {
		return corev1.DefaultTerminationGracePeriodSeconds
	}
	return *pod.TerminationGracePeriodSeconds
}

// checkGracePeriods: each service's pods have the time their drain takes,
// the preStop sleep and then the bounds of its shutdown (drain[svc], in
// seconds, read from the code by drainBounds).
func checkGracePeriods(inv inventory, drain map[string]drainBudget) []error {
	var errs []error
	for _, d := range inv.deployments {
		pod := d.Spec.Template.Spec
		for _, c := range pod.Containers {
			svc, ok := strings.CutPrefix(c.Image, "ticketing/")
			budget, known := drain[svc]
			if !ok || !known {
				continue
			}
			var preStop int64
			if h := c.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Sleep != nil {
				preStop = h.PreStop.Sleep.Seconds
			}
			if need := preStop + budget.seconds; gracePeriod(pod) < need {
				errs = append(errs, fmt.Errorf("Deployment %s: terminationGracePeriodSeconds %d < %d s, its drain (preStop %d s + %s)",
					d.Name, gracePeriod(pod), need, preStop, budget.detail))
			}
		}
	}
	return errs
}

// checkPDBs: each budget selects the pods of exactly one workload and lets
// at least one be evicted; every workload of two or more replicas has one.
func checkPDBs(inv inventory) []error {
	var errs []error
	covered := map[string]bool{}
	for _, b := range inv.pdbs {
		if b.Spec.Selector == nil || len(b.Spec.Selector.MatchLabels) == 0 || len(b.Spec.Selector.MatchExpressions) != 0 {
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s: want a matchLabels selector", b.Name))
			continue
		}
		var matched []pods
		for _, w := range inv.workloads() {
			if selects(b.Spec.Selector.MatchLabels, w.template.Labels) {
				matched = append(matched, w)
			}
		}
		if len(matched) != 1 {
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s selects %d workloads (%v), want 1", b.Name, len(matched), matched))
			continue
		}
		w := matched[0]
		covered[w.String()] = true
		switch maxU, minA := b.Spec.MaxUnavailable, b.Spec.MinAvailable; {
		case (maxU == nil) == (minA == nil):
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s: want exactly one of maxUnavailable and minAvailable", b.Name))
		case maxU != nil && maxU.Type == intstr.Int && maxU.IntVal < 1,
			minA != nil && minA.Type == intstr.Int && minA.IntVal >= w.replicas:
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s allows no eviction of the %d pods of %s: every node drain would block", b.Name, w.replicas, w))
		}
	}
	for _, w := range inv.workloads() {
		if w.replicas >= 2 && !covered[w.String()] {
			errs = append(errs, fmt.Errorf("%s runs %d replicas without a PodDisruptionBudget", w, w.replicas))
		}
	}
	return errs
}

// checkHPAs: each autoscaler scales a workload that exists, and the CPU
// utilization it targets is of requests every container sets.
func checkHPAs(inv inventory) []error {
	var errs []error
	for _, h := range inv.hpas {
		ref := h.Spec.ScaleTargetRef
		i := slices.IndexFunc(inv.workloads(), func(w pods) bool { return w.kind == ref.Kind && w.name == ref.Name })
		if i < 0 || ref.APIVersion != "apps/v1" {
			errs = append(errs, fmt.Errorf("HorizontalPodAutoscaler %s: scaleTargetRef %s %s/%s names no workload", h.Name, ref.APIVersion, ref.Kind, ref.Name))
			continue
		}
		w := inv.workloads()[i]
		if lowest := replicasOf(h.Spec.MinReplicas); lowest < 1 || lowest > h.Spec.MaxReplicas {
			errs = append(errs, fmt.Errorf("HorizontalPodAutoscaler %s: minReplicas %d, maxReplicas %d", h.Name, lowest, h.Spec.MaxReplicas))
		}
		for _, m := range h.Spec.Metrics {
			if m.Resource == nil || m.Resource.Name != corev1.ResourceCPU || m.Resource.Target.Type != autoscalingv2.UtilizationMetricType {
				continue
			}
			for _, c := range w.template.Spec.Containers {
				if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
					errs = append(errs, fmt.Errorf("HorizontalPodAutoscaler %s scales on CPU utilization, but container %s of %s requests no CPU", h.Name, c.Name, w))
				}
			}
		}
	}
	return errs
}

// revisionLabels are the labels a workload's controller adds to each pod,
// which matchLabelKeys may name though the template lacks them.
var revisionLabels = map[string]bool{"pod-template-hash": true}

// checkSpread: a topology spread constraint counts the workload's own pods:
// its labelSelector matches them, and with matchLabelKeys (none of them also
// in the selector) it is narrowed to their app.kubernetes.io/name.
func checkSpread(inv inventory) []error {
	var errs []error
	for _, w := range inv.workloads() {
		labels := w.template.Labels
		for _, tsc := range w.template.Spec.TopologySpreadConstraints {
			if tsc.LabelSelector == nil || !selects(tsc.LabelSelector.MatchLabels, labels) {
				errs = append(errs, fmt.Errorf("%s: spread over %s does not select its own pods", w, tsc.TopologyKey))
				continue
			}
			effective := maps.Clone(tsc.LabelSelector.MatchLabels)
			for _, key := range tsc.MatchLabelKeys {
				// The API server admits this in a pod template, then refuses
				// every pod the controller creates from it.
				if _, ok := tsc.LabelSelector.MatchLabels[key]; ok {
					errs = append(errs, fmt.Errorf("%s: spread over %s: %s is in both matchLabelKeys and labelSelector", w, tsc.TopologyKey, key))
				}
				if _, ok := labels[key]; !ok && !revisionLabels[key] {
					errs = append(errs, fmt.Errorf("%s: spread over %s: matchLabelKeys names %s, which its pods lack", w, tsc.TopologyKey, key))
				}
				effective[key] = labels[key]
			}
			if effective["app.kubernetes.io/name"] != labels["app.kubernetes.io/name"] {
				errs = append(errs, fmt.Errorf("%s: spread over %s counts the pods of other workloads too", w, tsc.TopologyKey))
			}
		}
	}
	return errs
}

const (
	zoneKey     = "topology.kubernetes.io/zone"
	hostnameKey = "kubernetes.io/hostname"
)

// spreadsOver reports whether pod spreads its workload over key: by a
// topology spread constraint (one that must hold, when required) or, for
// the hostname, by pod anti-affinity.
func spreadsOver(pod corev1.PodSpec, key string, required bool) bool {
	for _, tsc := range pod.TopologySpreadConstraints {
		if tsc.TopologyKey == key && (!required || tsc.WhenUnsatisfiable == corev1.DoNotSchedule) {
			return true
		}
	}
	if a := pod.Affinity; !required && a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			if term.PodAffinityTerm.TopologyKey == key {
				return true
			}
		}
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if term.TopologyKey == key {
				return true
			}
		}
	}
	return false
}

// checkHighAvailability is what production promises: every service and the
// client twice or more, the HTTP ones (those the edge routes to) with a
// CPU autoscaler from two; every MongoDB a three-member replica set and NATS
// three servers; everything of two or more replicas spread over zones (a
// requirement) and nodes.
func checkHighAvailability(inv inventory) []error {
	var errs []error
	routed := map[string]bool{}
	for _, r := range inv.routes() {
		if s, ok := inv.services[r.Service]; ok {
			for _, d := range inv.deployments {
				if selects(s.Spec.Selector, d.Spec.Template.Labels) {
					routed[d.Name] = true
				}
			}
		}
	}
	for _, d := range inv.deployments {
		// The observability stack is one of each, never a request's way: a
		// lost pod costs traces and metrics until it is back, nothing else
		// (Jaeger's memory and Prometheus's TSDB are one process's).
		if d.Spec.Template.Labels["app.kubernetes.io/component"] == "observability" {
			continue
		}
		if r := replicasOf(d.Spec.Replicas); r < 2 {
			errs = append(errs, fmt.Errorf("Deployment %s: %d replicas, want at least 2", d.Name, r))
		}
		if !routed[d.Name] {
			continue
		}
		if !slices.ContainsFunc(inv.hpas, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
			return h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name &&
				replicasOf(h.Spec.MinReplicas) >= 2 &&
				slices.ContainsFunc(h.Spec.Metrics, func(m autoscalingv2.MetricSpec) bool {
					return m.Resource != nil && m.Resource.Name == corev1.ResourceCPU
				})
		}) {
			errs = append(errs, fmt.Errorf("Deployment %s serves HTTP but no HorizontalPodAutoscaler scales it on CPU from 2 replicas", d.Name))
		}
	}
	for _, s := range inv.statefulSets {
		if kind := storeKind(s); (kind == "mongo" || kind == "nats") && replicasOf(s.Spec.Replicas) != 3 {
			errs = append(errs, fmt.Errorf("StatefulSet %s: %d replicas, want 3", s.Name, replicasOf(s.Spec.Replicas)))
		}
	}
	for _, w := range inv.workloads() {
		if w.replicas < 2 {
			continue
		}
		if !spreadsOver(w.template.Spec, zoneKey, true) {
			errs = append(errs, fmt.Errorf("%s: no required (DoNotSchedule) spread over %s", w, zoneKey))
		}
		if !spreadsOver(w.template.Spec, hostnameKey, false) {
			errs = append(errs, fmt.Errorf("%s: no spread over %s", w, hostnameKey))
		}
	}
	return errs
}

// everyRule runs every rule that holds wherever the manifests are deployed.
func everyRule(inv inventory, drain map[string]drainBudget) []error {
	var errs []error
	for _, rule := range []func(inventory) []error{checkStores, checkStreamReplicas, checkMongoURIs, checkPDBs, checkHPAs, checkSpread} {
		errs = append(errs, rule(inv)...)
	}
	return append(errs, checkGracePeriods(inv, drain)...)
}

// productionDir is the overlay checkHighAvailability holds for, and
// production with observability (infra/README.md's) too.
var (
	productionDir              = path.Join("infra", "overlays", "production")
	productionObservabilityDir = path.Join("infra", "overlays", "production-observability")
)

// passwordVarRef is a password nats.conf reads from the environment.
var passwordVarRef = regexp.MustCompile(`\$(NATS_[A-Z0-9_]+_PASSWORD)\b`)

// passwordVars are the password variables conf reads, each once.
func passwordVars(conf string) []string {
	var vars []string
	for _, m := range passwordVarRef.FindAllStringSubmatch(conf, -1) {
		if !slices.Contains(vars, m[1]) {
			vars = append(vars, m[1])
		}
	}
	return vars
}
