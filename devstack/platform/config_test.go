package platform

import (
	"strings"
	"testing"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		check    func(Config) bool
		errorHas string
	}{
		{"defaults", nil, func(c Config) bool {
			return c.GatewayAddr == "127.0.0.1:8080" && c.JWTKey == DevJWTKey && strings.HasSuffix(c.DataDir, "/.data") &&
				c.StartStripeMock && c.StripeKey == MockStripeKey && !c.RealStripe() && c.OrderExpirationWindow == DevOrderExpirationWindow &&
				c.OrderExpirationGrace == DevOrderExpirationGrace && c.OrderActiveLimit == DevOrderActiveLimit && c.Replicas == 1
		}, ""},
		{"real stripe", map[string]string{"STRIPE_KEY": "sk_live_x"}, func(c Config) bool {
			return c.RealStripe() && c.StripeKey == "sk_live_x" && !c.StartStripeMock
		}, ""},
		{"own stripe-mock", map[string]string{"STRIPE_API_BASE": "http://127.0.0.1:12111"}, func(c Config) bool {
			return !c.RealStripe() && !c.StartStripeMock && c.StripeKey == MockStripeKey && c.StripeAPIBase == "http://127.0.0.1:12111"
		}, ""},
		{"overrides", map[string]string{
			"JWT_KEY": "k", "GATEWAY_ADDR": "127.0.0.1:0", "DATA_DIR": "/tmp/x", "ORDER_EXPIRATION_WINDOW": "10s",
			"ORDER_EXPIRATION_GRACE": "30s", "DEVSTACK_SKIP": "client, payments", "FERRETDB_POSTGRESQL_URL": "postgres://p",
			"REPLICAS": "3",
		}, func(c Config) bool {
			return c.JWTKey == "k" && c.GatewayAddr == "127.0.0.1:0" && c.DataDir == "/tmp/x" && c.OrderExpirationWindow == "10s" &&
				c.OrderExpirationGrace == "30s" && c.Skip["client"] && c.Skip["payments"] && !c.Skip["auth"] && c.PostgreSQLURL == "postgres://p" &&
				c.Replicas == 3
		}, ""},
		{"unknown skip", map[string]string{"DEVSTACK_SKIP": "nope"}, nil, `unknown component "nope"`},
		{"replicas not a number", map[string]string{"REPLICAS": "two"}, nil, `REPLICAS: want how many processes of each service to run, a whole number from 1 to 8, got "two"`},
		{"no replica", map[string]string{"REPLICAS": "0"}, nil, `REPLICAS: `},
		{"too many replicas", map[string]string{"REPLICAS": "9"}, nil, `REPLICAS: `},
	}
	for _, tc := range tests {
		cfg, err := ConfigFromEnv(func(k string) string { return tc.env[k] })
		if tc.errorHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errorHas) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.errorHas)
			}
			continue
		}
		if err != nil || !tc.check(cfg) {
			t.Errorf("%s: %+v %v", tc.name, cfg, err)
		}
	}
}

func TestDisplayHost(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{":8080": "localhost", "127.0.0.1:0": "localhost", "0.0.0.0:80": "localhost", "10.0.0.5:8080": "10.0.0.5"} {
		if got := displayHost(addr); got != want {
			t.Errorf("%s → %s, want %s", addr, got, want)
		}
	}
}
