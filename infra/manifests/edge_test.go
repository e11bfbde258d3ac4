package manifests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The edge: a Gateway (the base: Envoy Gateway, HTTPS with the Secret
// ticketing-tls, plain HTTP redirecting) or, in the ingress overlays, an
// Ingress; the routing table of its routes; the alias edge-srv the client
// and the load test call it by; and what must agree with it (the session
// cookie's Secure attribute, the scheme the client calls with, the
// controller's namespace and pods in netpol_test.go, skaffold's
// port-forward).

// edgeAlias is the Service in the platform's namespace that names the
// edge's own Service (an ExternalName): API_BASE_URL and the load test's
// -base point at it.
const edgeAlias = "edge-srv"

// controller is an edge's controller as NetworkPolicy and a client see
// it: its Service (the in-cluster address), its pods' namespace, labels
// and ports as its standard installation makes them, the pod port behind
// each port of its Service, and pods beside it that are not it.
type controller struct {
	name        string
	service     string // the Service's name, in namespace
	namespace   string
	labels      map[string]string
	ports       []corev1.ContainerPort
	servicePort map[int32]int32
	others      map[string]map[string]string // pods beside it, by name: their labels
}

func (c controller) host() string { return c.service + "." + c.namespace + ".svc.cluster.local" }

// ingressControllers by ingress class: ingress-nginx as its Helm chart (and
// minikube's addon) installs it, Traefik as k3s's chart does.
var ingressControllers = map[string]controller{
	"nginx": {
		name: "ingress-nginx", service: "ingress-nginx-controller", namespace: "ingress-nginx",
		labels:      map[string]string{"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx", "app.kubernetes.io/component": "controller"},
		ports:       []corev1.ContainerPort{{Name: "http", ContainerPort: 80}, {Name: "https", ContainerPort: 443}},
		servicePort: map[int32]int32{80: 80, 443: 443},
	},
	"traefik": {
		name: "Traefik", service: "traefik", namespace: "kube-system",
		labels:      map[string]string{"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": "traefik-kube-system"},
		ports:       []corev1.ContainerPort{{Name: "web", ContainerPort: 8000}, {Name: "websecure", ContainerPort: 8443}},
		servicePort: map[int32]int32{80: 8000, 443: 8443},
	},
}

// gatewayControllers by GatewayClass name (infra/gatewayclass.yaml): the
// controller serving a Gateway of that class, and the controllerName the
// class must carry.
var gatewayControllers = map[string]struct {
	controllerName string
	serving        func(*gatewayv1.Gateway) controller
}{
	"eg": {"gateway.envoyproxy.io/gatewayclass-controller", envoyGateway},
}

// envoyGateway is how Envoy Gateway (installed in envoy-gateway-system)
// serves a Gateway: a Deployment of Envoy proxies and a LoadBalancer
// Service in its own namespace, labelled with the Gateway they serve; each
// listener's port on the Service, on the pods the same port or, for a
// privileged one, that port plus 10000 (so Envoy needs no capability).
func envoyGateway(gw *gatewayv1.Gateway) controller {
	proxy := map[string]string{
		"app.kubernetes.io/name": "envoy", "app.kubernetes.io/component": "proxy", "app.kubernetes.io/managed-by": "envoy-gateway",
		"gateway.envoyproxy.io/owning-gateway-name": gw.Name, "gateway.envoyproxy.io/owning-gateway-namespace": gw.Namespace,
	}
	another := map[string]string{}
	for k, v := range proxy {
		another[k] = v
	}
	another["gateway.envoyproxy.io/owning-gateway-name"] = "another-gateway"
	c := controller{
		name: "Envoy Gateway", service: envoyServiceName(gw.Namespace, gw.Name), namespace: "envoy-gateway-system",
		labels: proxy, servicePort: map[int32]int32{},
		others: map[string]map[string]string{"another Gateway's Envoy proxy": another},
	}
	for _, l := range gw.Spec.Listeners {
		port := l.Port
		if port < 1024 {
			port += 10000
		}
		c.servicePort[l.Port] = port
		c.ports = append(c.ports, corev1.ContainerPort{Name: string(l.Name), ContainerPort: port})
	}
	return c
}

// envoyServiceName is the name Envoy Gateway gives the Service of the
// Gateway namespace/name (its utils.GetHashedName under the prefix envoy):
// "<namespace>-<name>", cut to 48 characters, and the first 8 hex digits of
// sha256("<namespace>/<name>").
func envoyServiceName(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	prefix := namespace + "-" + name
	if len(prefix) > 48 {
		prefix = strings.TrimSuffix(prefix[:48], "-")
	}
	return "envoy-" + prefix + "-" + hex.EncodeToString(sum[:])[:8]
}

// Envoy Gateway's own documentation and tests name these Services: the
// quickstart's Gateway eg in default, and a long name cut to 48.
func TestEnvoyServiceName(t *testing.T) {
	for _, tt := range []struct{ namespace, name, want string }{
		{"default", "eg", "envoy-default-eg-e41e7b31"},
		{"ticketing", "ticketing", "envoy-ticketing-ticketing-fc42b6bf"},
		{"envoy-gateway-system", "a-gateway-whose-name-is-quite-long", "envoy-envoy-gateway-system-a-gateway-whose-name-is-qui-" + sha8("envoy-gateway-system/a-gateway-whose-name-is-quite-long")},
	} {
		if got := envoyServiceName(tt.namespace, tt.name); got != tt.want {
			t.Errorf("%s/%s: %s, want %s", tt.namespace, tt.name, got, tt.want)
		}
	}
}

func sha8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:8]
}

