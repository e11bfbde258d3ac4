package manifests

import (
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Store credentials: every MongoDB and the Redis require authentication,
// each service has credentials of its own, and all of them come from the
// Secrets created by hand (infra/README.md, step 3), never from a manifest.
// As in ha_test.go, each rule is a function from rendered objects to the
// problems it finds, run over the base, every overlay and infra/loadtest,
// and over mutated copies that must fail.

// credentialName is a variable whose name says it holds a credential.
var credentialName = regexp.MustCompile(`(^|_)(PASSWORD|PASS|SECRET|TOKEN|KEY|KEYFILE|USER|USERNAME|AUTH)$`)

// credentialFlags are the command-line flags whose value is a credential.
var credentialFlags = []string{"--requirepass", "--masterauth", "--password", "--pass"}

// urlCredentials is the userinfo of a URL (user:password@, or token@).
var urlCredentials = regexp.MustCompile(`[a-z][a-z0-9+.-]*://([^/?#@\s]*)@`)

// reference is Kubernetes' dependent variable reference, $(NAME).
var reference = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// secretRef is the secretKeyRef of variable name among env, or nil when env
// does not define it from a Secret.
func secretRef(env []corev1.EnvVar, name string) *corev1.SecretKeySelector {
	i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 || env[i].ValueFrom == nil {
		return nil
	}
	return env[i].ValueFrom.SecretKeyRef
}

// secretReference reports whether value is exactly $(NAME) of a variable
// that env defines from a Secret, and returns that Secret key.
func secretReference(value string, env []corev1.EnvVar) (*corev1.SecretKeySelector, bool) {
	m := reference.FindStringSubmatch(value)
	if m == nil || m[0] != value {
		return nil, false
	}
	ref := secretRef(env, m[1])
	return ref, ref != nil
}

func sameKey(a, b *corev1.SecretKeySelector) bool {
	return a != nil && b != nil && a.Name == b.Name && a.Key == b.Key
}

func keyName(ref *corev1.SecretKeySelector) string {
	if ref == nil {
		return "no Secret"
	}
	return ref.Name + "/" + ref.Key
}

// checkValue checks one variable's value or one argument: each $(NAME) names
// a variable of defined (else Kubernetes leaves it as written), and a URL's
// credentials are only such references to Secrets.
func checkValue(where, value string, defined []corev1.EnvVar) []error {
	var errs []error
	for _, m := range reference.FindAllStringSubmatch(value, -1) {
		if !slices.ContainsFunc(defined, func(e corev1.EnvVar) bool { return e.Name == m[1] }) {
			errs = append(errs, fmt.Errorf("%s refers to $(%s), which is not defined before it: Kubernetes would pass it on as written", where, m[1]))
		}
	}
	for _, m := range urlCredentials.FindAllStringSubmatch(value, -1) {
		for _, part := range strings.Split(m[1], ":") {
			if _, ok := secretReference(part, defined); !ok {
				errs = append(errs, fmt.Errorf("%s carries literal credentials in a URL (%q): write $(USER):$(PASSWORD)@ with both variables from a Secret", where, part))
			}
		}
	}
	return errs
}

// checkNoLiteralCredentials: no Secret object, no credential variable with a
// value of its own, no literal credential in a URL, a flag or a
// configuration file.
func checkNoLiteralCredentials(inv inventory) []error {
	var errs []error
	for _, s := range inv.secrets {
		errs = append(errs, fmt.Errorf("Secret %s is in the manifests: Secrets are created by hand (infra/README.md), never committed", s.Name))
	}
	for _, w := range inv.podTemplates() {
		pod := w.template.Spec
		for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			where := fmt.Sprintf("%s, container %s", w, c.Name)
			for i, e := range c.Env {
				if credentialName.MatchString(e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					errs = append(errs, fmt.Errorf("%s: %s holds a credential but does not come from a Secret (secretKeyRef)", where, e.Name))
				}
				errs = append(errs, checkValue(where+": "+e.Name, e.Value, c.Env[:i])...)
			}
			// Arguments may refer to every variable of the container.
			args := append(slices.Clone(c.Command), c.Args...)
			for i, a := range args {
				errs = append(errs, checkValue(where+": argument "+a, a, c.Env)...)
				flag, value, joined := strings.Cut(a, "=")
				if !joined && i+1 < len(args) {
					value = args[i+1]
				}
				if slices.Contains(credentialFlags, flag) {
					if _, ok := secretReference(value, c.Env); !ok {
						errs = append(errs, fmt.Errorf("%s: %s %q: a credential must be $(NAME) of a variable from a Secret", where, flag, value))
					}
				}
			}
		}
	}
	// A configuration file cannot read a Secret: a credential in it is a literal.
	requirepass := regexp.MustCompile(`(?m)^\s*(requirepass|masterauth)\s`)
	for _, name := range sortedKeys(inv.configMaps) {
		for key, data := range inv.configMaps[name].Data {
			if urlCredentials.MatchString(data) || requirepass.MatchString(data) {
				errs = append(errs, fmt.Errorf("ConfigMap %s, %s: holds a credential", name, key))
			}
		}
	}
	return errs
}

