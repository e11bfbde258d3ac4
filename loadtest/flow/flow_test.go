package flow

import (
	"strings"
	"testing"
	"time"
)

func validOptions() Options {
	return Options{Base: "http://127.0.0.1:8080", Concurrency: 8, Duration: 20 * time.Second, RaceBuyers: 30, RaceRounds: 3, Tolerance: 0.01}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr string // "" = valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"some steps", func(o *Options) { o.Steps = []string{StepList, StepRace} }, ""},
		{"no base", func(o *Options) { o.Base = "" }, "no base URL"},
		{"zero concurrency", func(o *Options) { o.Concurrency = 0 }, "concurrency 0"},
		{"too much concurrency", func(o *Options) { o.Concurrency = MaxConcurrency + 1 }, "concurrency"},
		{"zero duration", func(o *Options) { o.Duration = 0 }, "duration 0s"},
		{"too long", func(o *Options) { o.Duration = 2 * time.Hour }, "duration 2h0m0s"},
		{"one racer", func(o *Options) { o.RaceBuyers = 1 }, "race buyers 1"},
		{"no rounds", func(o *Options) { o.RaceRounds = 0 }, "race rounds 0"},
		{"negative tolerance", func(o *Options) { o.Tolerance = -0.1 }, "tolerance"},
		{"tolerance of everything", func(o *Options) { o.Tolerance = 1 }, "tolerance"},
		{"unknown step", func(o *Options) { o.Steps = []string{"signin"} }, `unknown step "signin"`},
		{"step twice", func(o *Options) { o.Steps = []string{StepPay, StepPay} }, `step "pay" named twice`},
		{"empty selection", func(o *Options) { o.Steps = []string{} }, "no step selected"},
		{"every problem at once", func(o *Options) { o.Concurrency, o.RaceRounds = 0, 0 }, "race rounds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOptions()
			tt.change(&o)
			err := o.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate: %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		name      string
		steps     []Step
		tolerance float64
		want      []string // substrings, one per failure, in order
	}{
		{"clean", []Step{{Name: StepSell, OK: 100}, {Name: StepRace, OK: 90, Winners: []int{1, 1, 1}}}, 0.01, nil},
		{"within tolerance", []Step{{Name: StepSell, OK: 99, Errors: 1}}, 0.01, nil},
		{"beyond tolerance", []Step{{Name: StepSell, OK: 98, Errors: 2}}, 0.01, []string{"sell: 2 of 100 operations failed"}},
		{"zero tolerance", []Step{{Name: StepPay, OK: 500, Errors: 1}}, 0, []string{"pay: 1 of 501"}},
		{"nothing succeeded", []Step{{Name: StepList}}, 0.5, []string{"list: no operation succeeded"}},
		{"rate limited signup", []Step{{Name: StepSignup, OK: 300, Errors: 700, Statuses: map[string]int{"201": 300, "429": 700}}}, 0.01,
			[]string{"signup: 700 of 1000", "RATE_LIMIT_PER_ADDR"}},
		{"double sale", []Step{{Name: StepRace, OK: 90, Winners: []int{1, 2, 1}}}, 0.01, []string{"race round 2: 2 orders succeeded"}},
		{"no winner", []Step{{Name: StepRace, OK: 90, Winners: []int{0}}}, 0.01, []string{"race round 1: 0 orders"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verdict(tt.steps, tt.tolerance)
			if len(got) != len(tt.want) {
				t.Fatalf("verdict = %q, want %d failure(s) like %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("failure %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}
