package manifests

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The rules of ha_test.go hold for the base and every overlay, and the
// production overlay is highly available as checkHighAvailability says.
func TestHighAvailabilityRules(t *testing.T) {
	drain := drainBounds(t)
	dirs := kustomizationDirs(t)
	for _, want := range []string{productionDir, productionObservabilityDir} {
		if !slices.Contains(dirs, want) {
			t.Fatalf("no overlay %s (the tree's, or infra/README.md's)", want)
		}
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			inv := inventoryOf(rendered(t, dir))
			errs := everyRule(inv, drain)
			if dir == productionDir || dir == productionObservabilityDir {
				errs = append(errs, checkHighAvailability(inv)...)
			}
			for _, err := range errs {
				t.Error(err)
			}
		})
	}
}

// The rules can fail: each mutation of the rendered production overlay
// breaks one thing, and some rule must name it.
func TestHighAvailabilityRulesRejectMutations(t *testing.T) {
	drain := drainBounds(t)
	tests := []struct {
		name, want string
		mutate     func(t *testing.T, objs []Object) []Object
	}{
		{"a MongoDB of three told it has one member", "MONGO_REPLICAS", func(t *testing.T, objs []Object) []Object {
			setEnv(t, &find[*appsv1.StatefulSet](t, objs, "auth-mongo").Spec.Template.Spec, "mongo", "MONGO_REPLICAS", "1")
			return objs
		}},
		{"three mongod without --replSet", "without --replSet", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.StatefulSet](t, objs, "tickets-mongo").Spec.Template.Spec.Containers[0]
			c.Args = slices.DeleteFunc(c.Args, func(a string) bool { return a == "--replSet" || a == "rs0" })
			return objs
		}},
		{"a MongoDB replica set of two", "want 3", func(t *testing.T, objs []Object) []Object {
			s := find[*appsv1.StatefulSet](t, objs, "payments-mongo")
			s.Spec.Replicas = ptr[int32](2)
			setEnv(t, &s.Spec.Template.Spec, "mongo", "MONGO_REPLICAS", "2")
			return objs
		}},
		{"members started in order", "Parallel", func(t *testing.T, objs []Object) []Object {
			find[*appsv1.StatefulSet](t, objs, "orders-mongo").Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
			return objs
		}},
		{"MONGO_SERVICE not the governing Service", "MONGO_SERVICE", func(t *testing.T, objs []Object) []Object {
			setEnv(t, &find[*appsv1.StatefulSet](t, objs, "auth-mongo").Spec.Template.Spec, "mongo", "MONGO_SERVICE", "auth-mongo-srv")
			return objs
		}},
		{"NATS scaled without routes", "cluster routes", func(t *testing.T, objs []Object) []Object {
			find[*appsv1.StatefulSet](t, objs, "nats").Spec.Replicas = ptr[int32](5)
			return objs
		}},
		{"a NATS route dropped", "cluster routes", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, "nats-config", "nats.conf", "nats://nats-2.nats-hl:6222\n", "")
			return objs
		}},
		{"one server name for every NATS server", "server_name", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, "nats-config", "nats.conf", "server_name: $POD_NAME", "server_name: nats")
			return objs
		}},
		{"a NATS option nats-server does not know", "unknown field", func(t *testing.T, objs []Object) []Object {
			replaceInConfig(t, objs, "nats-config", "nats.conf", `sync_interval: "2m"`, `sync_intervall: "2m"`)
			return objs
		}},
		{"NATS killed before lame duck mode ends", "lame duck", func(t *testing.T, objs []Object) []Object {
			find[*appsv1.StatefulSet](t, objs, "nats").Spec.Template.Spec.TerminationGracePeriodSeconds = ptr[int64](30)
			return objs
		}},
		{"NATS servers named only once ready", "publishNotReadyAddresses", func(t *testing.T, objs []Object) []Object {
			find[*corev1.Service](t, objs, "nats-hl").Spec.PublishNotReadyAddresses = false
			return objs
		}},
		{"Redis with two replicas", "without Sentinel", func(t *testing.T, objs []Object) []Object {
			find[*appsv1.StatefulSet](t, objs, "expiration-redis").Spec.Replicas = ptr[int32](2)
			return objs
		}},
		{"stream replicas above the NATS servers", "exceeds the 3 NATS servers", func(t *testing.T, objs []Object) []Object {
			setEnv(t, &find[*appsv1.Deployment](t, objs, "orders-depl").Spec.Template.Spec, "orders", "NATS_STREAM_REPLICAS", "5")
			return objs
		}},
		{"stream replicas left to the default", "without NATS_STREAM_REPLICAS", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.Deployment](t, objs, "payments-depl").Spec.Template.Spec.Containers[0]
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "NATS_STREAM_REPLICAS" })
			return objs
		}},
		{"MONGO_URI without replicaSet", "names no replicaSet", func(t *testing.T, objs []Object) []Object {
			replaceEnv(t, objs, "payments-depl", "MONGO_URI", "?replicaSet=rs0", "")
			return objs
		}},
		{"MONGO_URI missing a member", "want every member", func(t *testing.T, objs []Object) []Object {
			replaceEnv(t, objs, "auth-depl", "MONGO_URI", ",auth-mongo-2.auth-mongo-hl:27017", "")
			return objs
		}},
		{"a service killed while it drains", "terminationGracePeriodSeconds 30 <", func(t *testing.T, objs []Object) []Object {
			find[*appsv1.Deployment](t, objs, "tickets-depl").Spec.Template.Spec.TerminationGracePeriodSeconds = nil
			return objs
		}},
		{"a budget selecting nothing", "selects 0 workloads", func(t *testing.T, objs []Object) []Object {
			find[*policyv1.PodDisruptionBudget](t, objs, "orders").Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "order"
			return objs
		}},
		{"a budget blocking every drain", "allows no eviction", func(t *testing.T, objs []Object) []Object {
			b := find[*policyv1.PodDisruptionBudget](t, objs, "auth")
			b.Spec.MaxUnavailable, b.Spec.MinAvailable = nil, ptr(intstr.FromInt32(2))
			return objs
		}},
		{"replicas without a budget", "without a PodDisruptionBudget", func(t *testing.T, objs []Object) []Object {
			return remove[*policyv1.PodDisruptionBudget](t, objs, "client")
		}},
		{"an autoscaler of a missing Deployment", "names no workload", func(t *testing.T, objs []Object) []Object {
			find[*autoscalingv2.HorizontalPodAutoscaler](t, objs, "auth").Spec.ScaleTargetRef.Name = "auth-deployment"
			return objs
		}},
		{"an HTTP service without an autoscaler", "no HorizontalPodAutoscaler", func(t *testing.T, objs []Object) []Object {
			return remove[*autoscalingv2.HorizontalPodAutoscaler](t, objs, "tickets")
		}},
		{"one client in production", "want at least 2", func(t *testing.T, objs []Object) []Object {
			find[*appsv1.Deployment](t, objs, "client-depl").Spec.Replicas = ptr[int32](1)
			return objs
		}},
		{"zones preferred only", "no required (DoNotSchedule) spread", func(t *testing.T, objs []Object) []Object {
			for i := range find[*appsv1.Deployment](t, objs, "payments-depl").Spec.Template.Spec.TopologySpreadConstraints {
				find[*appsv1.Deployment](t, objs, "payments-depl").Spec.Template.Spec.TopologySpreadConstraints[i].WhenUnsatisfiable = corev1.ScheduleAnyway
			}
			return objs
		}},
		{"a spread key also in the selector", "in both matchLabelKeys and labelSelector", func(t *testing.T, objs []Object) []Object {
			spread := find[*appsv1.Deployment](t, objs, "orders-depl").Spec.Template.Spec.TopologySpreadConstraints
			spread[0].MatchLabelKeys = append(spread[0].MatchLabelKeys, "app.kubernetes.io/part-of")
			return objs
		}},
		{"a spread counting every workload's pods", "pods of other workloads", func(t *testing.T, objs []Object) []Object {
			for i := range find[*appsv1.StatefulSet](t, objs, "auth-mongo").Spec.Template.Spec.TopologySpreadConstraints {
				find[*appsv1.StatefulSet](t, objs, "auth-mongo").Spec.Template.Spec.TopologySpreadConstraints[i].MatchLabelKeys = nil
			}
			return objs
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := inventoryOf(tt.mutate(t, copyObjects(rendered(t, productionDir))))
			errs := append(everyRule(inv, drain), checkHighAvailability(inv)...)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("no rule reports %q; they report %v", tt.want, errs)
			}
		})
	}
}