// checkMongoAuth: every MongoDB requires authentication and its members
// authenticate each other with a keyfile mongod accepts; its script creates
// the users from a Secret.
func checkMongoAuth(inv inventory) []error {
	var errs []error
	for _, s := range inv.statefulSets {
		if storeKind(s) != "mongo" {
			continue
		}
		pod := s.Spec.Template.Spec
		c := pod.Containers[0]
		var found []error
		if !slices.Contains(c.Args, "--auth") {
			found = append(found, fmt.Errorf("mongod runs without --auth: any pod it lets in reads and writes every database"))
		}
		if keyFile, ok := argAfter(c.Args, "--keyFile"); !ok {
			found = append(found, fmt.Errorf("mongod runs without --keyFile: the members of a set with --auth authenticate each other with it"))
		} else {
			found = append(found, checkKeyFile(pod, c, keyFile)...)
		}
		for _, name := range []string{"MONGO_USER", "MONGO_PASSWORD", "MONGO_ROOT_USER", "MONGO_ROOT_PASSWORD"} {
			if secretRef(c.Env, name) == nil {
				found = append(found, fmt.Errorf("%s does not come from a Secret: the members' script creates the users from it", name))
			}
		}
		if e, _ := envVar(c, "MONGO_DATABASE"); e.Value == "" {
			found = append(found, fmt.Errorf("no MONGO_DATABASE: the members' script gives the service's user readWrite on it"))
		}
		if p := c.ReadinessProbe; p != nil && p.Exec != nil && len(p.Exec.Command) > 0 {
			script, err := inv.fileFromConfigMap(pod, c, p.Exec.Command[len(p.Exec.Command)-1])
			if err == nil && (!strings.Contains(script, "createUser") || !strings.Contains(script, "readWrite")) {
				found = append(found, fmt.Errorf("the readiness probe's script never creates the service's user (createUser with readWrite)"))
			}
		}
		for _, err := range found {
			errs = append(errs, fmt.Errorf("StatefulSet %s: %w", s.Name, err))
		}
	}
	return errs
}

