package flow

import (
	"math"
	"slices"
	"time"
)

// maxErrorSamples bounds how many failure descriptions a step keeps.
const maxErrorSamples = 3

// samples is what one worker observed during a step. Each worker has its
// own; merge combines them once the workers are done, so nothing is locked.
type samples struct {
	lat      []time.Duration // each successful operation
	waits    []time.Duration // the step's propagation wait, where it has one
	errors   int
	statuses map[string]int // the answer that decided each operation: "201", "404", "neterr", …
	failures []string       // the first few failures, described
}

func newSamples() *samples { return &samples{statuses: map[string]int{}} }

func (s *samples) ok(d time.Duration) { s.lat = append(s.lat, d) }

func (s *samples) fail(desc string) {
	s.errors++
	if len(s.failures) < maxErrorSamples {
		s.failures = append(s.failures, desc)
	}
}

func (s *samples) status(a answer) { s.statuses[a.key()]++ }

func (s *samples) merge(o *samples) {
	s.lat = append(s.lat, o.lat...)
	s.waits = append(s.waits, o.waits...)
	s.errors += o.errors
	for k, v := range o.statuses {
		s.statuses[k] += v
	}
	for _, f := range o.failures {
		if len(s.failures) < maxErrorSamples {
			s.failures = append(s.failures, f)
		}
	}
}

// Dist is a latency distribution in milliseconds.
type Dist struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// DistOf summarises ds (in any order; ds is not changed). Percentiles are
// nearest-rank: the smallest value with at least p% of the values at or
// below it, always one of the observed values.
func DistOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return Dist{
		P50: Millis(Percentile(s, 50)),
		P90: Millis(Percentile(s, 90)),
		P99: Millis(Percentile(s, 99)),
		Max: Millis(s[len(s)-1]),
	}
}

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of sorted
// values: the value at rank ⌈p/100 × n⌉, counting from 1. Zero for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Throughput is n operations per second of elapsed, to two decimals; zero
// when nothing elapsed.
func Throughput(n int, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return math.Round(float64(n)/elapsed.Seconds()*100) / 100
}

// Millis is d in milliseconds, to the microsecond.
func Millis(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }
