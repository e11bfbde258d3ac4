// Package platform starts the whole ticketing platform on one machine, in
// order (stores, services, client, gateway), waits until every part is
// ready, and stops it in reverse order.
package platform

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Services are the Go services, in start order.
var Services = []string{"auth", "tickets", "orders", "expiration", "payments"}

// Stores are the services that own a MongoDB-wire store.
var Stores = []string{"auth", "tickets", "orders", "payments"}

// DevJWTKey signs sessions when JWT_KEY is not set: fine on a laptop, never
// in production.
const DevJWTKey = "devstack-insecure-jwt-key-change-me"

// DevOrderExpirationWindow is the window when ORDER_EXPIRATION_WINDOW is not
// set: long enough to pay in the browser, short enough to watch an order
// expire (and for `make smoke` to finish in about a minute). Production's
// default is 15 minutes.
const DevOrderExpirationWindow = "60s"

// DevOrderExpirationGrace is how long orders waits past an order's window
// before it cancels the order when ORDER_EXPIRATION_GRACE is not set: room
// for a payment that started in time, even one whose payments process died
// mid-charge (resumed within its 10 s lease and a 5 s sweep; stripe-mock
// answers in milliseconds; 5 s AckWait), and still short enough to watch an
// order expire. Production's default is a minute.
const DevOrderExpirationGrace = "30s"

// DevOrderActiveLimit is how many active orders one user may hold when
// ORDER_ACTIVE_LIMIT is not set: no limit (0), so that load tools
// (make loadtest, the bench harness), whose buyers keep many unpaid orders,
// measure the platform rather than the limit. Production's default is 10.
const DevOrderActiveLimit = "0"

// MockStripeKey is the key payments uses against stripe-mock.
const MockStripeKey = "sk_test_123"

// MaxReplicas bounds REPLICAS: every replica is a process on this machine.
const MaxReplicas = 8

// Config is the platform's configuration, from the environment.
type Config struct {
	Root        string // the repository (holds go.work)
	DataDir     string // absolute
	GatewayAddr string
	JWTKey      string
	// Stripe: a real key with Stripe's API (StripeAPIBase empty and
	// StartStripeMock false), or stripe-mock.
	StripeKey       string
	StripeAPIBase   string
	StartStripeMock bool
	// OrderExpirationWindow, OrderExpirationGrace and OrderActiveLimit are
	// passed to orders.
	OrderExpirationWindow string
	OrderExpirationGrace  string
	OrderActiveLimit      string
	// PostgreSQLURL switches FerretDB from SQLite to PostgreSQL.
	PostgreSQLURL string
	// Replicas is how many processes of each service run, as a
	// Deployment's replicas: on the same stores and NATS durables.
	Replicas int
	Skip     map[string]bool
}

// ConfigFromEnv reads DATA_DIR (./.data), GATEWAY_ADDR (:8080), JWT_KEY,
// STRIPE_KEY, STRIPE_API_BASE, ORDER_EXPIRATION_WINDOW (60s), ORDER_EXPIRATION_GRACE (5s),
// FERRETDB_POSTGRESQL_URL, REPLICAS (1) and DEVSTACK_SKIP (comma-separated
// components not to start, e.g. "client").
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	root, err := findRoot()
	if err != nil {
		return Config{}, err
	}
	data := or(getenv("DATA_DIR"), filepath.Join(root, ".data"))
	if data, err = filepath.Abs(data); err != nil {
		return Config{}, err
	}
	cfg := Config{
		Root:                  root,
		DataDir:               data,
		GatewayAddr:           or(getenv("GATEWAY_ADDR"), "127.0.0.1:8080"),
		JWTKey:                or(getenv("JWT_KEY"), DevJWTKey),
		OrderExpirationWindow: or(getenv("ORDER_EXPIRATION_WINDOW"), DevOrderExpirationWindow),
		OrderExpirationGrace:  or(getenv("ORDER_EXPIRATION_GRACE"), DevOrderExpirationGrace),
		OrderActiveLimit:      or(getenv("ORDER_ACTIVE_LIMIT"), DevOrderActiveLimit),
		PostgreSQLURL:         getenv("FERRETDB_POSTGRESQL_URL"),
		Replicas:              1,
		Skip:                  map[string]bool{},
	}
	if v := getenv("REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxReplicas {
			return Config{}, fmt.Errorf("REPLICAS: want how many processes of each service to run, a whole number from 1 to %d, got %q", MaxReplicas, v)
		}
		cfg.Replicas = n
	}
	// A STRIPE_KEY without STRIPE_API_BASE means real Stripe; anything else
	// is a mock: STRIPE_API_BASE's, or stripe-mock started here.
	key, base := getenv("STRIPE_KEY"), getenv("STRIPE_API_BASE")
	switch {
	case key != "" && base == "":
		cfg.StripeKey = key
	case base != "":
		cfg.StripeKey, cfg.StripeAPIBase = or(key, MockStripeKey), base
	default:
		cfg.StripeKey, cfg.StartStripeMock = MockStripeKey, true
	}
	known := map[string]bool{"client": true, "traces": true}
	for _, s := range Services {
		known[s] = true
	}
	for _, name := range strings.Split(getenv("DEVSTACK_SKIP"), ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !known[name] {
			return Config{}, fmt.Errorf("DEVSTACK_SKIP: unknown component %q (known: %s)", name, strings.Join(sortedKeys(known), ", "))
		}
		cfg.Skip[name] = true
	}
	return cfg, nil
}

// RealStripe tells whether payments talks to Stripe itself.
func (c Config) RealStripe() bool { return !c.StartStripeMock && c.StripeAPIBase == "" }

// findRoot walks up from the working directory to the directory holding
// go.work: `make up` runs from the repository root, tests from devstack/.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run devstack inside the repository (no go.work found above the working directory)")
		}
		dir = parent
	}
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