// checkKeyFile: mongod refuses a keyfile that its group or others may read,
// and a Secret volume's files are group-readable (fsGroup): an init
// container copies the key from the Secret (mounted 0400) into an emptyDir
// and makes it 0400, as the user mongod runs as.
func checkKeyFile(pod corev1.PodSpec, c corev1.Container, keyFile string) []error {
	volume := func(name string) *corev1.Volume {
		i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == name })
		if i < 0 {
			return nil
		}
		return &pod.Volumes[i]
	}
	mount := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return path.Clean(m.MountPath) == path.Dir(keyFile) })
	if mount < 0 {
		return []error{fmt.Errorf("--keyFile %s is in no volume of container %s", keyFile, c.Name)}
	}
	dir := volume(c.VolumeMounts[mount].Name)
	if dir == nil || dir.EmptyDir == nil {
		return []error{fmt.Errorf("--keyFile %s: its volume is not an emptyDir an init container fills (a Secret volume's files are group-readable, which mongod refuses)", keyFile)}
	}
	for _, init := range pod.InitContainers {
		if !slices.ContainsFunc(init.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == dir.Name }) {
			continue
		}
		var errs []error
		command := strings.Join(append(slices.Clone(init.Command), init.Args...), " ")
		if !strings.Contains(command, "chmod 0400 "+keyFile) && !strings.Contains(command, "chmod 400 "+keyFile) {
			errs = append(errs, fmt.Errorf("init container %s does not make %s mode 0400: mongod refuses a keyfile its group can read", init.Name, keyFile))
		}
		copied := false
		for _, m := range init.VolumeMounts {
			v := volume(m.Name)
			if v == nil || v.Secret == nil || !strings.Contains(command, m.MountPath) {
				continue
			}
			copied = true
			for _, item := range v.Secret.Items {
				mode := v.Secret.DefaultMode
				if item.Mode != nil {
					mode = item.Mode
				}
				if mode == nil || *mode != 0o400 {
					errs = append(errs, fmt.Errorf("Secret volume %s mounts %s with mode %s, want 0400", v.Name, item.Key, modeString(mode)))
				}
			}
		}
		if !copied {
			errs = append(errs, fmt.Errorf("init container %s copies the keyfile from no Secret volume", init.Name))
		}
		if runAsUser(pod, init) != runAsUser(pod, c) {
			errs = append(errs, fmt.Errorf("init container %s runs as another user than mongod: the keyfile would not be mongod's own", init.Name))
		}
		return errs
	}
	return []error{fmt.Errorf("no init container fills the keyfile's volume %s", dir.Name)}
}

func modeString(mode *int32) string {
	if mode == nil {
		return "the default (0644)"
	}
	return fmt.Sprintf("%#o", *mode)
}

// runAsUser is the user container c of pod runs as, if set.
func runAsUser(pod corev1.PodSpec, c corev1.Container) int64 {
	if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
		return *c.SecurityContext.RunAsUser
	}
	if pod.SecurityContext != nil && pod.SecurityContext.RunAsUser != nil {
		return *pod.SecurityContext.RunAsUser
	}
	return -1
}

// requirepassOf is the Secret key of a Redis container's --requirepass.
func requirepassOf(c corev1.Container) *corev1.SecretKeySelector {
	value, ok := argAfter(append(slices.Clone(c.Command), c.Args...), "--requirepass")
	if !ok {
		return nil
	}
	ref, _ := secretReference(value, c.Env)
	return ref
}

// checkRedisAuth: Redis requires a password from a Secret, and its own
// readiness probe gives it.
func checkRedisAuth(inv inventory) []error {
	var errs []error
	for _, s := range inv.statefulSets {
		if storeKind(s) != "redis" {
			continue
		}
		c := s.Spec.Template.Spec.Containers[0]
		pass := requirepassOf(c)
		if pass == nil {
			errs = append(errs, fmt.Errorf("StatefulSet %s: redis-server runs without --requirepass $(NAME) from a Secret: any pod it lets in reads and writes the jobs", s.Name))
			continue
		}
		if p := c.ReadinessProbe; p != nil && p.Exec != nil && slices.Contains(p.Exec.Command, "redis-cli") && !sameKey(secretRef(c.Env, "REDISCLI_AUTH"), pass) {
			errs = append(errs, fmt.Errorf("StatefulSet %s: the readiness probe's redis-cli gives no password (REDISCLI_AUTH must come from %s, the requirepass): NOAUTH", s.Name, keyName(pass)))
		}
	}
	return errs
}

// mongoStatefulSet is the MongoDB StatefulSet whose members a MONGO_URI
// lists, from its first host.
func mongoStatefulSet(inv inventory, uri *url.URL) *appsv1.StatefulSet {
	first, _, _ := strings.Cut(uri.Host, ",")
	_, service, _ := strings.Cut(first, ".")
	service, _, _ = strings.Cut(service, ":")
	i := slices.IndexFunc(inv.statefulSets, func(s *appsv1.StatefulSet) bool {
		return s.Spec.ServiceName == service && storeKind(s) == "mongo"
	})
	if i < 0 {
		return nil
	}
	return inv.statefulSets[i]
}

