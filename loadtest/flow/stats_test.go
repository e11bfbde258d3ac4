package flow

import (
	"slices"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// durations are 1 ms … n ms.
func durations(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = ms(i + 1)
	}
	return out
}

func TestPercentileNearestRank(t *testing.T) {
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"none", nil, 50, 0},
		{"one value is every percentile", []time.Duration{ms(7)}, 99, ms(7)},
		{"median of two is the lower", []time.Duration{ms(1), ms(2)}, 50, ms(1)},
		{"just past half takes the upper", []time.Duration{ms(1), ms(2)}, 51, ms(2)},
		{"p50 of 1..10", durations(10), 50, ms(5)},
		{"p90 of 1..10", durations(10), 90, ms(9)},
		{"p99 of 1..10 is the max", durations(10), 99, ms(10)},
		{"p99 of 1..100", durations(100), 99, ms(99)},
		{"p99 of 1..1000", durations(1000), 99, ms(990)},
		{"p100 is the max", durations(10), 100, ms(10)},
		{"a tiny p is the min", durations(10), 0.001, ms(1)},
		{"rank 0 is clamped to the min", durations(10), 0, ms(1)},
		{"an odd count: p50 of 1..5", durations(5), 50, ms(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %g) = %s, want %s", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestDistOf(t *testing.T) {
	shuffled := []time.Duration{ms(4), ms(1), ms(10), ms(3), ms(2), ms(9), ms(5), ms(8), ms(7), ms(6)}
	keep := slices.Clone(shuffled)
	tests := []struct {
		name string
		in   []time.Duration
		want Dist
	}{
		{"none", nil, Dist{}},
		{"unsorted input", shuffled, Dist{P50: 5, P90: 9, P99: 10, Max: 10}},
		{"microseconds kept", []time.Duration{1500 * time.Microsecond}, Dist{P50: 1.5, P90: 1.5, P99: 1.5, Max: 1.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DistOf(tt.in); got != tt.want {
				t.Errorf("DistOf = %+v, want %+v", got, tt.want)
			}
		})
	}
	if !slices.Equal(shuffled, keep) {
		t.Error("DistOf sorted its argument in place")
	}
}

func TestThroughput(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		elapsed time.Duration
		want    float64
	}{
		{"nothing elapsed", 10, 0, 0},
		{"negative elapsed", 10, -time.Second, 0},
		{"none done", 0, time.Second, 0},
		{"per second", 100, 20 * time.Second, 5},
		{"fractional, two decimals", 1, 3 * time.Second, 0.33},
		{"sub-second run", 50, 250 * time.Millisecond, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Throughput(tt.n, tt.elapsed); got != tt.want {
				t.Errorf("Throughput(%d, %s) = %g, want %g", tt.n, tt.elapsed, got, tt.want)
			}
		})
	}
}

func TestMillis(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want float64
	}{
		{0, 0},
		{time.Millisecond, 1},
		{1234567 * time.Nanosecond, 1.235},
		{2 * time.Second, 2000},
	}
	for _, tt := range tests {
		if got := Millis(tt.d); got != tt.want {
			t.Errorf("Millis(%s) = %g, want %g", tt.d, got, tt.want)
		}
	}
}

func TestSamplesMerge(t *testing.T) {
	a, b := newSamples(), newSamples()
	a.ok(ms(1))
	a.status(answer{status: 201})
	a.fail("one")
	a.fail("two")
	b.ok(ms(2))
	b.waits = append(b.waits, ms(3))
	b.status(answer{status: 201})
	b.status(answer{err: errNoCookie})
	b.fail("three")
	b.fail("four")
	a.merge(b)
	if len(a.lat) != 2 || len(a.waits) != 1 || a.errors != 4 {
		t.Errorf("merged: %d latencies, %d waits, %d errors; want 2, 1, 4", len(a.lat), len(a.waits), a.errors)
	}
	if a.statuses["201"] != 2 || a.statuses["neterr"] != 1 {
		t.Errorf("statuses %v", a.statuses)
	}
	if want := []string{"one", "two", "three"}; !slices.Equal(a.failures, want) {
		t.Errorf("failure samples %v, want the first %d: %v", a.failures, maxErrorSamples, want)
	}
}
