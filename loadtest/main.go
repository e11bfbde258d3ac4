// Command loadtest drives the ticketing API's user flows through the
// gateway of `make up` or the Kubernetes ingress, and prints throughput and
// p50/p90/p99 latency per step: sign up, list, sell, order, pay, complete,
// the whole purchase, and many buyers racing for one ticket. It exits 1 if
// a step failed beyond the tolerance or a race round had other than one
// winner, 2 on bad flags. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"ticketing.dev/loadtest/flow"
)

// fallbackBase is `make up`'s default gateway address.
const fallbackBase = "http://127.0.0.1:8080"

func main() {
	wd, _ := os.Getwd()
	os.Exit(run(os.Args[1:], os.Getenv, wd, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, wd string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, getenv, wd, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 2
	}
	o.Log = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := flow.Run(ctx, o, stdout); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 1
	}
	return 0
}

// parseFlags turns the command line into validated options; the base URL
// defaults as defaultBase says.
func parseFlags(args []string, getenv func(string) string, wd string, stderr io.Writer) (flow.Options, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base, from := defaultBase(getenv, wd)
	var o flow.Options
	var steps string
	fs.StringVar(&o.Base, "base", base, "the gateway's or ingress's URL (the default: "+from+")")
	fs.StringVar(&o.Host, "host", "", "Host header to send instead of the base URL's, e.g. ticketing.dev for an ingress reached by its Service name")
	fs.IntVar(&o.Concurrency, "c", 8, "workers per timed step")
	fs.DurationVar(&o.Duration, "d", 20*time.Second, "how long each timed step runs")
	fs.IntVar(&o.RaceBuyers, "race-buyers", 30, "buyers ordering one ticket at the same moment")
	fs.IntVar(&o.RaceRounds, "race-rounds", 3, "race rounds, one fresh ticket each")
	fs.StringVar(&steps, "steps", "", "comma-separated steps to run (default all: "+strings.Join(flow.StepNames, ",")+")")
	fs.Float64Var(&o.Tolerance, "tolerance", 0.01, "fraction of a step's operations that may fail before the run fails")
	fs.BoolVar(&o.JSON, "json", false, "also print the results as one JSON line")
	fs.BoolVar(&o.Insecure, "insecure", false, "skip TLS certificate verification (a self-signed https ingress)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: loadtest [flags]\n\nDrives sign up, list, sell, order, pay, complete, purchase and a race through the API gateway.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if steps != "" {
		o.Steps = []string{}
		for s := range strings.SplitSeq(steps, ",") {
			if s = strings.TrimSpace(s); s != "" {
				o.Steps = append(o.Steps, s)
			}
		}
	}
	return o, o.Validate()
}

// defaultBase is the base URL when -base is not given, and where it comes
// from: $LOADTEST_BASE; else the gateway URL a running `make up` recorded in
// devstack.json in its data directory ($DATA_DIR, relative to the
// repository root as `make` runs devstack there, or the root's .data; the
// root is the nearest directory at or above wd holding go.work); else
// `make up`'s default address.
func defaultBase(getenv func(string) string, wd string) (base, from string) {
	if b := getenv("LOADTEST_BASE"); b != "" {
		return b, "$LOADTEST_BASE"
	}
	root := repoRoot(wd)
	dataDir := getenv("DATA_DIR")
	switch {
	case dataDir == "" && root == "":
		return fallbackBase, "make up's address, outside the repository"
	case dataDir == "":
		dataDir = filepath.Join(root, ".data")
	case !filepath.IsAbs(dataDir) && root != "":
		dataDir = filepath.Join(root, dataDir)
	case !filepath.IsAbs(dataDir):
		dataDir = filepath.Join(wd, dataDir)
	}
	state := filepath.Join(dataDir, "devstack.json")
	b, err := os.ReadFile(state)
	if err != nil {
		return fallbackBase, "make up's address, as " + state + " is missing"
	}
	var s struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.URL == "" {
		return fallbackBase, "make up's address, as " + state + " has no url"
	}
	return s.URL, "the running platform's " + state
}

// repoRoot is the nearest directory at or above dir holding go.work, or "".
func repoRoot(dir string) string {
	if dir == "" {
		return ""
	}
	dir = filepath.Clean(dir)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