// checkServiceCredentials: each service reaches its store with credentials
// of its own, from the same Secret keys its store creates them from.
func checkServiceCredentials(inv inventory) []error {
	var errs []error
	owner := map[string]string{} // Secret → the Deployment whose store credentials it holds
	own := func(d *appsv1.Deployment, ref *corev1.SecretKeySelector) {
		if other, ok := owner[ref.Name]; ok && other != d.Name {
			errs = append(errs, fmt.Errorf("Deployment %s uses the store credentials of %s (Secret %s): each service has its own", d.Name, other, ref.Name))
		}
		owner[ref.Name] = d.Name
	}
	for _, d := range inv.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "MONGO_URI" }); i >= 0 {
				errs = append(errs, checkMongoCredentials(inv, d, c.Env, i, own)...)
			}
			if e, ok := envVar(c, "REDIS_URL"); ok {
				s := inv.statefulSetBehind(e.Value)
				if s == nil || storeKind(s) != "redis" {
					continue // TestConnectionURLsNameServices reports it
				}
				pass, want := secretRef(c.Env, "REDIS_PASSWORD"), requirepassOf(s.Spec.Template.Spec.Containers[0])
				if !sameKey(pass, want) {
					errs = append(errs, fmt.Errorf("Deployment %s: REDIS_PASSWORD comes from %s, but %s's requirepass from %s", d.Name, keyName(pass), s.Name, keyName(want)))
					continue
				}
				own(d, pass)
			}
		}
	}
	return errs
}

func checkMongoCredentials(inv inventory, d *appsv1.Deployment, env []corev1.EnvVar, i int, own func(*appsv1.Deployment, *corev1.SecretKeySelector)) []error {
	uri, err := url.Parse(env[i].Value)
	if err != nil {
		return []error{fmt.Errorf("Deployment %s: MONGO_URI: %w", d.Name, err)}
	}
	s := mongoStatefulSet(inv, uri)
	if s == nil {
		return nil // checkMongoURIs reports it
	}
	store := s.Spec.Template.Spec.Containers[0]
	password, _ := uri.User.Password() // "" when the URI has no credentials
	userRef, userOK := secretReference(uri.User.Username(), env[:i])
	passRef, passOK := secretReference(password, env[:i])
	if !userOK || !passOK {
		return []error{fmt.Errorf("Deployment %s: MONGO_URI's credentials are not $(USER):$(PASSWORD)@ of variables from a Secret declared before it (mongod runs with --auth)", d.Name)}
	}
	var errs []error
	if want := secretRef(store.Env, "MONGO_USER"); !sameKey(userRef, want) {
		errs = append(errs, fmt.Errorf("Deployment %s: MONGO_URI's user comes from %s, but %s creates its user from %s", d.Name, keyName(userRef), s.Name, keyName(want)))
	}
	if want := secretRef(store.Env, "MONGO_PASSWORD"); !sameKey(passRef, want) {
		errs = append(errs, fmt.Errorf("Deployment %s: MONGO_URI's password comes from %s, but %s creates its user from %s", d.Name, keyName(passRef), s.Name, keyName(want)))
	}
	database := strings.TrimPrefix(uri.Path, "/")
	if e, _ := envVar(store, "MONGO_DATABASE"); e.Value != database {
		errs = append(errs, fmt.Errorf("Deployment %s: MONGO_URI's database is %q, but %s gives the user readWrite on MONGO_DATABASE %q", d.Name, database, s.Name, e.Value))
	}
	own(d, passRef)
	return errs
}

// credentialRules are the rules of this file.
func credentialRules(inv inventory) []error {
	var errs []error
	for _, rule := range []func(inventory) []error{checkNoLiteralCredentials, checkMongoAuth, checkRedisAuth, checkServiceCredentials} {
		errs = append(errs, rule(inv)...)
	}
	return errs
}

// The rules hold for the base, every overlay and the load test.
func TestStoreCredentials(t *testing.T) {
	for _, dir := range append(kustomizationDirs(t), loadtestDirName) {
		t.Run(dir, func(t *testing.T) {
			for _, err := range credentialRules(inventoryOf(rendered(t, dir))) {
				t.Error(err)
			}
		})
	}
}

