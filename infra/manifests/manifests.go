// Package manifests loads the Kubernetes manifests of infra/k8s, its
// overlays and infra/loadtest the way the API server would read them: every document
// decoded strictly into the API types (Kubernetes' own and the Gateway API's
// gateway.networking.k8s.io/v1), so an unknown or misspelt field, a
// wrong type or an unregistered kind is an error naming the field.
package manifests

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Object is one decoded document and where it came from.
type Object struct {
	Source string // file name, or "kustomize build <dir>"
	Index  int    // position of the document in Source, from 0
	Obj    runtime.Object
}

func (o Object) String() string {
	return fmt.Sprintf("%s#%d (%s)", o.Source, o.Index, o.Obj.GetObjectKind().GroupVersionKind().Kind)
}

var decoder = newDecoder()

func newDecoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme, batchv1.AddToScheme, networkingv1.AddToScheme,
		policyv1.AddToScheme, gatewayv1.Install,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// Split returns the YAML documents of data, leaving out empty ones (a
// document of comments only, or the space after a trailing separator).
func Split(data []byte) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if hasContent(doc) {
			docs = append(docs, doc)
		}
	}
}

func hasContent(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "---" && !strings.HasPrefix(line, "#") {
			return true
		}
	}
	return false
}

// Decode decodes one document strictly into its API type.
func Decode(doc []byte) (runtime.Object, error) {
	obj, _, err := decoder.Decode(doc, nil, nil)
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// DecodeAll splits data and decodes every document, naming source in errors.
func DecodeAll(source string, data []byte) ([]Object, error) {
	docs, err := Split(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var objs []Object
	var errs []error
	for i, doc := range docs {
		obj, err := Decode(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s, document %d: %w", source, i, err))
			continue
		}
		objs = append(objs, Object{Source: source, Index: i, Obj: obj})
	}
	return objs, errors.Join(errs...)
}

// LoadFile reads and decodes one manifest file.
func LoadFile(path string) ([]Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeAll(filepath.Base(path), data)
}

// Render runs `kustomize build dir` in process (kustomize v5.8.2's library).
func Render(dir string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return resources.AsYaml()
}

// RenderAndDecode renders dir with kustomize and decodes the output strictly.
func RenderAndDecode(dir string) ([]Object, error) {
	out, err := Render(dir)
	if err != nil {
		return nil, err
	}
	return DecodeAll("kustomize build "+dir, out)
}

// RepoRoot finds the repository root above dir: the directory holding
// skaffold.yaml.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "skaffold.yaml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no skaffold.yaml above the working directory")
		}
		dir = parent
	}
}
