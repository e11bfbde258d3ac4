package config_test

import (
	"strings"
	"testing"
	"time"

	"ticketing.dev/common/config"
)

func TestReader(t *testing.T) {
	env := map[string]string{
		"PORT": "4000", "WINDOW": "10s", "BAD_WINDOW": "soon", "SECURE": "false",
		"JWT_KEY": "s3cret", "REDIS_PASSWORD": "hunter2", "MONGO_URI": "mongodb://user:pw@host:27017/db",
	}
	r := config.New(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if got := r.Int("PORT", 3000, 1, 65535); got != 4000 {
		t.Errorf("PORT = %d", got)
	}
	if got := r.Duration("WINDOW", time.Minute); got != 10*time.Second {
		t.Errorf("WINDOW = %s", got)
	}
	if got := r.Bool("SECURE", true); got {
		t.Error("SECURE should be false")
	}
	r.Secret("JWT_KEY")
	if got := r.OptionalSecret("REDIS_PASSWORD"); got != "hunter2" {
		t.Errorf("REDIS_PASSWORD = %q", got)
	}
	if got := r.OptionalSecret("UNSET_PASSWORD"); got != "" {
		t.Errorf("UNSET_PASSWORD = %q", got)
	}
	r.Required("MONGO_URI")
	r.Required("NATS_URL")
	r.Duration("BAD_WINDOW", time.Minute)
	err := r.Err()
	if err == nil {
		t.Fatal("no error for missing NATS_URL and bad BAD_WINDOW")
	}
	for _, want := range []string{"NATS_URL is required", "BAD_WINDOW must be a positive duration"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	d := r.Describe()
	if d["JWT_KEY"] != "***" || d["REDIS_PASSWORD"] != "***" || d["UNSET_PASSWORD"] != "(default)" || strings.Contains(d["MONGO_URI"], "pw") || d["NATS_URL"] != "(default)" {
		t.Errorf("describe leaks or misreports: %v", d)
	}
}

func TestMaskURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mongodb://user:pw@host:27017/db", "mongodb://user:***@host:27017/db"},
		{"mongodb://user:p@ss@host/db?replicaSet=rs0", "mongodb://user:***@host/db?replicaSet=rs0"},
		{"nats://s3cr3tt0ken@nats-srv:4222", "nats://***@nats-srv:4222"},
		{"nats://a:x@n1:4222,nats://b:y@n2:4222,nats://n3:4222", "nats://a:***@n1:4222,nats://b:***@n2:4222,nats://n3:4222"},
		{"redis://:pw@redis:6379/0", "redis://:***@redis:6379/0"},
		{"http://host/path@not-creds", "http://host/path@not-creds"},
		{"nats://nats-srv:4222", "nats://nats-srv:4222"},
		{"plain value", "plain value"},
	}
	for _, tt := range tests {
		if got := config.MaskURL(tt.in); got != tt.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecretMinLen(t *testing.T) {
	tests := []struct {
		value   string
		wantErr string
	}{
		{"", "KEY is required"},
		{"short", "KEY must be at least 32 characters"},
		{strings.Repeat("k", 32), ""},
	}
	for _, tt := range tests {
		r := config.New(func(string) (string, bool) { return tt.value, tt.value != "" })
		r.SecretMinLen("KEY", 32)
		err := r.Err()
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("SecretMinLen(%q): %v, want %q", tt.value, err, tt.wantErr)
		}
		if err != nil && tt.value != "" && strings.Contains(err.Error(), tt.value) {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
}