type named interface {
	runtime.Object
	GetName() string
}

// find is the object of type T named name in objs.
func find[T named](t *testing.T, objs []Object, name string) T {
	t.Helper()
	for _, o := range objs {
		if obj, ok := o.Obj.(T); ok && obj.GetName() == name {
			return obj
		}
	}
	var zero T
	t.Fatalf("no %T %s rendered", zero, name)
	return zero
}

// remove returns objs without the object of type T named name.
func remove[T named](t *testing.T, objs []Object, name string) []Object {
	t.Helper()
	find[T](t, objs, name)
	return slices.DeleteFunc(objs, func(o Object) bool {
		obj, ok := o.Obj.(T)
		return ok && obj.GetName() == name
	})
}

func ptr[T any](v T) *T { return &v }

// setEnv sets the variable name of container in pod to value.
func setEnv(t *testing.T, pod *corev1.PodSpec, container, name, value string) {
	t.Helper()
	for i := range pod.Containers {
		if pod.Containers[i].Name != container {
			continue
		}
		for j := range pod.Containers[i].Env {
			if pod.Containers[i].Env[j].Name == name {
				pod.Containers[i].Env[j].Value = value
				return
			}
		}
	}
	t.Fatalf("container %s sets no %s", container, name)
}

// replaceEnv replaces old by new in the variable name of the first
// container of Deployment deployment.
func replaceEnv(t *testing.T, objs []Object, deployment, name, old, new string) {
	t.Helper()
	pod := &find[*appsv1.Deployment](t, objs, deployment).Spec.Template.Spec
	e, _ := envVar(pod.Containers[0], name)
	if !strings.Contains(e.Value, old) {
		t.Fatalf("%s %s=%q does not contain %q: update the test", deployment, name, e.Value, old)
	}
	setEnv(t, pod, pod.Containers[0].Name, name, strings.Replace(e.Value, old, new, 1))
}

// replaceInConfig replaces old by new in key of ConfigMap name.
func replaceInConfig(t *testing.T, objs []Object, name, key, old, new string) {
	t.Helper()
	cm := find[*corev1.ConfigMap](t, objs, name)
	if !strings.Contains(cm.Data[key], old) {
		t.Fatalf("ConfigMap %s %s does not contain %q: update the test", name, key, old)
	}
	cm.Data[key] = strings.Replace(cm.Data[key], old, new, 1)
}
