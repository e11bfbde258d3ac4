package manifests

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A service's shutdown after SIGTERM runs its bounded steps one after the
// other: the HTTP server drains, then run's deferred stops (listeners, the
// outbox relay or expiration's worker), then the connections close
// (MongoDB, tracing). Each bound is read from the code that sets it, so
// that raising one without raising terminationGracePeriodSeconds fails
// here; a pattern that no longer matches fails too, naming the step to
// look at again.

// drainStep is one bound of a shutdown: where it is set, and a pattern whose
// one group is its seconds.
type drainStep struct {
	name, file string
	pattern    *regexp.Regexp
}

var (
	httpDrain = drainStep{"HTTP drain (server.ShutdownTimeout)", "common/server/server.go",
		regexp.MustCompile(`const ShutdownTimeout = (\d+) \* time\.Second`)}
	listenersStop = drainStep{"listeners (events.Listener.Stop)", "common/events/listener.go",
		regexp.MustCompile(`(?s)func \(l \*Listener\) Stop\(\) \{.*?time\.After\((\d+) \* time\.Second\)`)}
	outboxFlush = drainStep{"outbox flush (outbox.Relay's stop)", "common/outbox/relay.go",
		regexp.MustCompile(`(?s)func \(r \*Relay\) Start\(\) \(stop func\(\)\) \{.*?WithTimeout\(context\.Background\(\), (\d+) ?\* ?time\.Second\)`)}
	mongoDisconnect = drainStep{"MongoDB disconnect (service.Conns.Close)", "common/service/service.go",
		regexp.MustCompile(`WithTimeout\(context\.Background\(\), (\d+) ?\* ?time\.Second\)\s*defer cancel\(\)\s*_ = client\.Disconnect`)}
	tracingFlush = drainStep{"tracing flush (tracing.Setup's stop)", "common/tracing/tracing.go",
		regexp.MustCompile(`WithTimeout\(context\.Background\(\), (\d+) ?\* ?time\.Second\)\s*defer cancel\(\)\s*if err := tp\.Shutdown`)}
	jobsFinish = drainStep{"running jobs (expiry.Worker's shutdownTimeout)", "expiration/expiry/worker.go",
		regexp.MustCompile(`shutdownTimeout\s*=\s*(\d+) \* time\.Second`)}
)

// drainSteps are each service's steps, in the order they run.
var drainSteps = map[string][]drainStep{
	"auth":       {httpDrain, mongoDisconnect, tracingFlush},
	"tickets":    {httpDrain, listenersStop, outboxFlush, mongoDisconnect, tracingFlush},
	"orders":     {httpDrain, listenersStop, outboxFlush, mongoDisconnect, tracingFlush},
	"payments":   {httpDrain, listenersStop, outboxFlush, mongoDisconnect, tracingFlush},
	"expiration": {httpDrain, listenersStop, jobsFinish, tracingFlush},
}

// drainBudget is the sum of a service's bounds, and how it was made.
type drainBudget struct {
	seconds int64
	detail  string // "HTTP drain (…) 15 s + …"
}

// drainBounds reads every service's bounds from the code.
func drainBounds(t *testing.T) map[string]drainBudget {
	t.Helper()
	root := repoRoot(t)
	out := map[string]drainBudget{}
	for _, svc := range sortedKeys(drainSteps) {
		var b drainBudget
		var parts []string
		for _, step := range drainSteps[svc] {
			m := step.pattern.FindStringSubmatch(readFile(t, filepath.Join(root, step.file)))
			if m == nil {
				t.Fatalf("%s: the bound of %s is no longer where %s looks (%s): read the shutdown again, then update drainSteps and the services' terminationGracePeriodSeconds",
					svc, step.name, step.file, step.pattern)
			}
			secs, _ := strconv.ParseInt(m[1], 10, 64)
			b.seconds += secs
			parts = append(parts, fmt.Sprintf("%s %d s", step.name, secs))
		}
		b.detail = strings.Join(parts, " + ")
		out[svc] = b
	}
	return out
}

// The drain steps cover every Go service.
func TestDrainStepsCoverEveryService(t *testing.T) {
	if got, want := sortedKeys(drainSteps), slices.Sorted(slices.Values(goServices)); !slices.Equal(got, want) {
		t.Errorf("drainSteps has %v, want the services %v", got, want)
	}
	for svc, b := range drainBounds(t) {
		t.Logf("%s drains in %d s: %s", svc, b.seconds, b.detail)
	}
}
