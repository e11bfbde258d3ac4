package manifests

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The NetworkPolicies, evaluated: a small evaluator of NetworkPolicy's
// semantics (allowed), a model of the pods of a rendered kustomization and
// of the world around them (the edge's controller, the cluster DNS, the
// internet, pods that are not the platform's), and the rules over them:
// every connection the platform makes (read from the manifests: the
// services' URLs, the routes' backends, the NATS routes, the replica sets'
// members) is allowed, and no other one is.

// endpoint is one end of a connection as NetworkPolicy sees it: a pod (its
// namespace, that namespace's labels, its own labels, its container ports
// and address), or, with no namespace, an address outside the cluster. A
// stranger is a pod that is neither the platform's nor the edge.
type endpoint struct {
	name      string
	namespace string
	nsLabels  map[string]string
	labels    map[string]string
	ports     []corev1.ContainerPort
	ip        netip.Addr
	stranger  bool
	token     bool // a pod that mounts a service account token
}

func (e endpoint) isPod() bool { return e.namespace != "" }

// connection is from opening a connection to port (of protocol) of to; the
// port is the pod's own, after any Service's translation, as a policy sees it.
type connection struct {
	from, to endpoint
	port     int32
	protocol corev1.Protocol
}

func (c connection) String() string {
	return fmt.Sprintf("%s → %s:%d/%s", c.from.name, c.to.name, c.port, c.protocol)
}

// allowed reports whether the policies let c through: the source's egress
// and the destination's ingress must both allow it.
func allowed(policies []*networkingv1.NetworkPolicy, c connection) bool {
	return admitted(policies, c, networkingv1.PolicyTypeEgress) && admitted(policies, c, networkingv1.PolicyTypeIngress)
}

// admitted applies the policies of one direction to the pod at that end of
// c (the source for egress, the destination for ingress): a pod that no
// policy of that type selects is not isolated and lets everything through;
// an isolated pod lets through what any rule of any policy selecting it
// allows (policies and rules add up; none denies). Only the policies of the
// pod's own namespace apply to it; an address outside the cluster has none.
func admitted(policies []*networkingv1.NetworkPolicy, c connection, direction networkingv1.PolicyType) bool {
	pod, peer := c.from, c.to
	if direction == networkingv1.PolicyTypeIngress {
		pod, peer = c.to, c.from
	}
	if !pod.isPod() {
		return true
	}
	isolated := false
	for _, p := range policies {
		if p.Namespace != pod.namespace || !hasPolicyType(p, direction) || !selectorMatches(&p.Spec.PodSelector, pod.labels) {
			continue
		}
		isolated = true
		for _, r := range rulesOf(p, direction) {
			if peersMatch(r.peers, p.Namespace, peer) && portsMatch(r.ports, c) {
				return true
			}
		}
	}
	return !isolated
}

// hasPolicyType: policyTypes as written, or, left out, as the API server
// defaults it: Ingress always, Egress when the policy has egress rules.
func hasPolicyType(p *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return t == networkingv1.PolicyTypeIngress || len(p.Spec.Egress) > 0
	}
	return slices.Contains(p.Spec.PolicyTypes, t)
}

// rule is an ingress rule (peers: from) or an egress rule (peers: to).
type rule struct {
	peers []networkingv1.NetworkPolicyPeer
	ports []networkingv1.NetworkPolicyPort
}

func rulesOf(p *networkingv1.NetworkPolicy, direction networkingv1.PolicyType) []rule {
	var out []rule
	if direction == networkingv1.PolicyTypeIngress {
		for _, r := range p.Spec.Ingress {
			out = append(out, rule{r.From, r.Ports})
		}
		return out
	}
	for _, r := range p.Spec.Egress {
		out = append(out, rule{r.To, r.Ports})
	}
	return out
}

// peersMatch: a rule without peers matches every peer; otherwise any one
// of them must match.
func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNamespace string, e endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	return slices.ContainsFunc(peers, func(p networkingv1.NetworkPolicyPeer) bool { return peerMatches(p, policyNamespace, e) })
}

// peerMatches is one peer: an ipBlock (an address in the CIDR and in none
// of its exceptions; pods' addresses included, the strict reading), or
// selectors of pods: a podSelector alone picks pods of the policy's own
// namespace, a namespaceSelector alone every pod of the namespaces it
// picks, and both in one peer the pods that match both (AND, not OR).
func peerMatches(p networkingv1.NetworkPolicyPeer, policyNamespace string, e endpoint) bool {
	if b := p.IPBlock; b != nil {
		return e.ip.IsValid() && inCIDR(b.CIDR, e.ip) && !slices.ContainsFunc(b.Except, func(c string) bool { return inCIDR(c, e.ip) })
	}
	if !e.isPod() {
		return false
	}
	if p.NamespaceSelector == nil {
		if e.namespace != policyNamespace {
			return false
		}
	} else if !selectorMatches(p.NamespaceSelector, e.nsLabels) {
		return false
	}
	return p.PodSelector == nil || selectorMatches(p.PodSelector, e.labels)
}

func inCIDR(cidr string, ip netip.Addr) bool {
	prefix, err := netip.ParsePrefix(cidr)
	return err == nil && prefix.Contains(ip)
}

// selectorMatches is a label selector (matchLabels and matchExpressions,
// apimachinery's own evaluation): empty matches everything.
func selectorMatches(sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(set))
}

