// Package gateway is the local stand-in for the Kubernetes ingress: it reads
// the Ingress manifest from infra/k8s and routes requests the way
// ingress-nginx does, to processes on this machine instead of Services.
package gateway

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// Rule is one path of the Ingress: requests for Host (any host when empty)
// whose path matches Path go to the Service named Backend.
type Rule struct {
	Host     string
	Path     string
	Exact    bool // pathType Exact; Prefix and ImplementationSpecific match by prefix
	Backend  string
	Port     int32
	position int // order in the manifest, to break ties deterministically
}

// Routes are the rules of an Ingress, ready to match requests.
type Routes struct {
	rules []Rule
	hosts map[string]bool
}

// LoadIngress reads and parses an Ingress manifest.
func LoadIngress(path string) (*Routes, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := ParseIngress(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseIngress parses one networking.k8s.io/v1 Ingress document, strictly:
// a field the API does not know is an error, so a typo cannot silently
// change the routing.
func ParseIngress(doc []byte) (*Routes, error) {
	var ing networkingv1.Ingress
	if err := yaml.UnmarshalStrict(doc, &ing); err != nil {
		return nil, fmt.Errorf("parse ingress: %w", err)
	}
	if ing.Kind != "Ingress" || ing.APIVersion != "networking.k8s.io/v1" {
		return nil, fmt.Errorf("want a networking.k8s.io/v1 Ingress, got %s %s", ing.APIVersion, ing.Kind)
	}
	routes := &Routes{hosts: map[string]bool{}}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		if rule.Host != "" {
			routes.hosts[rule.Host] = true
		}
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service == nil {
				return nil, fmt.Errorf("path %q: only service backends are supported", p.Path)
			}
			if !strings.HasPrefix(p.Path, "/") {
				return nil, fmt.Errorf("path %q must start with /", p.Path)
			}
			exact := p.PathType != nil && *p.PathType == networkingv1.PathTypeExact
			routes.rules = append(routes.rules, Rule{
				Host: rule.Host, Path: p.Path, Exact: exact,
				Backend: p.Backend.Service.Name, Port: p.Backend.Service.Port.Number,
				position: len(routes.rules),
			})
		}
	}
	if ing.Spec.DefaultBackend != nil && ing.Spec.DefaultBackend.Service != nil {
		routes.rules = append(routes.rules, Rule{
			Path: "/", Backend: ing.Spec.DefaultBackend.Service.Name,
			Port: ing.Spec.DefaultBackend.Service.Port.Number, position: len(routes.rules),
		})
	}
	if len(routes.rules) == 0 {
		return nil, errors.New("the ingress has no rules")
	}
	// Longest path first, Exact before Prefix at equal length, as the
	// Ingress API specifies and ingress-nginx implements.
	sort.SliceStable(routes.rules, func(i, j int) bool {
		a, b := routes.rules[i], routes.rules[j]
		if la, lb := a.length(), b.length(); la != lb {
			return la > lb
		}
		if a.Exact != b.Exact {
			return a.Exact
		}
		return a.position < b.position
	})
	return routes, nil
}

// Backends lists the Service names the rules route to.
func (r *Routes) Backends() []string {
	seen := map[string]bool{}
	var names []string
	for _, rule := range r.rules {
		if !seen[rule.Backend] {
			seen[rule.Backend] = true
			names = append(names, rule.Backend)
		}
	}
	sort.Strings(names)
	return names
}

// Match returns the rule for a request's host and path. A host the manifest
// does not name (localhost, 127.0.0.1, …) is served as the manifest's host
// when it names exactly one: on this machine, localhost stands in for
// ticketing.dev.
func (r *Routes) Match(host, path string) (Rule, bool) {
	host = stripPort(host)
	if !r.hosts[host] && len(r.hosts) == 1 {
		for h := range r.hosts {
			host = h
		}
	}
	for _, rule := range r.rules {
		if rule.Host != "" && rule.Host != host {
			continue
		}
		if rule.matches(path) {
			return rule, true
		}
	}
	return Rule{}, false
}

// matches implements the Ingress path semantics: Exact compares the whole
// path; Prefix compares path elements split by "/", so /api/users matches
// /api/users and /api/users/signup but not /api/usersx, and a trailing slash
// in the rule is ignored.
func (rule Rule) matches(path string) bool {
	if rule.Exact {
		return path == rule.Path
	}
	prefix := strings.TrimSuffix(rule.Path, "/")
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	rest := path[len(prefix):]
	return rest == "" || rest[0] == '/'
}

// length is the length of the path the rule compares, without the trailing
// slash a Prefix rule ignores.
func (rule Rule) length() int {
	if rule.Exact {
		return len(rule.Path)
	}
	return len(strings.TrimSuffix(rule.Path, "/"))
}

func stripPort(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.Index(host, "]"); i > 0 {
			return host[1:i]
		}
	}
	if i := strings.LastIndex(host, ":"); i >= 0 && !strings.Contains(host[:i], ":") {
		return host[:i]
	}
	return host
}
