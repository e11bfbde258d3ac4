// Package apiserver checks the rendered manifests against a real
// kube-apiserver: the API server's own defaulting, validation and admission,
// with server-side dry runs, so nothing is stored and no pod runs.
package apiserver

import (
	"context"
	"flag"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apiserver/pkg/storage/etcd3/testserver"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/klog/v2"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"sigs.k8s.io/yaml"

	"ticketing.dev/infra/manifests"
)

const namespace = "ticketing-dryrun"

func TestMain(m *testing.M) {
	// The API server logs every request and controller step; keep the test
	// output to what the tests say.
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// cluster is an API server with embedded etcd, started once per test binary.
type cluster struct {
	mapper meta.RESTMapper
	client dynamic.Interface
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	start := time.Now()
	etcdConfig := testserver.NewTestConfig(t)
	testserver.RunEtcd(t, etcdConfig)
	storage := storagebackend.NewDefaultConfig(path.Join("/", "ticketing", "registry"), nil)
	storage.Transport.ServerList = []string{etcdConfig.ListenClientUrls[0].String()}

	server := kubeapiservertesting.StartTestServerOrDie(t, nil, []string{
		// No controllers run here: nothing would reconcile endpoints or
		// create service-account tokens.
		"--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount",
	}, storage)
	t.Cleanup(server.TearDownFn)
	t.Logf("API server with etcd up in %s", time.Since(start).Round(time.Millisecond))

	config := rest.CopyConfig(server.ClientConfig)
	core, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := core.CoreV1().Namespaces().Create(ctx, namespaceObject(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{mapper: restmapper.NewDiscoveryRESTMapper(groups), client: client}
}

// dryRunCreate creates obj with dryRun=All and strict field validation: the
// API server defaults, validates and admits it, and stores nothing.
func (c *cluster) dryRunCreate(ctx context.Context, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	resource := c.client.Resource(mapping.Resource)
	opts := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		_, err = resource.Namespace(namespace).Create(ctx, obj, opts)
	} else {
		_, err = resource.Create(ctx, obj, opts)
	}
	return err
}

func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	out, err := manifests.Render(dir)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := manifests.Split(out)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, doc := range docs {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, obj)
	}
	return objs
}

func TestDryRun(t *testing.T) {
	c := startCluster(t)
	root, err := manifests.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dirs := []string{filepath.Join(root, "infra", "k8s")}
	overlays, _ := filepath.Glob(filepath.Join(root, "infra", "overlays", "*"))
	dirs = append(dirs, overlays...)
	// The production overlay holds what the others lack (budgets,
	// autoscalers, required spread, replica sets of three): it must be here.
	production := filepath.Join(root, "infra", "overlays", "production")
	if !slices.Contains(dirs, production) {
		t.Fatalf("no overlay %s", production)
	}

	t.Run("rendered manifests are accepted", func(t *testing.T) {
		for _, dir := range dirs {
			rel, _ := filepath.Rel(root, dir)
			for _, obj := range render(t, dir) {
				name := rel + "/" + obj.GetKind() + "/" + obj.GetName()
				if err := c.dryRunCreate(context.Background(), obj); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		}
	})

	// The check can fail: mutations that decode fine (so the static tests
	// let them through) but that the API server must reject.
	t.Run("invalid objects are rejected", func(t *testing.T) {
		var auth *unstructured.Unstructured
		for _, obj := range render(t, dirs[0]) {
			if obj.GetKind() == "Deployment" && obj.GetName() == "auth-depl" {
				auth = obj
			}
		}
		if auth == nil {
			t.Fatal("no Deployment auth-depl rendered")
		}
		tests := []struct {
			name, wantInError string
			mutate            func(obj map[string]any)
		}{
			{"no containers", "Required value", func(obj map[string]any) {
				unstructured.RemoveNestedField(obj, "spec", "template", "spec", "containers")
			}},
			{"selector does not match the pod labels", "does not match template", func(obj map[string]any) {
				_ = unstructured.SetNestedStringMap(obj, map[string]string{"app.kubernetes.io/name": "other"}, "spec", "selector", "matchLabels")
			}},
			{"empty selector", "empty selector is invalid", func(obj map[string]any) {
				_ = unstructured.SetNestedMap(obj, map[string]any{}, "spec", "selector")
			}},
			{"negative replicas", "must be greater than or equal to 0", func(obj map[string]any) {
				_ = unstructured.SetNestedField(obj, int64(-1), "spec", "replicas")
			}},
			{"invalid label value", "Invalid value", func(obj map[string]any) {
				_ = unstructured.SetNestedField(obj, "not a valid label!", "metadata", "labels", "app.kubernetes.io/component")
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				obj := auth.DeepCopy()
				tt.mutate(obj.Object)
				err := c.dryRunCreate(context.Background(), obj)
				if err == nil {
					t.Fatal("accepted")
				}
				if !strings.Contains(err.Error(), tt.wantInError) {
					t.Errorf("error does not contain %q: %v", tt.wantInError, err)
				}
			})
		}
	})

	// The same for what only the production overlay renders.
	t.Run("invalid production objects are rejected", func(t *testing.T) {
		objs := map[string]*unstructured.Unstructured{}
		for _, obj := range render(t, production) {
			objs[obj.GetKind()+"/"+obj.GetName()] = obj
		}
		tests := []struct {
			name, object, wantInError string
			mutate                    func(obj map[string]any)
		}{
			{"a budget with both bounds", "PodDisruptionBudget/auth", "minAvailable and maxUnavailable cannot be both set", func(obj map[string]any) {
				_ = unstructured.SetNestedField(obj, int64(1), "spec", "minAvailable")
			}},
			{"an autoscaler without a ceiling", "HorizontalPodAutoscaler/orders", "maxReplicas", func(obj map[string]any) {
				unstructured.RemoveNestedField(obj, "spec", "maxReplicas")
			}},
			// (A matchLabelKeys key also in the labelSelector passes here in a
			// pod template and fails only as pods are created; the static
			// rules refuse it.)
			{"a spread on an invalid label key", "Deployment/payments-depl", "matchLabelKeys", func(obj map[string]any) {
				spread, _, _ := unstructured.NestedSlice(obj, "spec", "template", "spec", "topologySpreadConstraints")
				first := spread[0].(map[string]any)
				first["matchLabelKeys"] = []any{"app.kubernetes.io/name!"}
				_ = unstructured.SetNestedSlice(obj, spread, "spec", "template", "spec", "topologySpreadConstraints")
			}},
			{"a spread of no topology", "StatefulSet/auth-mongo", "topologyKey", func(obj map[string]any) {
				spread, _, _ := unstructured.NestedSlice(obj, "spec", "template", "spec", "topologySpreadConstraints")
				delete(spread[0].(map[string]any), "topologyKey")
				_ = unstructured.SetNestedSlice(obj, spread, "spec", "template", "spec", "topologySpreadConstraints")
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				original, ok := objs[tt.object]
				if !ok {
					t.Fatalf("the production overlay renders no %s", tt.object)
				}
				obj := original.DeepCopy()
				tt.mutate(obj.Object)
				err := c.dryRunCreate(context.Background(), obj)
				if err == nil {
					t.Fatal("accepted")
				}
				if !strings.Contains(err.Error(), tt.wantInError) {
					t.Errorf("error does not contain %q: %v", tt.wantInError, err)
				}
			})
		}
	})
}

func namespaceObject() *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
}