// portsMatch: a rule without ports matches every port; otherwise one must
// match the protocol (TCP unless said) and the port: none (every port), a
// number, a range to endPort, or a name, which is the destination pod's
// container port of that name.
func portsMatch(ports []networkingv1.NetworkPolicyPort, c connection) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if protocolOr(p.Protocol) != c.protocol {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.String:
			if slices.ContainsFunc(c.to.ports, func(cp corev1.ContainerPort) bool {
				return cp.Name == p.Port.StrVal && cp.ContainerPort == c.port && protocolOr(&cp.Protocol) == c.protocol
			}) {
				return true
			}
		case p.EndPort != nil:
			if c.port >= p.Port.IntVal && c.port <= *p.EndPort {
				return true
			}
		case p.Port.IntVal == c.port:
			return true
		}
	}
	return false
}

func protocolOr(p *corev1.Protocol) corev1.Protocol {
	if p == nil || *p == "" {
		return corev1.ProtocolTCP
	}
	return *p
}

// The evaluator follows NetworkPolicy's semantics, each case a rule of the
// API's documentation, so the verdicts on the manifests below can be trusted.
func TestNetworkPolicyEvaluator(t *testing.T) {
	ns := func(name string) map[string]string { return map[string]string{"kubernetes.io/metadata.name": name} }
	pod := func(name, namespace string, ports ...corev1.ContainerPort) endpoint {
		return endpoint{name: name, namespace: namespace, nsLabels: ns(namespace), labels: map[string]string{"app": name},
			ports: ports, ip: netip.MustParseAddr("10.244.0.9")}
	}
	web, db, other := pod("web", "shop"), pod("db", "shop", corev1.ContainerPort{Name: "sql", ContainerPort: 5432}), pod("web", "elsewhere")
	internet := endpoint{name: "internet", ip: netip.MustParseAddr("203.0.113.7")}
	app := func(name string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	}
	policy := func(selected string, types []networkingv1.PolicyType, ingress []networkingv1.NetworkPolicyIngressRule, egress []networkingv1.NetworkPolicyEgressRule) *networkingv1.NetworkPolicy {
		p := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop"}}
		if selected != "" {
			p.Spec.PodSelector = *app(selected)
		}
		p.Spec.PolicyTypes, p.Spec.Ingress, p.Spec.Egress = types, ingress, egress
		return p
	}
	from := func(peers ...networkingv1.NetworkPolicyPeer) []networkingv1.NetworkPolicyIngressRule {
		return []networkingv1.NetworkPolicyIngressRule{{From: peers}}
	}
	to := func(ports []networkingv1.NetworkPolicyPort, peers ...networkingv1.NetworkPolicyPeer) []networkingv1.NetworkPolicyEgressRule {
		return []networkingv1.NetworkPolicyEgressRule{{To: peers, Ports: ports}}
	}
	port := func(p intstr.IntOrString, protocol corev1.Protocol) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Port: &p, Protocol: &protocol}
	}
	ingress, egress := networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress
	both := []networkingv1.PolicyType{ingress, egress}
	tests := []struct {
		name     string
		policies []*networkingv1.NetworkPolicy
		c        connection
		want     bool
	}{
		{"no policy: everything flows", nil, connection{web, db, 5432, "TCP"}, true},
		{"an empty podSelector selects every pod; no rule allows nothing", []*networkingv1.NetworkPolicy{policy("", both, nil, nil)},
			connection{web, db, 5432, "TCP"}, false},
		{"isolated for ingress only: egress still free", []*networkingv1.NetworkPolicy{policy("", []networkingv1.PolicyType{ingress}, nil, nil)},
			connection{web, internet, 443, "TCP"}, true},
		{"policyTypes left out, egress rules: isolated for egress",
			[]*networkingv1.NetworkPolicy{policy("web", nil, nil, to(nil, networkingv1.NetworkPolicyPeer{PodSelector: app("db")}))},
			connection{web, internet, 443, "TCP"}, false},
		{"policyTypes left out, no egress rule: only ingress isolated", []*networkingv1.NetworkPolicy{policy("web", nil, nil, nil)},
			connection{web, internet, 443, "TCP"}, true},
		{"a podSelector alone is the policy's namespace only", []*networkingv1.NetworkPolicy{policy("db", both, from(networkingv1.NetworkPolicyPeer{PodSelector: app("web")}), nil)},
			connection{other, db, 5432, "TCP"}, false},
		{"namespace and pod selectors in one peer: both must match",
			[]*networkingv1.NetworkPolicy{policy("db", both, from(networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: ns("elsewhere")}, PodSelector: app("api")}), nil)},
			connection{other, db, 5432, "TCP"}, false},
		{"namespace and pod selectors in two peers: either one",
			[]*networkingv1.NetworkPolicy{policy("db", both, from(networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: ns("elsewhere")}}, networkingv1.NetworkPolicyPeer{PodSelector: app("api")}), nil)},
			connection{other, db, 5432, "TCP"}, true},
		{"policies add up: one allows what another isolates", []*networkingv1.NetworkPolicy{
			policy("", both, nil, nil),
			policy("web", both, nil, to(nil, networkingv1.NetworkPolicyPeer{PodSelector: app("db")})),
			policy("db", both, from(networkingv1.NetworkPolicyPeer{PodSelector: app("web")}), nil),
		}, connection{web, db, 5432, "TCP"}, true},
		{"a named port is the destination's", []*networkingv1.NetworkPolicy{policy("web", both, nil, to([]networkingv1.NetworkPolicyPort{port(intstr.FromString("sql"), "TCP")}))},
			connection{web, db, 5432, "TCP"}, true},
		{"a port range", []*networkingv1.NetworkPolicy{policy("web", both, nil, to([]networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromInt32(5000)), EndPort: ptr[int32](5500)}}))},
			connection{web, db, 5432, "TCP"}, true},
		{"the protocol counts", []*networkingv1.NetworkPolicy{policy("web", both, nil, to([]networkingv1.NetworkPolicyPort{port(intstr.FromInt32(53), "UDP")}))},
			connection{web, db, 53, "TCP"}, false},
		{"an ipBlock's exception", []*networkingv1.NetworkPolicy{policy("web", both, nil, to(nil, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8"}}}))},
			connection{web, db, 5432, "TCP"}, false},
		{"an ipBlock reaches outside", []*networkingv1.NetworkPolicy{policy("web", both, nil, to(nil, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8"}}}))},
			connection{web, internet, 443, "TCP"}, true},
		{"selectors never match an address outside", []*networkingv1.NetworkPolicy{policy("web", both, nil, to(nil, networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{}}))},
			connection{web, internet, 443, "TCP"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := allowed(tt.policies, tt.c); got != tt.want {
				t.Errorf("%s: allowed %v, want %v", tt.c, got, tt.want)
			}
		})
	}
}

// network is one rendered kustomization as the evaluator sees it.
type network struct {
	policies []*networkingv1.NetworkPolicy
	pods     []endpoint          // the platform's pods, one per workload (their replicas are alike)
	byName   map[string]endpoint // the platform's pods by workload name
	edge     endpoint            // a pod of the edge's controller
	dns      endpoint            // the cluster DNS
	internet endpoint            // an address outside the cluster (api.stripe.com's)
	metadata endpoint            // the cloud's metadata service (link-local)
	// apiServer is the Kubernetes API server as a pod's connection to the
	// kubernetes Service reaches it: an address outside the pods'
	// (kind's control-plane node), on 6443 (kind) or 443 (managed clusters).
	apiServer endpoint
	// scrapes are the Prometheus servers the manifests run, each with
	// what Prometheus's own code says its jobs scrape (infra/promcheck).
	scrapes []scrapes
	// strangers are pods that are not the platform's: a debugging pod in
	// its namespace, one in another namespace, and those beside the edge's
	// controller that are not it (a debugging pod; another Gateway's proxy).
	strangers []endpoint
	// controllers are the edge's and the others the model knows, which an
	// address may name.
	controllers []controller
	// paths are the connections the platform makes, read from the manifests.
	paths []connection
}

func namespaceLabels(ns string) map[string]string {
	return map[string]string{"kubernetes.io/metadata.name": ns}
}

func podOf(name, ns string, podLabels map[string]string, ports []corev1.ContainerPort, n int) endpoint {
	return endpoint{name: name, namespace: ns, nsLabels: namespaceLabels(ns), labels: podLabels, ports: ports,
		ip: netip.AddrFrom4([4]byte{10, 244, byte(n / 250), byte(1 + n%250)})}
}

func controllerPod(c controller, n int) endpoint {
	return podOf(c.name+" ("+c.namespace+")", c.namespace, c.labels, c.ports, n)
}

func strangerOf(name, ns string, podLabels map[string]string, n int) endpoint {
	e := podOf(name, ns, podLabels, nil, n)
	e.stranger = true
	return e
}

// connectionURL is a URL in a variable's value or an argument, with
// credentials before its hosts left out.
var connectionURL = regexp.MustCompile(`\b(mongodb|nats|redis|https?)://(?:[^@/?\s]*@)?([^/?\s]+)`)

var defaultPorts = map[string]string{"http": "80", "https": "443"}

// networkOf builds the model of objs and the paths the platform uses; errs
// are what could not be resolved.
func networkOf(objs []Object) (network, []error) {
	inv := inventoryOf(objs)
	var errs []error
	n := network{policies: inv.networkPolicies, byName: map[string]endpoint{}}
	for i, w := range inv.podTemplates() {
		var ports []corev1.ContainerPort
		for _, c := range w.template.Spec.Containers {
			ports = append(ports, c.Ports...)
		}
		e := podOf(w.name, w.namespace, w.template.Labels, ports, i)
		e.token = mountsToken(inv, w.template.Spec)
		n.pods = append(n.pods, e)
		n.byName[w.name] = e
	}
	if len(n.pods) == 0 {
		return n, []error{fmt.Errorf("no pods")}
	}
	platform := n.pods[0].namespace
	n.dns = podOf("kube-dns", "kube-system", map[string]string{"k8s-app": "kube-dns"},
		[]corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", ContainerPort: 53}}, 300)
	n.internet = endpoint{name: "the internet (api.stripe.com)", ip: netip.MustParseAddr("203.0.113.7")}
	n.metadata = endpoint{name: "the metadata service", ip: netip.MustParseAddr("169.254.169.254")}
	n.apiServer = endpoint{name: "the API server", ip: netip.MustParseAddr("172.18.0.2")}
	debug := map[string]string{"run": "debug"}
	n.strangers = []endpoint{
		strangerOf("a debugging pod in "+platform, platform, debug, 301),
		strangerOf("a debugging pod in default", "default", debug, 302),
	}
	edge, err := edgeOf(inv)
	if err != nil {
		return n, []error{err}
	}
	n.edge = controllerPod(edge, 303)
	n.strangers = append(n.strangers, strangerOf("a debugging pod in "+edge.namespace, edge.namespace, debug, 304))
	for i, name := range sortedKeys(edge.others) {
		n.strangers = append(n.strangers, strangerOf(name+" ("+edge.namespace+")", edge.namespace, edge.others[name], 305+i))
	}
	n.controllers = []controller{edge}
	for _, class := range sortedKeys(ingressControllers) {
		n.controllers = append(n.controllers, ingressControllers[class])
	}

	// add records that from connects to port (TCP) of the pod behind a
	// host of the manifests, and to the DNS for its name.
	add := func(from endpoint, hostPort string) {
		to, port, err := n.resolve(inv, hostPort)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", from.name, err))
			return
		}
		n.paths = append(n.paths, connection{from, to, port, corev1.ProtocolTCP},
			connection{from, n.dns, 53, corev1.ProtocolUDP}, connection{from, n.dns, 53, corev1.ProtocolTCP})
	}
	for _, w := range inv.podTemplates() {
		from := n.byName[w.name]
		for _, c := range w.template.Spec.Containers {
			// The URLs a container is given: MONGO_URI, NATS_URL, REDIS_URL,
			// API_BASE_URL, the load test's -base.
			values := slices.Clone(c.Args)
			for _, e := range c.Env {
				values = append(values, e.Value)
			}
			for _, v := range values {
				for _, m := range connectionURL.FindAllStringSubmatch(v, -1) {
					for _, hostPort := range strings.Split(m[2], ",") {
						if !strings.Contains(hostPort, ":") {
							hostPort += ":" + defaultPorts[m[1]]
						}
						add(from, hostPort)
					}
				}
			}
			// payments charges at Stripe's API, STRIPE_API_BASE's default.
			if _, ok := envVar(c, "STRIPE_KEY"); ok {
				if _, other := envVar(c, "STRIPE_API_BASE"); !other {
					n.paths = append(n.paths, connection{from, n.internet, 443, corev1.ProtocolTCP})
				}
			}
		}
	}
	// A pod that mounts a service account token calls the API server
	// (Prometheus's discovery), on either port the API server may have.
	for _, w := range inv.podTemplates() {
		if n.byName[w.name].token {
			for _, port := range apiServerPorts {
				n.paths = append(n.paths, connection{n.byName[w.name], n.apiServer, port, corev1.ProtocolTCP})
			}
		}
	}
	// Prometheus scrapes what its configuration, discovery and relabeling
	// make targets of (Prometheus's own code says which).
	scraped, scrapeErrs := prometheusScrapes(inv, n)
	errs = append(errs, scrapeErrs...)
	n.scrapes = scraped
	for _, s := range scraped {
		for _, job := range s.jobs {
			for _, target := range job.Targets {
				to, port, err := n.targetPod(target["__address__"])
				if err != nil {
					errs = append(errs, fmt.Errorf("%s, job %s: %w", s.server, job.Name, err))
					continue
				}
				n.paths = append(n.paths, connection{n.byName[s.server.name], to, port, corev1.ProtocolTCP})
			}
		}
	}
	for _, s := range inv.statefulSets {
		from := n.byName[s.Name]
		switch storeKind(s) {
		case "mongo":
			// Each member reaches every member under its name in the set.
			for _, host := range mongoMembers(s) {
				add(from, host)
			}
		case "nats":
			pod := s.Spec.Template.Spec
			confPath, _ := argAfter(pod.Containers[0].Args, "--config")
			conf, err := inv.fileFromConfigMap(pod, pod.Containers[0], confPath)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			opts, err := natsConfig(conf, s.Name+"-0")
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, r := range opts.Routes {
				add(from, r.Host)
			}
		}
	}
	// The edge reaches every backend of the routes.
	for _, r := range inv.routes() {
		to, port, err := n.resolve(inv, r.Service+":"+strconv.Itoa(int(r.Port)))
		if err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", r.Path, err))
			continue
		}
		n.paths = append(n.paths, connection{n.edge, to, port, corev1.ProtocolTCP})
	}
	return n, errs
}

// resolve finds the pod behind host:port as a connection reaches it: a
// Service (svc:port), a StatefulSet's pod under its governing Service
// (pod.svc:port), or a controller by its in-cluster address, directly or
// through an ExternalName Service (edge-srv); and the pod's port behind the
// Service's.
func (n network) resolve(inv inventory, hostPort string) (endpoint, int32, error) {
	host, portText, _ := strings.Cut(hostPort, ":")
	port, err := strconv.Atoi(portText)
	if err != nil {
		return endpoint{}, 0, fmt.Errorf("%s: no port", hostPort)
	}
	if svc, ok := inv.services[host]; ok && svc.Spec.Type == corev1.ServiceTypeExternalName {
		host = svc.Spec.ExternalName
	}
	for i, c := range n.controllers {
		if c.host() == host {
			target, ok := c.servicePort[int32(port)]
			if !ok {
				return endpoint{}, 0, fmt.Errorf("%s: the Service of %s has no port %d", hostPort, c.name, port)
			}
			if i == 0 {
				return n.edge, target, nil
			}
			return controllerPod(c, 310+i), target, nil
		}
	}
	name := host
	if _, service, dotted := strings.Cut(host, "."); dotted {
		name = service
	}
	if strings.Count(host, ".") > 1 {
		return endpoint{}, 0, fmt.Errorf("%s is outside the manifests and not in the model (the controllers of edge_test.go)", host)
	}
	svc, ok := inv.services[name]
	if !ok {
		return endpoint{}, 0, fmt.Errorf("%s names no Service", host)
	}
	for _, sp := range svc.Spec.Ports {
		if sp.Port != int32(port) {
			continue
		}
		for _, w := range inv.workloads() {
			if !selects(svc.Spec.Selector, w.template.Labels) {
				continue
			}
			target := sp.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(sp.Port)
			}
			if p, ok := containerPort(w.template.Spec, target); ok {
				return n.byName[w.name], p, nil
			}
		}
	}
	return endpoint{}, 0, fmt.Errorf("Service %s: no port %d reaching a pod", name, port)
}

// destinations are the connections tried to every endpoint, without their
// source: to a pod's container ports plus 443 and an unused one (a rule
// without ports would open those too), to the DNS, the edge, the internet.
func (n network) destinations() []connection {
	var out []connection
	add := func(to endpoint, ports ...corev1.ContainerPort) {
		for _, p := range ports {
			out = append(out, connection{to: to, port: p.ContainerPort, protocol: protocolOr(&p.Protocol)})
		}
	}
	extra := []corev1.ContainerPort{{ContainerPort: 443}, {ContainerPort: 9999}}
	for _, p := range n.pods {
		add(p, append(slices.Clone(p.ports), extra...)...)
	}
	add(n.dns, n.dns.ports...)
	add(n.edge, n.edge.ports...)
	add(n.internet, corev1.ContainerPort{ContainerPort: 443}, corev1.ContainerPort{ContainerPort: 80})
	add(n.metadata, corev1.ContainerPort{ContainerPort: 80}, corev1.ContainerPort{ContainerPort: 443})
	for _, port := range apiServerPorts {
		add(n.apiServer, corev1.ContainerPort{ContainerPort: port})
	}
	return out
}

// apiServerPorts are the ports the API server may listen on behind the
// kubernetes Service: kind's 6443, a managed cluster's 443.
var apiServerPorts = []int32{443, 6443}

// targetPod is the platform's pod at address (ip:port), and the port.
func (n network) targetPod(address string) (endpoint, int32, error) {
	addr, err := netip.ParseAddrPort(address)
	if err != nil {
		return endpoint{}, 0, fmt.Errorf("target %q has no port (kubernetes_sd's target for a container without ports): %w", address, err)
	}
	for _, p := range n.pods {
		if p.ip == addr.Addr() {
			return p, int32(addr.Port()), nil
		}
	}
	return endpoint{}, 0, fmt.Errorf("target %s is no pod of the platform", address)
}

// sources are every endpoint a connection may come from.
func (n network) sources() []endpoint {
	return append(append(slices.Clone(n.pods), n.edge), n.strangers...)
}

// governed reports whether the platform's policies decide c: one end at
// least is in its namespace (the others' traffic is not their business).
func (n network) governed(c connection) bool {
	platform := n.pods[0].namespace
	return c.from.namespace == platform || c.to.namespace == platform
}

// checkPathsAllowed: every connection the platform makes is allowed.
func checkPathsAllowed(n network) []error {
	var errs []error
	for _, c := range n.paths {
		if !allowed(n.policies, c) {
			errs = append(errs, fmt.Errorf("denies %s, a connection the platform makes", c))
		}
	}
	return errs
}

// checkNothingElse: no connection the platform's policies decide is
// allowed unless the platform makes it, from any source to any
// destination, on any port tried.
func checkNothingElse(n network) []error {
	used := map[string]bool{}
	for _, c := range n.paths {
		used[c.String()] = true
	}
	var errs []error
	for _, from := range n.sources() {
		for _, c := range n.destinations() {
			if c.from = from; n.governed(c) && allowed(n.policies, c) && !used[c.String()] {
				errs = append(errs, fmt.Errorf("allows %s, which the platform does not use", c))
			}
		}
	}
	return errs
}

// denial is a family of connections that must be denied: those from a
// source to a destination that match (or, with port, those to that port
// too).
type denial struct {
	name  string
	match func(from, to endpoint) bool
	port  func(c connection) bool
}

func (d denial) matches(c connection) bool {
	if d.port != nil {
		return d.port(c)
	}
	return d.match(c.from, c.to)
}

// portNamed reports whether c reaches the destination's container port
// named name.
func portNamed(c connection, name string) bool {
	return slices.ContainsFunc(c.to.ports, func(p corev1.ContainerPort) bool { return p.Name == name && p.ContainerPort == c.port })
}

func nameOf(e endpoint) string { return e.labels["app.kubernetes.io/name"] }

func componentOf(e endpoint) string { return e.labels["app.kubernetes.io/component"] }

func isStranger(e endpoint) bool { return e.stranger }

// denials are the policies' promises, spelled out (checkNothingElse implies
// them all; these name what each one protects).
var denials = []denial{
	{"the client reaches no MongoDB, Redis or NATS", func(from, to endpoint) bool {
		return from.name == "client-depl" && slices.Contains([]string{"database", "cache", "broker"}, componentOf(to))
	}, nil},
	{"tickets cannot reach orders' MongoDB", func(from, to endpoint) bool {
		return from.name == "tickets-depl" && to.name == "orders-mongo"
	}, nil},
	{"a service reaches no MongoDB but its own", func(from, to endpoint) bool {
		return componentOf(from) == "api" && componentOf(to) == "database" && to.name != strings.TrimSuffix(from.name, "-depl")+"-mongo"
	}, nil},
	{"a debugging pod in the namespace reaches nothing", func(from, _ endpoint) bool {
		return isStranger(from) && from.namespace == "ticketing"
	}, nil},
	{"no pod that is neither the platform's nor the edge reaches one of its pods", func(from, to endpoint) bool {
		return isStranger(from) && to.labels["app.kubernetes.io/part-of"] == "ticketing"
	}, nil},
	{"only payments reaches the internet", func(from, to endpoint) bool {
		return from.name != "payments-depl" && to.name == "the internet (api.stripe.com)"
	}, nil},
	{"nothing reaches the cloud's metadata service", func(_, to endpoint) bool {
		return to.name == "the metadata service"
	}, nil},
	{"Redis opens no connection", func(from, _ endpoint) bool {
		return from.name == "expiration-redis"
	}, nil},
	// (The source that is neither the platform's nor a stranger: the edge.)
	{"the edge reaches no store and not expiration", func(from, to endpoint) bool {
		return from.labels["app.kubernetes.io/part-of"] != "ticketing" && !isStranger(from) &&
			slices.Contains([]string{"database", "cache", "broker", "worker"}, componentOf(to))
	}, nil},
	// Observability (infra/components/observability).
	{"only Prometheus reaches a metrics port", nil, func(c connection) bool {
		return nameOf(c.from) != "prometheus" && portNamed(c, "metrics")
	}},
	{"nothing reaches Prometheus", func(_, to endpoint) bool {
		return nameOf(to) == "prometheus"
	}, nil},
	{"only the services reach the collector (the client does not)", func(from, to endpoint) bool {
		return nameOf(to) == "otel-collector" && !slices.Contains(goServices, nameOf(from))
	}, nil},
	{"only the collector reaches Jaeger (its UI through a port-forward)", func(from, to endpoint) bool {
		return nameOf(to) == "jaeger" && nameOf(from) != "otel-collector"
	}, nil},
	{"only a pod with a service account token reaches the API server", func(from, to endpoint) bool {
		return to.name == "the API server" && !from.token
	}, nil},
	{"the observability stack reaches no store, no broker, not the edge", func(from, to endpoint) bool {
		return componentOf(from) == "observability" &&
			(slices.Contains([]string{"database", "cache", "broker"}, componentOf(to)) || (to.isPod() && to.labels["app.kubernetes.io/part-of"] != "ticketing" && to.namespace != "kube-system"))
	}, nil},
}

func checkDenials(n network) []error {
	var errs []error
	for _, d := range denials {
		for _, from := range n.sources() {
			for _, c := range n.destinations() {
				if c.from = from; d.matches(c) && n.governed(c) && allowed(n.policies, c) {
					errs = append(errs, fmt.Errorf("%s: yet %s is allowed", d.name, c))
				}
			}
		}
	}
	return errs
}

// networkRules evaluates every check of this file on objs.
func networkRules(objs []Object) []error {
	n, errs := networkOf(objs)
	if len(n.pods) == 0 {
		return errs
	}
	errs = append(errs, checkPathsAllowed(n)...)
	errs = append(errs, checkDenials(n)...)
	return append(errs, checkNothingElse(n)...)
}

// The policies of the base and of every overlay allow exactly the
// platform's connections, with the load test's Job beside them (it runs in
// the same namespace) wherever the client reaches the edge as in the base,
// which is what the Job's -base and policy are written for: behind an
// Ingress controller, or over plain HTTP, they are changed by hand
// (infra/README.md, "Load test").
func TestNetworkPolicies(t *testing.T) {
	loadtest := rendered(t, loadtestDirName)
	baseEdge, err := edgeOf(inventoryOf(rendered(t, "infra/k8s")))
	if err != nil {
		t.Fatal(err)
	}
	baseURL, _ := inventoryOf(rendered(t, "infra/k8s")).envValue("client-depl", "client", "API_BASE_URL")
	for _, dir := range kustomizationDirs(t) {
		t.Run(dir, func(t *testing.T) {
			objs := slices.Clone(rendered(t, dir))
			inv := inventoryOf(objs)
			edge, _ := edgeOf(inv)
			apiBase, _ := inv.envValue("client-depl", "client", "API_BASE_URL")
			withLoadtest := edge.host() == baseEdge.host() && apiBase == baseURL
			if withLoadtest {
				objs = append(objs, loadtest...)
			}
			n, errs := networkOf(objs)
			// The model sees what the platform uses: a service's store, NATS,
			// the edge both ways, the DNS, Stripe.
			want := []string{
				"auth-depl → auth-mongo:27017/TCP", "auth-depl → nats:4222/TCP", "tickets-depl → nats:4222/TCP", "expiration-depl → expiration-redis:6379/TCP",
				"nats → nats:6222/TCP", "orders-mongo → orders-mongo:27017/TCP", "client-depl → kube-dns:53/UDP",
				"payments-depl → the internet (api.stripe.com):443/TCP",
				n.edge.name + " → auth-depl:3000/TCP", n.edge.name + " → client-depl:3000/TCP", "client-depl → " + n.edge.name + ":",
			}
			if withLoadtest {
				want = append(want, "loadtest → "+n.edge.name+":")
			}
			// With observability: the traces' way, the scrapes, the discovery.
			if len(inv.containersOf(collectorImage)) > 0 {
				want = append(want, "auth-depl → otel-collector-depl:4318/TCP", "expiration-depl → otel-collector-depl:4318/TCP",
					"otel-collector-depl → jaeger-depl:4318/TCP", "otel-collector-depl → kube-dns:53/UDP",
					"prometheus-depl → orders-depl:9090/TCP", "prometheus-depl → expiration-depl:9090/TCP", "prometheus-depl → the API server:6443/TCP")
			}
			for _, want := range want {
				if !slices.ContainsFunc(n.paths, func(c connection) bool { return strings.HasPrefix(c.String(), want) }) {
					t.Errorf("the model does not see %s", want)
				}
			}
			for _, err := range append(errs, networkRules(objs)...) {
				t.Error(err)
			}
		})
	}
}

// The rules can fail: each mutation of the rendered base's policies opens
// a connection or closes one the platform needs, and a rule must say so.
func TestNetworkPolicyRulesRejectMutations(t *testing.T) {
	policy := func(t *testing.T, objs []Object, name string) *networkingv1.NetworkPolicy {
		return find[*networkingv1.NetworkPolicy](t, objs, name)
	}
	selectName := func(name string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": name}}
	}
	tests := []struct {
		name, want string
		mutate     func(t *testing.T, objs []Object) []Object
	}{
		{"no default deny", "a debugging pod in the namespace reaches nothing", func(t *testing.T, objs []Object) []Object {
			return remove[*networkingv1.NetworkPolicy](t, objs, "default-deny")
		}},
		{"expiration dropped from NATS's clients", "denies expiration-depl → nats:4222/TCP", func(t *testing.T, objs []Object) []Object {
			values := &policy(t, objs, "nats").Spec.Ingress[0].From[0].PodSelector.MatchExpressions[0].Values
			*values = slices.DeleteFunc(*values, func(v string) bool { return v == "expiration" })
			return objs
		}},
		{"the client let into NATS", "the client reaches no MongoDB, Redis or NATS", func(t *testing.T, objs []Object) []Object {
			client := policy(t, objs, "client")
			client.Spec.Egress = append(client.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{PodSelector: selectName("nats")}}})
			values := &policy(t, objs, "nats").Spec.Ingress[0].From[0].PodSelector.MatchExpressions[0].Values
			*values = append(*values, "client")
			return objs
		}},
		{"tickets and orders' MongoDB opened to every api", "tickets cannot reach orders' MongoDB", func(t *testing.T, objs []Object) []Object {
			policy(t, objs, "tickets").Spec.Egress[0].To[0].PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/component": "database"}}
			policy(t, objs, "orders-mongo").Spec.Ingress[0].From[0].PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/component": "api"}}
			return objs
		}},
		{"the edge rule on every port", "allows Envoy Gateway (envoy-gateway-system) → auth-depl:9999/TCP", func(t *testing.T, objs []Object) []Object {
			policy(t, objs, "auth").Spec.Ingress[0].Ports = nil
			return objs
		}},
		{"the controller's namespace OR its pods (two peers)", "allows a debugging pod in envoy-gateway-system → orders-depl:3000/TCP", func(t *testing.T, objs []Object) []Object {
			peer := policy(t, objs, "orders").Spec.Ingress[0].From[0]
			policy(t, objs, "orders").Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: peer.NamespaceSelector}, {PodSelector: peer.PodSelector}}
			return objs
		}},
		{"every Envoy proxy let in, not this Gateway's only", "allows another Gateway's Envoy proxy (envoy-gateway-system) → tickets-depl:3000/TCP", func(t *testing.T, objs []Object) []Object {
			policy(t, objs, "tickets").Spec.Ingress[0].From[0].PodSelector = selectName("envoy")
			return objs
		}},
		{"the client's calls to the edge on its plain HTTP port", "denies client-depl → Envoy Gateway (envoy-gateway-system):10443/TCP", func(t *testing.T, objs []Object) []Object {
			policy(t, objs, "client").Spec.Egress[0].Ports[0].Port = ptr(intstr.FromInt32(10080))
			return objs
		}},
		{"the edge let into expiration", "the edge reaches no store and not expiration", func(t *testing.T, objs []Object) []Object {
			p := policy(t, objs, "expiration")
			p.Spec.Ingress = append(p.Spec.Ingress, policy(t, objs, "auth").Spec.Ingress[0])
			return objs
		}},
		{"Stripe's rule without its exceptions", "nothing reaches the cloud's metadata service", func(t *testing.T, objs []Object) []Object {
			for i := range policy(t, objs, "payments").Spec.Egress {
				if b := policy(t, objs, "payments").Spec.Egress[i].To[0].IPBlock; b != nil {
					b.Except = nil
					policy(t, objs, "payments").Spec.Egress[i].Ports = nil
				}
			}
			return objs
		}},
		{"MongoDB members cut off from each other", "denies payments-mongo → payments-mongo:27017/TCP", func(t *testing.T, objs []Object) []Object {
			p := policy(t, objs, "payments-mongo")
			p.Spec.Ingress[0].From = p.Spec.Ingress[0].From[:1]
			return objs
		}},
		{"no DNS for the client", "denies client-depl → kube-dns:53/UDP", func(t *testing.T, objs []Object) []Object {
			p := policy(t, objs, "client")
			p.Spec.Egress = p.Spec.Egress[:1]
			return objs
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := tt.mutate(t, copyObjects(rendered(t, "infra/k8s")))
			errs := networkRules(objs)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("no rule reports %q; they report %v", tt.want, errs)
			}
		})
	}
}