// edgeOf is the controller of the one edge inv renders: the controller of
// its Gateway's class, or of its Ingress's class.
func edgeOf(inv inventory) (controller, error) {
	switch {
	case len(inv.gateways)+len(inv.ingresses) != 1:
		return controller{}, fmt.Errorf("%d Gateways and %d Ingresses: want one edge, a Gateway or an Ingress", len(inv.gateways), len(inv.ingresses))
	case len(inv.gateways) == 1:
		gw := inv.gateways[0]
		class, ok := gatewayControllers[string(gw.Spec.GatewayClassName)]
		if !ok {
			return controller{}, fmt.Errorf("Gateway %s: GatewayClass %s has no controller in the model (gatewayControllers in edge_test.go)", gw.Name, gw.Spec.GatewayClassName)
		}
		return class.serving(gw), nil
	}
	ing := inv.ingresses[0]
	if ing.Spec.IngressClassName == nil {
		return controller{}, fmt.Errorf("Ingress %s names no ingressClassName", ing.Name)
	}
	c, ok := ingressControllers[*ing.Spec.IngressClassName]
	if !ok {
		return controller{}, fmt.Errorf("ingress class %s: no controller of that class in the model (ingressControllers in edge_test.go)", *ing.Spec.IngressClassName)
	}
	return c, nil
}

// route is one rule of the routing table as a gateway sees it.
type route struct {
	Path, Service string
	Port          int32
}

// routes is the routing table: every rule of the HTTPRoutes that reach a
// Service (a redirect reaches none) and every path of the Ingresses, in
// their order. Only the first match and backend of a rule count here;
// checkRoutingTable refuses more.
func (inv inventory) routes() []route {
	var out []route
	for _, r := range inv.httpRoutes {
		for _, rule := range r.Spec.Rules {
			if len(rule.BackendRefs) == 0 {
				continue
			}
			path := "/"
			if len(rule.Matches) > 0 && rule.Matches[0].Path != nil && rule.Matches[0].Path.Value != nil {
				path = *rule.Matches[0].Path.Value
			}
			b := rule.BackendRefs[0]
			out = append(out, route{path, string(b.Name), portOf(b.Port)})
		}
	}
	for _, ing := range inv.ingresses {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if b := p.Backend.Service; b != nil {
					out = append(out, route{p.Path, b.Name, b.Port.Number})
				}
			}
		}
	}
	return out
}

