package flow

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

const columns = "%-11s %5s %8s %7s %9s %9s %9s %9s %9s\n"

func printHeader(w io.Writer, rep Report) {
	host := ""
	if rep.Host != "" {
		host = " (Host " + rep.Host + ")"
	}
	fmt.Fprintf(w, "loadtest %s%s  %s GOMAXPROCS=%d NumCPU=%d  started %s\n",
		rep.Base, host, rep.GoVersion, rep.GOMAXPROCS, rep.NumCPU, rep.Started.Format(time.RFC3339))
	fmt.Fprintf(w, "each step %s with %d workers; race: %d buyers × %d rounds\n",
		rep.Duration, rep.Concurrency, rep.RaceBuyers, rep.RaceRounds)
}

func printColumns(w io.Writer) {
	fmt.Fprintf(w, columns, "step", "conc", "ok", "errors", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms")
}

// printRow prints a step's row, then its status counts and first failures
// if it had any, or the race's winners.
func printRow(w io.Writer, s Step) {
	ops, errs := fmt.Sprintf("%.1f", s.OpsPerSec), fmt.Sprint(s.Errors)
	if s.Wait {
		ops, errs = "-", "-"
	}
	fmt.Fprintf(w, columns, s.Name, fmt.Sprint(s.Concurrency), fmt.Sprint(s.OK), errs, ops,
		cell(s.P50), cell(s.P90), cell(s.P99), cell(s.Max))
	if s.Errors > 0 {
		fmt.Fprintf(w, "  statuses: %s\n", counts(s.Statuses))
		for _, f := range s.Samples {
			fmt.Fprintf(w, "  error: %s\n", f)
		}
	}
	if s.Winners != nil {
		fmt.Fprintf(w, "  winners per round: %v (exactly 1 each is correct); answers: %s\n", s.Winners, counts(s.Statuses))
	}
}

func cell(v float64) string { return fmt.Sprintf("%.1f", v) }

func counts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func printVerdict(w io.Writer, rep Report) {
	if len(rep.Failures) == 0 {
		fmt.Fprintln(w, "PASS")
		return
	}
	fmt.Fprintln(w, "FAIL")
	for _, f := range rep.Failures {
		fmt.Fprintln(w, "  "+f)
	}
}

func printJSON(w io.Writer, rep Report) {
	b, err := json.Marshal(rep)
	if err != nil { // a Report always marshals
		panic(err)
	}
	fmt.Fprintln(w, string(b))
}
