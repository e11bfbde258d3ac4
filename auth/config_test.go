package main

import (
	"strings"
	"testing"
	"time"

	"ticketing.dev/common/config"
	"ticketing.dev/testkit"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	required := map[string]string{"MONGO_URI": "mongodb://auth-mongo-srv:27017/auth", "NATS_URL": "nats://nats-srv:4222", "JWT_KEY": testkit.JWTKey}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range required {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}

	for _, tc := range []struct {
		name      string
		env       map[string]string
		want      Config
		errNames  []string // each must appear in the error
		errAbsent []string // none may
	}{
		{
			name: "defaults",
			env:  required,
			want: Config{Port: 3000, MongoURI: required["MONGO_URI"], NATSURL: required["NATS_URL"], JWTKey: testkit.JWTKey, TokenTTL: 24 * time.Hour,
				CookieSecure: true, OutboxSweep: time.Second, RateLimitPerEmail: 10, RateLimitPerAddr: 300},
		},
		{
			name: "every variable set",
			env: with(map[string]string{"PORT": "8080", "TOKEN_TTL": "15m", "COOKIE_SECURE": "false", "OUTBOX_SWEEP": "5s",
				"RATE_LIMIT_PER_EMAIL": "5", "RATE_LIMIT_PER_ADDR": "1000", "TRUSTED_PROXY_HOPS": "1"}),
			want: Config{Port: 8080, MongoURI: required["MONGO_URI"], NATSURL: required["NATS_URL"], JWTKey: testkit.JWTKey, TokenTTL: 15 * time.Minute,
				CookieSecure: false, OutboxSweep: 5 * time.Second, RateLimitPerEmail: 5, RateLimitPerAddr: 1000, TrustedProxyHops: 1},
		},
		{name: "nothing set", env: map[string]string{}, errNames: []string{"MONGO_URI is required", "NATS_URL is required", "JWT_KEY is required"}},
		{name: "MONGO_URI missing", env: map[string]string{"JWT_KEY": testkit.JWTKey, "NATS_URL": "nats://n"}, errNames: []string{"MONGO_URI is required"}, errAbsent: []string{"JWT_KEY", "NATS_URL"}},
		{name: "JWT_KEY missing", env: map[string]string{"MONGO_URI": "mongodb://x/auth", "NATS_URL": "nats://n"}, errNames: []string{"JWT_KEY is required"}, errAbsent: []string{"MONGO_URI", "NATS_URL"}},
		{name: "JWT_KEY blank", env: with(map[string]string{"JWT_KEY": "   "}), errNames: []string{"JWT_KEY is required"}},
		{name: "JWT_KEY too short", env: with(map[string]string{"JWT_KEY": "secret"}),
			errNames: []string{"JWT_KEY must be at least 32 characters"}, errAbsent: []string{"secret"}},
		{
			name: "malformed values",
			env: with(map[string]string{"PORT": "70000", "TOKEN_TTL": "a day", "COOKIE_SECURE": "maybe",
				"RATE_LIMIT_PER_EMAIL": "0", "RATE_LIMIT_PER_ADDR": "many", "TRUSTED_PROXY_HOPS": "-1"}),
			errNames: []string{"PORT", "TOKEN_TTL", "COOKIE_SECURE", "RATE_LIMIT_PER_EMAIL", "RATE_LIMIT_PER_ADDR", "TRUSTED_PROXY_HOPS"},
		},
		{name: "negative token lifetime", env: with(map[string]string{"TOKEN_TTL": "-1h"}), errNames: []string{"TOKEN_TTL"}},
		{name: "token outliving its revocation", env: with(map[string]string{"TOKEN_TTL": "800h"}),
			errNames: []string{"TOKEN_TTL must be at most 720h0m0s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := config.New(lookup(tc.env))
			got, err := loadConfig(r), r.Err()
			if len(tc.errNames) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Fatalf("config = %+v\nwant     %+v", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, name := range tc.errNames {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not mention %q", err, name)
				}
			}
			for _, name := range tc.errAbsent {
				if strings.Contains(err.Error(), name) {
					t.Errorf("error %q also mentions %q, which is set", err, name)
				}
			}
		})
	}
}

func TestConfigDescriptionMasksTheKey(t *testing.T) {
	t.Parallel()
	r := config.New(lookup(map[string]string{"MONGO_URI": "mongodb://u:pw@h/auth", "NATS_URL": "nats://n", "JWT_KEY": testkit.JWTKey}))
	loadConfig(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	d := r.Describe()
	if d["JWT_KEY"] != "***" || strings.Contains(d["MONGO_URI"], "pw") || d["PORT"] != "(default)" {
		t.Fatalf("Describe() = %v: JWT_KEY and the URI's password must be masked", d)
	}
}