func portOf(p *gatewayv1.PortNumber) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// envValue is a variable of the container named container of Deployment
// deployment, and whether it is set.
func (inv inventory) envValue(deployment, container, name string) (string, bool) {
	for _, d := range inv.deployments {
		if d.Name != deployment {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if e, ok := envVar(c, name); ok && c.Name == container {
				return e.Value, true
			}
		}
	}
	return "", false
}

// checkEdge holds wherever the manifests are deployed: one edge whose
// controller the model knows, and edge-srv an alias of its Service; with
// a Gateway, every route on a listener of it, TLS from a Secret on every
// HTTPS listener, and a plain HTTP listener beside an HTTPS one only
// redirecting to HTTPS; the session cookie Secure exactly when the site is
// served over HTTPS, and the client calling the edge with that scheme.
func checkEdge(inv inventory) []error {
	edge, err := edgeOf(inv)
	if err != nil {
		return []error{err}
	}
	var errs []error
	alias, ok := inv.services[edgeAlias]
	if !ok || alias.Spec.Type != corev1.ServiceTypeExternalName || alias.Spec.ExternalName != edge.host() {
		errs = append(errs, fmt.Errorf("Service %s must be an ExternalName of %s, the Service of the edge's controller (%s)", edgeAlias, edge.host(), edge.name))
	}
	var https bool
	if len(inv.gateways) == 1 {
		var gwErrs []error
		https, gwErrs = checkGateway(inv.gateways[0], inv.httpRoutes)
		errs = append(errs, gwErrs...)
	} else {
		https = servesTLS(inv.ingresses[0])
	}
	secure, set := inv.envValue("auth-depl", "auth", "COOKIE_SECURE")
	switch {
	case https && set && secure == "false":
		errs = append(errs, fmt.Errorf("the site is served over HTTPS, yet auth's COOKIE_SECURE is false: the session cookie would travel over plain HTTP too"))
	case !https && (!set || secure != "false"):
		errs = append(errs, fmt.Errorf("the site is served over plain HTTP, yet the session cookie is Secure (auth's COOKIE_SECURE is not false): browsers would not keep it"))
	}
	base, _ := inv.envValue("client-depl", "client", "API_BASE_URL")
	want := map[bool]string{true: "https", false: "http"}[https]
	if u, err := url.Parse(base); err != nil || u.Scheme != want || u.Host != edgeAlias {
		errs = append(errs, fmt.Errorf("the client's API_BASE_URL is %q, want %s://%s: the edge's alias, with the scheme the site is served with", base, want, edgeAlias))
	}
	return errs
}

