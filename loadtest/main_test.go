package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ticketing.dev/loadtest/flow"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultBase(t *testing.T) {
	// A repository with a running platform's state in .data, another data
	// directory elsewhere, and a directory that is in no repository.
	repo := t.TempDir()
	write(t, filepath.Join(repo, "go.work"), "go 1.26.0\n")
	write(t, filepath.Join(repo, ".data", "devstack.json"), `{"pid":1,"url":"http://127.0.0.1:18080","nats":"nats://127.0.0.1:1"}`)
	write(t, filepath.Join(repo, "other", "devstack.json"), `{"url":"http://127.0.0.1:18081"}`)
	write(t, filepath.Join(repo, "broken", "devstack.json"), `{"url":`)
	write(t, filepath.Join(repo, "nourl", "devstack.json"), `{"pid":1}`)
	sub := filepath.Join(repo, "loadtest", "flow")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	write(t, filepath.Join(elsewhere, "mine", "devstack.json"), `{"url":"http://127.0.0.1:18082"}`)

	tests := []struct {
		name string
		env  map[string]string
		wd   string
		want string
	}{
		{"LOADTEST_BASE wins", map[string]string{"LOADTEST_BASE": "http://gw:1", "DATA_DIR": filepath.Join(repo, "other")}, repo, "http://gw:1"},
		{"the repository's .data", nil, repo, "http://127.0.0.1:18080"},
		{"found from a subdirectory", nil, sub, "http://127.0.0.1:18080"},
		{"an absolute DATA_DIR", map[string]string{"DATA_DIR": filepath.Join(repo, "other")}, elsewhere, "http://127.0.0.1:18081"},
		{"a relative DATA_DIR is the root's", map[string]string{"DATA_DIR": "other"}, sub, "http://127.0.0.1:18081"},
		{"a relative DATA_DIR outside a repository is wd's", map[string]string{"DATA_DIR": "mine"}, elsewhere, "http://127.0.0.1:18082"},
		{"no state file", map[string]string{"DATA_DIR": filepath.Join(repo, "missing")}, repo, fallbackBase},
		{"a malformed state file", map[string]string{"DATA_DIR": "broken"}, repo, fallbackBase},
		{"a state file without url", map[string]string{"DATA_DIR": "nourl"}, repo, fallbackBase},
		{"no repository, no DATA_DIR", nil, elsewhere, fallbackBase},
		{"no working directory", nil, "", fallbackBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, from := defaultBase(env(tt.env), tt.wd)
			if got != tt.want {
				t.Errorf("defaultBase = %q (from %s), want %q", got, from, tt.want)
			}
			if from == "" {
				t.Error("no source given")
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	noRepo := t.TempDir()
	defaults := flow.Options{Base: fallbackBase, Concurrency: 8, Duration: 20 * time.Second, RaceBuyers: 30, RaceRounds: 3, Tolerance: 0.01}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    func(o *flow.Options) // applied to defaults
		wantErr string
	}{
		{"defaults", nil, nil, func(*flow.Options) {}, ""},
		{"base from the environment", nil, map[string]string{"LOADTEST_BASE": "http://127.0.0.1:9"}, func(o *flow.Options) { o.Base = "http://127.0.0.1:9" }, ""},
		{"every flag", []string{
			"-base", "https://ingress:443", "-host", "ticketing.dev", "-c", "16", "-d", "30s",
			"-race-buyers", "50", "-race-rounds", "5", "-json", "-insecure", "-steps", "list, race", "-tolerance", "0",
		}, map[string]string{"LOADTEST_BASE": "http://ignored"}, func(o *flow.Options) {
			*o = flow.Options{
				Base: "https://ingress:443", Host: "ticketing.dev", Concurrency: 16, Duration: 30 * time.Second,
				RaceBuyers: 50, RaceRounds: 5, JSON: true, Insecure: true, Steps: []string{"list", "race"}, Tolerance: 0,
			}
		}, ""},
		{"unknown step", []string{"-steps", "signup,checkout"}, nil, nil, `unknown step "checkout"`},
		{"only commas", []string{"-steps", ","}, nil, nil, "no step selected"},
		{"zero workers", []string{"-c", "0"}, nil, nil, "concurrency 0"},
		{"bad duration", []string{"-d", "soon"}, nil, nil, "invalid value"},
		{"stray argument", []string{"run"}, nil, nil, "unexpected arguments"},
		{"unknown flag", []string{"-n", "5"}, nil, nil, "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, env(tt.env), noRepo, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			tt.want(&want)
			if got.Base != want.Base || got.Host != want.Host || got.Concurrency != want.Concurrency ||
				got.Duration != want.Duration || got.RaceBuyers != want.RaceBuyers || got.RaceRounds != want.RaceRounds ||
				got.JSON != want.JSON || got.Insecure != want.Insecure || got.Tolerance != want.Tolerance ||
				!slices.Equal(got.Steps, want.Steps) || (got.Steps == nil) != (want.Steps == nil) {
				t.Errorf("parseFlags = %+v, want %+v", got, want)
			}
		})
	}
}

func TestHelpAndExitCodes(t *testing.T) {
	noRepo := t.TempDir()
	if _, err := parseFlags([]string{"-h"}, env(nil), noRepo, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"-h"}, 0},
		{[]string{"-c", "-1"}, 2},
		{[]string{"extra"}, 2},
	}
	for _, tt := range tests {
		if got := run(tt.args, env(nil), noRepo, io.Discard, io.Discard); got != tt.want {
			t.Errorf("run(%q) = %d, want %d", tt.args, got, tt.want)
		}
	}
}
