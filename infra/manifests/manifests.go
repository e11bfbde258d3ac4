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
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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
		policyv1.AddToScheme, rbacv1.AddToScheme, gatewayv1.Install,
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
	return render(filesys.MakeFsOnDisk(), dir)
}

func render(fsys filesys.FileSystem, dir string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return resources.AsYaml()
}

// DocumentedOverlay is a kustomization that infra/README.md shows but the
// tree does not hold (an overlay for the reader to write, such as
// production with observability): Dir, relative to the repository root,
// is where the README says to put it.
type DocumentedOverlay struct {
	Dir           string
	Kustomization []byte
}

// documentedOverlayHeading is the first line of such a block in the README:
// a YAML comment naming the file.
var documentedOverlayHeading = regexp.MustCompile("(?m)^" + fence + `yaml\n# (infra/overlays/[a-z0-9-]+)/kustomization\.yaml\n((?:.*\n)*?)` + fence)

const fence = "```"

// DocumentedOverlays are the kustomizations of infra/README.md's ```yaml
// blocks whose first line is "# infra/overlays/<name>/kustomization.yaml"
// for a directory that does not exist.
func DocumentedOverlays(root string) ([]DocumentedOverlay, error) {
	readme, err := os.ReadFile(filepath.Join(root, "infra", "README.md"))
	if err != nil {
		return nil, err
	}
	var out []DocumentedOverlay
	for _, m := range documentedOverlayHeading.FindAllSubmatch(readme, -1) {
		dir := filepath.FromSlash(string(m[1]))
		if _, err := os.Stat(filepath.Join(root, dir)); err == nil {
			return nil, fmt.Errorf("infra/README.md shows %s/kustomization.yaml, which exists: show it from the file or name another directory", dir)
		}
		out = append(out, DocumentedOverlay{Dir: dir, Kustomization: m[2]})
	}
	return out, nil
}

// yamlBlock is a ```yaml block of a Markdown file.
var yamlBlock = regexp.MustCompile("(?m)^" + fence + "yaml\n((?:.*\n)*?)" + fence)

// DocumentedYAML are the ```yaml blocks of infra/README.md, each split
// into its documents: the examples it shows (a PodMonitor, Grafana's
// provisioning), which the tests hold to what the manifests are.
func DocumentedYAML(root string) ([][]byte, error) {
	readme, err := os.ReadFile(filepath.Join(root, "infra", "README.md"))
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, m := range yamlBlock.FindAllSubmatch(readme, -1) {
		docs, err := Split(m[1])
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
	return out, nil
}

// RenderDocumented runs `kustomize build` of o as if its kustomization were
// written at o.Dir, over an in-memory copy of the repository's infra/
// directory (its YAML and other manifest files; nothing is written to disk).
func RenderDocumented(root string, o DocumentedOverlay) ([]byte, error) {
	fsys := filesys.MakeFsInMemory()
	infra := filepath.Join(root, "infra")
	err := filepath.WalkDir(infra, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != infra && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir // infra/.tls: the keys of make tls
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return fsys.WriteFile(path, data)
	})
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, o.Dir)
	if err := fsys.WriteFile(filepath.Join(dir, "kustomization.yaml"), o.Kustomization); err != nil {
		return nil, err
	}
	return render(fsys, dir)
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