// checkGateway checks gw and the routes attached to it, and reports
// whether the site is served over HTTPS only.
func checkGateway(gw *gatewayv1.Gateway, routes []*gatewayv1.HTTPRoute) (bool, []error) {
	var errs []error
	listeners := map[gatewayv1.SectionName]gatewayv1.Listener{}
	hasHTTPS := false
	for _, l := range gw.Spec.Listeners {
		listeners[l.Name] = l
		switch l.Protocol {
		case gatewayv1.HTTPSProtocolType:
			hasHTTPS = true
			tls := l.TLS
			if tls == nil || len(tls.CertificateRefs) == 0 || (tls.Mode != nil && *tls.Mode != gatewayv1.TLSModeTerminate) {
				errs = append(errs, fmt.Errorf("Gateway %s: HTTPS listener %s does not terminate TLS with a certificate from a Secret", gw.Name, l.Name))
				continue
			}
			for _, ref := range tls.CertificateRefs {
				if (ref.Kind != nil && *ref.Kind != "Secret") || (ref.Group != nil && *ref.Group != "") {
					errs = append(errs, fmt.Errorf("Gateway %s: listener %s's certificate is not a Secret", gw.Name, l.Name))
				}
			}
		case gatewayv1.HTTPProtocolType:
		default:
			errs = append(errs, fmt.Errorf("Gateway %s: listener %s speaks %s; the site is HTTP and HTTPS", gw.Name, l.Name, l.Protocol))
		}
	}
	servedOn := map[gatewayv1.ProtocolType]bool{}
	redirected := map[gatewayv1.SectionName]bool{}
	for _, r := range routes {
		reachesService := slices.ContainsFunc(r.Spec.Rules, func(rule gatewayv1.HTTPRouteRule) bool { return len(rule.BackendRefs) > 0 })
		for _, p := range r.Spec.ParentRefs {
			if string(p.Name) != gw.Name || p.SectionName == nil {
				errs = append(errs, fmt.Errorf("HTTPRoute %s: parentRef %s names no listener of Gateway %s (give its sectionName)", r.Name, p.Name, gw.Name))
				continue
			}
			l, ok := listeners[*p.SectionName]
			if !ok {
				errs = append(errs, fmt.Errorf("HTTPRoute %s: Gateway %s has no listener %s", r.Name, gw.Name, *p.SectionName))
				continue
			}
			if reachesService {
				servedOn[l.Protocol] = true
			}
			if l.Protocol != gatewayv1.HTTPProtocolType || !hasHTTPS {
				continue
			}
			if !redirectsOnly(r) {
				errs = append(errs, fmt.Errorf("HTTPRoute %s on plain HTTP listener %s, beside HTTPS: it must only redirect to HTTPS, and serves the site instead", r.Name, l.Name))
				continue
			}
			redirected[l.Name] = true
		}
	}
	for _, l := range gw.Spec.Listeners {
		if hasHTTPS && l.Protocol == gatewayv1.HTTPProtocolType && !redirected[l.Name] {
			errs = append(errs, fmt.Errorf("Gateway %s: plain HTTP listener %s has no route redirecting it to HTTPS", gw.Name, l.Name))
		}
	}
	if !servedOn[gatewayv1.HTTPSProtocolType] && !servedOn[gatewayv1.HTTPProtocolType] {
		errs = append(errs, fmt.Errorf("Gateway %s: no route reaches a Service", gw.Name))
	}
	return servedOn[gatewayv1.HTTPSProtocolType] && !servedOn[gatewayv1.HTTPProtocolType], errs
}

// redirectsOnly: every rule of r redirects to HTTPS and reaches no Service.
func redirectsOnly(r *gatewayv1.HTTPRoute) bool {
	return len(r.Spec.Rules) > 0 && !slices.ContainsFunc(r.Spec.Rules, func(rule gatewayv1.HTTPRouteRule) bool {
		return len(rule.BackendRefs) != 0 || len(rule.Filters) != 1 || rule.Filters[0].Type != gatewayv1.HTTPRouteFilterRequestRedirect ||
			rule.Filters[0].RequestRedirect == nil || rule.Filters[0].RequestRedirect.Scheme == nil || *rule.Filters[0].RequestRedirect.Scheme != "https"
	})
}

// servesTLS: the Ingress has TLS for every host it routes.
func servesTLS(ing *networkingv1.Ingress) bool {
	for _, rule := range ing.Spec.Rules {
		if !slices.ContainsFunc(ing.Spec.TLS, func(tls networkingv1.IngressTLS) bool {
			return tls.SecretName != "" && slices.Contains(tls.Hosts, rule.Host)
		}) {
			return false
		}
	}
	return len(ing.Spec.Rules) > 0
}

func TestEdge(t *testing.T) {
	for _, dir := range kustomizationDirs(t) {
		t.Run(dir, func(t *testing.T) {
			for _, err := range checkEdge(inventoryOf(rendered(t, dir))) {
				t.Error(err)
			}
		})
	}
}