// No manifest file holds a credential as text either: a URL with literal
// credentials, a Secret (whatever a kustomization renders of it).
func TestNoCredentialInManifestFiles(t *testing.T) {
	root := repoRoot(t)
	files := []string{filepath.Join(root, "infra", "namespace.yaml"), filepath.Join(root, "infra", "gatewayclass.yaml")}
	for _, dir := range append(kustomizationDirs(t), loadtestDirName) {
		matches, err := filepath.Glob(filepath.Join(root, dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, matches...)
	}
	secret := regexp.MustCompile(`(?m)^kind:\s*Secret\s*$`)
	for _, file := range files {
		name, _ := filepath.Rel(root, file)
		text := readFile(t, file)
		for _, m := range urlCredentials.FindAllStringSubmatch(text, -1) {
			for _, part := range strings.Split(m[1], ":") {
				if r := reference.FindString(part); r != part {
					t.Errorf("%s: a URL with literal credentials (%s@)", name, m[1])
				}
			}
		}
		if secret.MatchString(text) {
			t.Errorf("%s: holds a Secret", name)
		}
	}
}

// tlsDir is where `make tls` writes the local CA and the edge's certificate
// with their private keys, relative to the repository root.
var tlsDir = filepath.Join("infra", ".tls")

// privateKey is a PEM block of a private key, whatever its algorithm.
var privateKey = regexp.MustCompile(`-----BEGIN ([A-Z]+ )?PRIVATE KEY-----`)

// No file of infra/ (nor skaffold.yaml) holds a private key: the edge's key
// and its CA's live in tlsDir, which git ignores and this walk skips, and
// reach the cluster only through the Secret the README's command creates.
func TestNoPrivateKeyCommitted(t *testing.T) {
	root := repoRoot(t)
	gitignore := readFile(t, filepath.Join(root, ".gitignore"))
	if !slices.Contains(strings.Split(gitignore, "\n"), "/"+filepath.ToSlash(tlsDir)+"/") {
		t.Errorf(".gitignore does not ignore /%s/, where `make tls` writes private keys", filepath.ToSlash(tlsDir))
	}
	files := []string{filepath.Join(root, "skaffold.yaml")}
	err := filepath.WalkDir(filepath.Join(root, "infra"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path == filepath.Join(root, tlsDir) {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if privateKey.MatchString(readFile(t, file)) {
			name, _ := filepath.Rel(root, file)
			t.Errorf("%s holds a private key", name)
		}
	}
}

// The rules can fail: each mutation of the rendered base puts a credential
// in a manifest, weakens a store's authentication or mixes the services'
// credentials, and some rule must say so.
func TestStoreCredentialRulesRejectMutations(t *testing.T) {
	tests := []struct {
		name, want string
		mutate     func(t *testing.T, objs []Object) []Object
	}{
		{"a password written in MONGO_URI", "literal credentials", func(t *testing.T, objs []Object) []Object {
			replaceEnv(t, objs, "auth-depl", "MONGO_URI", "$(MONGO_USER):$(MONGO_PASSWORD)", "auth:hunter2")
			return objs
		}},
		{"REDIS_PASSWORD with a value", "does not come from a Secret", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.Deployment](t, objs, "expiration-depl").Spec.Template.Spec.Containers[0]
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "REDIS_PASSWORD" })
			c.Env[i] = corev1.EnvVar{Name: "REDIS_PASSWORD", Value: "hunter2"}
			return objs
		}},
		{"requirepass written out", "--requirepass", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.StatefulSet](t, objs, "expiration-redis").Spec.Template.Spec.Containers[0]
			c.Args[slices.Index(c.Args, "$(REDIS_PASSWORD)")] = "hunter2"
			return objs
		}},
		{"Redis without requirepass", "without --requirepass", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.StatefulSet](t, objs, "expiration-redis").Spec.Template.Spec.Containers[0]
			i := slices.Index(c.Args, "--requirepass")
			c.Args = slices.Delete(c.Args, i, i+2)
			return objs
		}},
		{"redis-cli without the password", "REDISCLI_AUTH", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.StatefulSet](t, objs, "expiration-redis").Spec.Template.Spec.Containers[0]
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "REDISCLI_AUTH" })
			return objs
		}},
		{"expiration's password from another Secret", "requirepass from", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.Deployment](t, objs, "expiration-depl").Spec.Template.Spec.Containers[0]
			secretRef(c.Env, "REDIS_PASSWORD").Name = "redis-secret"
			return objs
		}},
		{"mongod without --auth", "without --auth", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.StatefulSet](t, objs, "orders-mongo").Spec.Template.Spec.Containers[0]
			c.Args = slices.DeleteFunc(c.Args, func(a string) bool { return a == "--auth" })
			return objs
		}},
		{"mongod without --keyFile", "without --keyFile", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.StatefulSet](t, objs, "tickets-mongo").Spec.Template.Spec.Containers[0]
			i := slices.Index(c.Args, "--keyFile")
			c.Args = slices.Delete(c.Args, i, i+2)
			return objs
		}},
		{"a keyfile left group-readable", "mode 0400", func(t *testing.T, objs []Object) []Object {
			init := &find[*appsv1.StatefulSet](t, objs, "auth-mongo").Spec.Template.Spec.InitContainers[0]
			init.Command[len(init.Command)-1] = strings.Replace(init.Command[len(init.Command)-1], "chmod 0400", "chmod 0440", 1)
			return objs
		}},
		{"the keyfile read straight from the Secret volume", "not an emptyDir", func(t *testing.T, objs []Object) []Object {
			pod := &find[*appsv1.StatefulSet](t, objs, "auth-mongo").Spec.Template.Spec
			for i := range pod.Volumes {
				if pod.Volumes[i].Name == "keyfile" {
					pod.Volumes[i].VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "auth-mongo-secret"}}
				}
			}
			return objs
		}},
		{"the Secret volume mounted 0440", "want 0400", func(t *testing.T, objs []Object) []Object {
			for _, v := range find[*appsv1.StatefulSet](t, objs, "payments-mongo").Spec.Template.Spec.Volumes {
				if v.Secret != nil {
					v.Secret.DefaultMode = ptr[int32](0o440)
				}
			}
			return objs
		}},
		{"MONGO_URI before the credentials", "not defined before", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.Deployment](t, objs, "tickets-depl").Spec.Template.Spec.Containers[0]
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "MONGO_URI" })
			uri := c.Env[i]
			c.Env = slices.Insert(slices.Delete(c.Env, i, i+1), 0, uri)
			return objs
		}},
		{"orders with tickets' credentials", "each service has its own", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.Deployment](t, objs, "orders-depl").Spec.Template.Spec.Containers[0]
			secretRef(c.Env, "MONGO_USER").Name = "tickets-mongo-secret"
			secretRef(c.Env, "MONGO_PASSWORD").Name = "tickets-mongo-secret"
			return objs
		}},
		{"the user created on another database", "readWrite on MONGO_DATABASE", func(t *testing.T, objs []Object) []Object {
			setEnv(t, &find[*appsv1.StatefulSet](t, objs, "payments-mongo").Spec.Template.Spec, "mongo", "MONGO_DATABASE", "payment")
			return objs
		}},
		{"the root password as a value", "MONGO_ROOT_PASSWORD does not come from a Secret", func(t *testing.T, objs []Object) []Object {
			c := &find[*appsv1.StatefulSet](t, objs, "auth-mongo").Spec.Template.Spec.Containers[0]
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "MONGO_ROOT_PASSWORD" })
			c.Env[i] = corev1.EnvVar{Name: "MONGO_ROOT_PASSWORD", Value: "hunter2"}
			return objs
		}},
		{"a script that creates no user", "never creates the service's user", func(t *testing.T, objs []Object) []Object {
			cm := find[*corev1.ConfigMap](t, objs, "mongo-replset")
			cm.Data["replset.js"] = strings.ReplaceAll(cm.Data["replset.js"], "createUser", "usersInfo")
			return objs
		}},
		{"a Secret committed", "Secret jwt-secret is in the manifests", func(t *testing.T, objs []Object) []Object {
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "jwt-secret"}, StringData: map[string]string{"JWT_KEY": "hunter2"}}
			return append(objs, Object{Source: "mutation", Obj: secret})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := inventoryOf(tt.mutate(t, copyObjects(rendered(t, "infra/k8s"))))
			errs := credentialRules(inv)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("no rule reports %q; they report %v", tt.want, errs)
			}
		})
	}
}
