// Package config reads a service's configuration from environment variables.
// A Reader collects every problem so that start-up fails once, naming each
// offending variable.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Reader reads typed values from the environment and remembers what was wrong.
type Reader struct {
	lookup   func(string) (string, bool)
	problems []string
	secrets  map[string]bool
	seen     []string
}

// FromEnv reads from the process environment.
func FromEnv() *Reader { return New(os.LookupEnv) }

// New reads from lookup (tests pass a map's lookup).
func New(lookup func(string) (string, bool)) *Reader {
	return &Reader{lookup: lookup, secrets: map[string]bool{}}
}

func (r *Reader) get(name string) (string, bool) {
	r.seen = append(r.seen, name)
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (r *Reader) fail(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// Problem records a problem found outside the Reader's own checks (such as a
// rule across several variables), so that it is reported with the rest.
func (r *Reader) Problem(format string, args ...any) { r.fail(format, args...) }

// Required returns the value of a variable that must be set.
func (r *Reader) Required(name string) string {
	v, ok := r.get(name)
	if !ok {
		r.fail("%s is required", name)
	}
	return v
}

// Secret is Required, and the value is masked when the configuration is logged.
func (r *Reader) Secret(name string) string {
	r.secrets[name] = true
	return r.Required(name)
}

// SecretMinLen is Secret, and the value must be at least n bytes long (a
// signing key: a short one is guessed offline from any token it signed).
func (r *Reader) SecretMinLen(name string, n int) string {
	v := r.Secret(name)
	if v != "" && len(v) < n {
		r.fail("%s must be at least %d characters (e.g. openssl rand -hex %d), got %d", name, n, n/2, len(v))
	}
	return v
}

// OptionalSecret returns the value of a variable that may be unset ("");
// when set, it is masked when the configuration is logged.
func (r *Reader) OptionalSecret(name string) string {
	r.secrets[name] = true
	v, _ := r.get(name)
	return v
}

// String returns the variable or def when unset.
func (r *Reader) String(name, def string) string {
	if v, ok := r.get(name); ok {
		return v
	}
	return def
}

// Int returns the variable as an integer within [min, max], or def when unset.
func (r *Reader) Int(name string, def, min, max int) int {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.fail("%s must be an integer between %d and %d, got %q", name, min, max, v)
		return def
	}
	return n
}

// Bool returns the variable as a boolean (true/false/1/0), or def when unset.
func (r *Reader) Bool(name string, def bool) bool {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail("%s must be true or false, got %q", name, v)
		return def
	}
	return b
}

// Duration returns the variable as a positive Go duration ("15m", "10s"), or def when unset.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail("%s must be a positive duration such as 15m or 10s, got %q", name, v)
		return def
	}
	return d
}

// NonNegativeDuration is Duration where zero is allowed ("0s" turns off
// what it paces).
func (r *Reader) NonNegativeDuration(name string, def time.Duration) time.Duration {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.fail("%s must be a duration of zero or more such as 1m or 0s, got %q", name, v)
		return def
	}
	return d
}

// ErrInvalid is what Err's error is (errors.Is): the configuration is wrong.
var ErrInvalid = errors.New("invalid configuration")

// Err returns every problem found, or nil.
func (r *Reader) Err() error {
	if len(r.problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(r.problems, "; "))
}

// Describe lists the variables read and their values with secrets masked,
// for a single start-up log line.
func (r *Reader) Describe() map[string]string {
	out := make(map[string]string, len(r.seen))
	for _, name := range r.seen {
		v, ok := r.lookup(name)
		switch {
		case !ok:
			out[name] = "(default)"
		case r.secrets[name] || strings.Contains(strings.ToUpper(name), "KEY"):
			out[name] = "***"
		default:
			out[name] = MaskURL(v)
		}
	}
	return out
}

// MaskURL hides the credentials in a connection string, or in each of a
// comma-separated list of them (a NATS cluster's URLs): the password of
// user:password@, or the whole of a lone token@ (nats://token@host).
func MaskURL(v string) string {
	urls := strings.Split(v, ",")
	for i, u := range urls {
		urls[i] = maskOne(u)
	}
	return strings.Join(urls, ",")
}

func maskOne(v string) string {
	scheme := strings.Index(v, "://")
	if scheme < 0 {
		return v
	}
	rest := v[scheme+3:]
	authority := rest
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		authority = rest[:end]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return v
	}
	creds := authority[:at]
	if user, _, ok := strings.Cut(creds, ":"); ok {
		creds = user + ":***"
	} else {
		creds = "***"
	}
	return v[:scheme+3] + creds + rest[at:]
}