// The rules can fail: each mutation breaks the edge in one way.
func TestEdgeRulesRejectMutations(t *testing.T) {
	ingressDir := filepath.Join("infra", "overlays", "ingress")
	plainDir := filepath.Join("infra", "overlays", "plain-http")
	tests := []struct {
		name, dir, want string
		mutate          func(t *testing.T, objs []Object) []Object
	}{
		{"the site's route on plain HTTP too", "infra/k8s", "must only redirect", func(t *testing.T, objs []Object) []Object {
			r := find[*gatewayv1.HTTPRoute](t, objs, "ticketing")
			r.Spec.ParentRefs = append(r.Spec.ParentRefs, gatewayv1.ParentReference{Name: "ticketing", SectionName: ptr[gatewayv1.SectionName]("http")})
			return objs
		}},
		{"the redirect reaching a Service", "infra/k8s", "must only redirect", func(t *testing.T, objs []Object) []Object {
			r := find[*gatewayv1.HTTPRoute](t, objs, "https-redirect")
			r.Spec.Rules[0].BackendRefs = []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "client-srv", Port: ptr[gatewayv1.PortNumber](3000)}}}}
			return objs
		}},
		{"no redirect on plain HTTP", "infra/k8s", "no route redirecting", func(t *testing.T, objs []Object) []Object {
			return remove[*gatewayv1.HTTPRoute](t, objs, "https-redirect")
		}},
		{"HTTPS without a certificate", "infra/k8s", "does not terminate TLS", func(t *testing.T, objs []Object) []Object {
			find[*gatewayv1.Gateway](t, objs, "ticketing").Spec.Listeners[0].TLS.CertificateRefs = nil
			return objs
		}},
		{"a route on a listener that does not exist", "infra/k8s", "has no listener web", func(t *testing.T, objs []Object) []Object {
			find[*gatewayv1.HTTPRoute](t, objs, "ticketing").Spec.ParentRefs[0].SectionName = ptr[gatewayv1.SectionName]("web")
			return objs
		}},
		{"a class no controller of the model serves", "infra/k8s", "GatewayClass nginx", func(t *testing.T, objs []Object) []Object {
			find[*gatewayv1.Gateway](t, objs, "ticketing").Spec.GatewayClassName = "nginx"
			return objs
		}},
		{"the Gateway renamed, the alias not", "infra/k8s", "must be an ExternalName of envoy-ticketing-site-", func(t *testing.T, objs []Object) []Object {
			find[*gatewayv1.Gateway](t, objs, "ticketing").Name = "site"
			return objs
		}},
		{"a Secure-less cookie behind HTTPS", "infra/k8s", "COOKIE_SECURE is false", func(t *testing.T, objs []Object) []Object {
			replaceEnv(t, objs, "auth-depl", "COOKIE_SECURE", "true", "false")
			return objs
		}},
		{"the client calling the edge over plain HTTP", "infra/k8s", "API_BASE_URL", func(t *testing.T, objs []Object) []Object {
			replaceEnv(t, objs, "client-depl", "API_BASE_URL", "https://", "http://")
			return objs
		}},
		{"a Secure cookie over plain HTTP", plainDir, "browsers would not keep it", func(t *testing.T, objs []Object) []Object {
			replaceEnv(t, objs, "auth-depl", "COOKIE_SECURE", "false", "true")
			return objs
		}},
		{"an Ingress without TLS", ingressDir, "browsers would not keep it", func(t *testing.T, objs []Object) []Object {
			find[*networkingv1.Ingress](t, objs, "ingress-service").Spec.TLS = nil
			return objs
		}},
		{"an Ingress beside the Gateway", "infra/k8s", "want one edge", func(t *testing.T, objs []Object) []Object {
			return append(objs, copyObjects(filterObjects[*networkingv1.Ingress](rendered(t, ingressDir)))...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := checkEdge(inventoryOf(tt.mutate(t, copyObjects(rendered(t, tt.dir)))))
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("no rule reports %q; they report %v", tt.want, errs)
			}
		})
	}
}

