// Package gateway is the local stand-in for the Kubernetes edge: it reads
// the HTTPRoutes of infra/k8s/routes.yaml (Gateway API,
// gateway.networking.k8s.io/v1) and routes requests as a Gateway API
// implementation does, to processes on this machine instead of Services.
package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Rule is one match of an HTTPRoute: requests for Host (any host when empty)
// whose path matches Path go to the Service named Backend.
type Rule struct {
	Host     string
	Path     string
	Exact    bool // path type Exact; PathPrefix matches whole path elements
	Backend  string
	Port     int32
	position int // order in the manifest, to break ties deterministically
}

// Routes are the rules of the HTTPRoutes, ready to match requests.
type Routes struct {
	rules []Rule
	hosts map[string]bool
}

// httpRoute is the part of an HTTPRoute this gateway implements: path
// matches, one Service per rule, host names. It is decoded strictly, so a
// field it does not know (a filter, a header or method match, a weight, a
// timeout, a misspelt key) is an error: the local routing never silently
// differs from the cluster's.
type httpRoute struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		// Which Gateway listener serves the route is the cluster's
		// business: here the gateway itself is the listener.
		ParentRefs []struct {
			Group       string `json:"group"`
			Kind        string `json:"kind"`
			Namespace   string `json:"namespace"`
			Name        string `json:"name"`
			SectionName string `json:"sectionName"`
			Port        int32  `json:"port"`
		} `json:"parentRefs"`
		Hostnames []string    `json:"hostnames"`
		Rules     []routeRule `json:"rules"`
	} `json:"spec"`
}

type routeRule struct {
	Matches     []routeMatch `json:"matches"`
	BackendRefs []struct {
		Group *string `json:"group"`
		Kind  *string `json:"kind"`
		Name  string  `json:"name"`
		Port  int32   `json:"port"`
	} `json:"backendRefs"`
}

type routeMatch struct {
	Path *struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"path"`
}

// LoadRoutes reads and parses a file of HTTPRoutes.
func LoadRoutes(path string) (*Routes, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := ParseRoutes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseRoutes parses YAML documents that are each one
// gateway.networking.k8s.io/v1 HTTPRoute.
func ParseRoutes(data []byte) (*Routes, error) {
	routes := &Routes{hosts: map[string]bool{}}
	for i, doc := range documents(data) {
		if err := routes.add(doc); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
	}
	if len(routes.rules) == 0 {
		return nil, errors.New("no HTTPRoute rules")
	}
	// Gateway API's precedence: an Exact path before any PathPrefix, then
	// the longest prefix, then the order of the manifest (the API's
	// tie-breakers, the routes' age and name, are that order here).
	sort.SliceStable(routes.rules, func(i, j int) bool {
		a, b := routes.rules[i], routes.rules[j]
		if a.Exact != b.Exact {
			return a.Exact
		}
		if la, lb := a.length(), b.length(); la != lb {
			return la > lb
		}
		return a.position < b.position
	})
	return routes, nil
}

func (routes *Routes) add(doc []byte) error {
	var r httpRoute
	if err := yaml.UnmarshalStrict(doc, &r); err != nil {
		return fmt.Errorf("parse HTTPRoute: %w", err)
	}
	if r.Kind != "HTTPRoute" || r.APIVersion != "gateway.networking.k8s.io/v1" {
		return fmt.Errorf("want a gateway.networking.k8s.io/v1 HTTPRoute, got %s %s", r.APIVersion, r.Kind)
	}
	hosts := r.Spec.Hostnames
	for _, h := range hosts {
		if strings.HasPrefix(h, "*") {
			return fmt.Errorf("HTTPRoute %s: wildcard host name %s is not implemented here", r.Metadata.Name, h)
		}
		routes.hosts[h] = true
	}
	if len(hosts) == 0 {
		hosts = []string{""} // the listener's host names, here any
	}
	for i, rule := range r.Spec.Rules {
		if len(rule.BackendRefs) != 1 {
			return fmt.Errorf("HTTPRoute %s, rule %d: %d backends; one Service per rule is implemented here", r.Metadata.Name, i, len(rule.BackendRefs))
		}
		b := rule.BackendRefs[0]
		if (b.Group != nil && *b.Group != "") || (b.Kind != nil && *b.Kind != "Service") || b.Port == 0 {
			return fmt.Errorf("HTTPRoute %s, rule %d: the backend must be a Service and its port", r.Metadata.Name, i)
		}
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []routeMatch{{}} // the API's default: PathPrefix /
		}
		for _, m := range matches {
			path, exact := "/", false
			if m.Path != nil {
				switch m.Path.Type {
				case "", "PathPrefix":
				case "Exact":
					exact = true
				default:
					return fmt.Errorf("HTTPRoute %s, rule %d: path type %s is not implemented here", r.Metadata.Name, i, m.Path.Type)
				}
				if m.Path.Value != "" {
					path = m.Path.Value
				}
			}
			if !strings.HasPrefix(path, "/") {
				return fmt.Errorf("HTTPRoute %s, rule %d: path %q must start with /", r.Metadata.Name, i, path)
			}
			for _, h := range hosts {
				routes.rules = append(routes.rules, Rule{
					Host: h, Path: path, Exact: exact, Backend: b.Name, Port: b.Port, position: len(routes.rules),
				})
			}
		}
	}
	return nil
}

// documents splits a YAML stream at its "---" lines and leaves out the
// documents that hold only comments or nothing.
func documents(data []byte) [][]byte {
	var docs [][]byte
	var doc bytes.Buffer
	flush := func() {
		for _, line := range strings.Split(doc.String(), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				docs = append(docs, bytes.Clone(doc.Bytes()))
				break
			}
		}
		doc.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.TrimRight(line, " \t\r\n") == "---" {
			flush()
			continue
		}
		doc.WriteString(line)
	}
	flush()
	return docs
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

// Match returns the rule for a request's host and path: among the rules
// for exactly that host, else among those for any host, the first by
// precedence that matches. A host the routes do not name (localhost,
// 127.0.0.1, …) is served as the routes' host when they name exactly one:
// on this machine, localhost stands in for ticketing.dev.
func (r *Routes) Match(host, path string) (Rule, bool) {
	host = stripPort(host)
	if !r.hosts[host] && len(r.hosts) == 1 {
		for h := range r.hosts {
			host = h
		}
	}
	for _, forHost := range []string{host, ""} {
		for _, rule := range r.rules {
			if rule.Host == forHost && rule.matches(path) {
				return rule, true
			}
		}
	}
	return Rule{}, false
}

// matches implements the path semantics of the Gateway API (as Ingress's):
// Exact compares the whole path; PathPrefix compares path elements split by
// "/", so /api/users matches /api/users and /api/users/signup but not
// /api/usersx, and a trailing slash in the rule is ignored.
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
// slash a PathPrefix rule ignores.
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