// The same for the observability component's policies, on the rendered
// observability overlay.
func TestObservabilityNetworkRulesRejectMutations(t *testing.T) {
	policy := func(t *testing.T, objs []Object, name string) *networkingv1.NetworkPolicy {
		return find[*networkingv1.NetworkPolicy](t, objs, name)
	}
	tests := []struct {
		name, want string
		mutate     func(t *testing.T, objs []Object) []Object
	}{
		{"the client exports too", "only the services reach the collector (the client does not)", func(t *testing.T, objs []Object) []Object {
			for _, values := range []*[]string{
				&policy(t, objs, "services-telemetry").Spec.PodSelector.MatchExpressions[0].Values,
				&policy(t, objs, "otel-collector").Spec.Ingress[0].From[0].PodSelector.MatchExpressions[0].Values,
			} {
				*values = append(*values, "client")
			}
			return objs
		}},
		{"expiration not let out to the collector", "denies expiration-depl → otel-collector-depl:4318/TCP", func(t *testing.T, objs []Object) []Object {
			values := &policy(t, objs, "services-telemetry").Spec.PodSelector.MatchExpressions[0].Values
			*values = slices.DeleteFunc(*values, func(v string) bool { return v == "expiration" })
			return objs
		}},
		{"the collector let into the metrics port", "only Prometheus reaches a metrics port", func(t *testing.T, objs []Object) []Object {
			telemetry := policy(t, objs, "services-telemetry")
			telemetry.Spec.Ingress[0].From = append(telemetry.Spec.Ingress[0].From, networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "otel-collector"}}})
			collector := policy(t, objs, "otel-collector")
			collector.Spec.Egress = append(collector.Spec.Egress, networkingv1.NetworkPolicyEgressRule{
				To: []networkingv1.NetworkPolicyPeer{{PodSelector: &telemetry.Spec.PodSelector}}, Ports: telemetry.Spec.Ingress[0].Ports})
			return objs
		}},
		{"the scrape rule on every port", "only Prometheus reaches a metrics port", func(t *testing.T, objs []Object) []Object {
			p := policy(t, objs, "services-telemetry")
			p.Spec.Ingress[0].From = nil
			return objs
		}},
		{"Prometheus cut off from the services", "denies prometheus-depl → payments-depl:9090/TCP", func(t *testing.T, objs []Object) []Object {
			policy(t, objs, "prometheus").Spec.Egress = policy(t, objs, "prometheus").Spec.Egress[1:]
			return objs
		}},
		{"Prometheus's API rule on every address", "only payments reaches the internet", func(t *testing.T, objs []Object) []Object {
			policy(t, objs, "prometheus").Spec.Egress[1].To = []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}}
			return objs
		}},
		{"Prometheus let in from the client", "nothing reaches Prometheus", func(t *testing.T, objs []Object) []Object {
			p := policy(t, objs, "prometheus")
			p.Spec.Ingress = append(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "client"}}}}})
			c := policy(t, objs, "client")
			c.Spec.Egress = append(c.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "prometheus"}}}}})
			return objs
		}},
		{"Jaeger's UI open to the collector's peers", "only the collector reaches Jaeger", func(t *testing.T, objs []Object) []Object {
			j := policy(t, objs, "jaeger")
			j.Spec.Ingress[0].From = append(j.Spec.Ingress[0].From, policy(t, objs, "otel-collector").Spec.Ingress[0].From...)
			j.Spec.Ingress[0].Ports = nil
			telemetry := policy(t, objs, "services-telemetry")
			telemetry.Spec.Egress = append(telemetry.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "jaeger"}}}}})
			return objs
		}},
		{"the collector's way to Jaeger dropped", "denies otel-collector-depl → jaeger-depl:4318/TCP", func(t *testing.T, objs []Object) []Object {
			policy(t, objs, "otel-collector").Spec.Egress = policy(t, objs, "otel-collector").Spec.Egress[1:]
			return objs
		}},
		{"the collector let out everywhere", "the observability stack reaches no store", func(t *testing.T, objs []Object) []Object {
			policy(t, objs, "otel-collector").Spec.Egress = append(policy(t, objs, "otel-collector").Spec.Egress, networkingv1.NetworkPolicyEgressRule{})
			policy(t, objs, "auth-mongo").Spec.Ingress[0].From = nil
			return objs
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := tt.mutate(t, copyObjects(rendered(t, filepath.Join("infra", "overlays", "observability"))))
			errs := networkRules(objs)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("no rule reports %q; they report %v", tt.want, errs)
			}
		})
	}
}