// filterObjects are the objects of objs of type T.
func filterObjects[T any](objs []Object) []Object {
	var out []Object
	for _, o := range objs {
		if _, ok := o.Obj.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

// siteRoutes are the HTTPRoutes that reach Services (not the redirect).
func siteRoutes(inv inventory) []*gatewayv1.HTTPRoute {
	var out []*gatewayv1.HTTPRoute
	for _, r := range inv.httpRoutes {
		if !redirectsOnly(r) {
			out = append(out, r)
		}
	}
	return out
}

// siteHost is the one host name of the base's site route.
func siteHost(t *testing.T) string {
	t.Helper()
	site := siteRoutes(inventoryOf(baseObjects(t)))
	if len(site) != 1 || len(site[0].Spec.Hostnames) != 1 {
		t.Fatal("want one HTTPRoute reaching Services, for one host name")
	}
	return string(site[0].Spec.Hostnames[0])
}

// The base's routing table is the contract's (§6), on the Gateway's
// HTTPS listener for ticketing.dev, in the one form the local gateway of
// `make up` implements: one PathPrefix match and one Service port per
// rule, no filters, no other match; every backend an existing Service port.
func TestRoutingTable(t *testing.T) {
	objs := baseObjects(t)
	svcs := services(objs)
	site := siteRoutes(inventoryOf(objs))
	if len(site) != 1 {
		t.Fatalf("%d HTTPRoutes reach Services, want 1 (routes.yaml)", len(site))
	}
	r := site[0]
	if !slices.Equal(r.Spec.Hostnames, []gatewayv1.Hostname{"ticketing.dev"}) {
		t.Errorf("HTTPRoute %s: hostnames %v, want [ticketing.dev]", r.Name, r.Spec.Hostnames)
	}
	if len(r.Spec.ParentRefs) != 1 || r.Spec.ParentRefs[0].SectionName == nil || *r.Spec.ParentRefs[0].SectionName != "https" {
		t.Errorf("HTTPRoute %s: parentRefs %+v, want the Gateway's https listener only", r.Name, r.Spec.ParentRefs)
	}
	for i, rule := range r.Spec.Rules {
		if len(rule.Matches) != 1 || rule.Matches[0].Path == nil || rule.Matches[0].Path.Type == nil ||
			*rule.Matches[0].Path.Type != gatewayv1.PathMatchPathPrefix || len(rule.Matches[0].Headers) != 0 ||
			len(rule.Matches[0].QueryParams) != 0 || rule.Matches[0].Method != nil {
			t.Errorf("rule %d: want exactly one PathPrefix match on the path alone", i)
		}
		if len(rule.Filters) != 0 || rule.Timeouts != nil {
			t.Errorf("rule %d: filters and timeouts are not part of the routing contract the local gateway implements", i)
		}
		if len(rule.BackendRefs) != 1 {
			t.Errorf("rule %d: %d backends, want 1", i, len(rule.BackendRefs))
			continue
		}
		b := rule.BackendRefs[0]
		if (b.Kind != nil && *b.Kind != "Service") || (b.Group != nil && *b.Group != "") || b.Namespace != nil || len(b.Filters) != 0 {
			t.Errorf("rule %d: backend %+v, want a Service of this namespace", i, b)
		}
		svc, ok := svcs[string(b.Name)]
		if !ok || !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Port == portOf(b.Port) }) {
			t.Errorf("rule %d: no Service %s with port %d", i, b.Name, portOf(b.Port))
		}
	}
	want := []route{
		{"/api/users", "auth-srv", 3000},
		{"/api/tickets", "tickets-srv", 3000},
		{"/api/orders", "orders-srv", 3000},
		{"/api/payments", "payments-srv", 3000},
		{"/", "client-srv", 3000},
	}
	if got := inventoryOf(objs).routes(); !slices.Equal(got, want) {
		t.Errorf("routes = %v, want %v", got, want)
	}
}

// The Ingress overlay routes as the Gateway does: the same table, for the
// same host, with TLS from the same Secret.
func TestIngressOverlayRoutesAsTheGateway(t *testing.T) {
	base := inventoryOf(rendered(t, "infra/k8s"))
	for _, dir := range kustomizationDirs(t) {
		inv := inventoryOf(rendered(t, dir))
		if len(inv.ingresses) == 0 {
			continue
		}
		t.Run(dir, func(t *testing.T) {
			if got, want := inv.routes(), base.routes(); !slices.Equal(got, want) {
				t.Errorf("the Ingress routes %v, the Gateway %v", got, want)
			}
			ing := inv.ingresses[0]
			if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != siteHost(t) {
				t.Errorf("Ingress rules %+v: want one rule for the routes' host", ing.Spec.Rules)
			}
			for _, p := range ing.Spec.Rules[0].HTTP.Paths {
				if p.PathType == nil || *p.PathType != networkingv1.PathTypePrefix {
					t.Errorf("path %s: pathType must be Prefix, as the routes' PathPrefix", p.Path)
				}
			}
			for key := range ing.Annotations {
				if strings.Contains(key, "rewrite") || strings.Contains(key, "regex") {
					t.Errorf("annotation %s routes beyond plain Prefix rules", key)
				}
			}
			if ing.Spec.DefaultBackend != nil {
				t.Error("a defaultBackend is not part of the routing table")
			}
			secret := string(base.gateways[0].Spec.Listeners[0].TLS.CertificateRefs[0].Name)
			if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != secret {
				t.Errorf("Ingress tls %+v, want the Gateway's Secret %s", ing.Spec.TLS, secret)
			}
		})
	}
}

// infra/gatewayclass.yaml is the one GatewayClass the base's Gateway names,
// of the controller the model assumes; the README applies it.
func TestGatewayClass(t *testing.T) {
	objs, err := LoadFile(filepath.Join(repoRoot(t), "infra", "gatewayclass.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	class, ok := objs[0].Obj.(*gatewayv1.GatewayClass)
	if len(objs) != 1 || !ok {
		t.Fatal("infra/gatewayclass.yaml must hold one GatewayClass")
	}
	gws := inventoryOf(baseObjects(t)).gateways
	if len(gws) != 1 || string(gws[0].Spec.GatewayClassName) != class.Name {
		t.Errorf("the base's Gateway does not name GatewayClass %s", class.Name)
	}
	if want := gatewayControllers[class.Name].controllerName; want == "" || string(class.Spec.ControllerName) != want {
		t.Errorf("GatewayClass %s: controllerName %s, want %q (the controller the model assumes)", class.Name, class.Spec.ControllerName, want)
	}
	checkLabels(t, "GatewayClass", class.Labels)
	if readme := readFile(t, filepath.Join(repoRoot(t), "infra", "README.md")); !strings.Contains(readme, "kubectl apply -f infra/gatewayclass.yaml") {
		t.Error("infra/README.md does not create the GatewayClass with `kubectl apply -f infra/gatewayclass.yaml`")
	}
}

// Every Secret the edge serves a certificate from, in the base and every
// overlay, is created by the README's command, as a kubernetes.io/tls Secret
// with its certificate and key; `make tls` makes them.
func TestTLSSecretIsDocumented(t *testing.T) {
	readme := strings.ReplaceAll(readFile(t, filepath.Join(repoRoot(t), "infra", "README.md")), "\\\n", " ")
	ns := platformNamespace(t).Name
	secrets := map[string]bool{}
	for _, dir := range kustomizationDirs(t) {
		inv := inventoryOf(rendered(t, dir))
		for _, gw := range inv.gateways {
			for _, l := range gw.Spec.Listeners {
				if l.TLS != nil {
					for _, ref := range l.TLS.CertificateRefs {
						secrets[string(ref.Name)] = true
					}
				}
			}
		}
		for _, ing := range inv.ingresses {
			for _, tls := range ing.Spec.TLS {
				secrets[tls.SecretName] = true
			}
		}
	}
	if len(secrets) == 0 {
		t.Fatal("no edge serves TLS")
	}
	for name := range secrets {
		for _, key := range []string{"tls.crt", "tls.key"} {
			cmd := regexp.MustCompile(`kubectl -n ` + regexp.QuoteMeta(ns) + ` create secret generic ` + regexp.QuoteMeta(name) +
				` --type=kubernetes.io/tls\b[^\n]*--from-file=` + regexp.QuoteMeta(key) + `=`)
			if !cmd.MatchString(readme) {
				t.Errorf("infra/README.md has no `kubectl -n %s create secret generic %s --type=kubernetes.io/tls ... --from-file=%s=...`", ns, name, key)
			}
		}
	}
	if !strings.Contains(readme, "make tls") {
		t.Error("infra/README.md does not say `make tls`")
	}
}
