// Package flow drives the ticketing API's user flows through one base URL
// (the gateway of `make up`, or the ingress) and measures each step: sign
// up, list, sell, order (once orders has heard of the fresh ticket), pay
// (once payments has heard of the order), wait for the order to be
// complete, the whole purchase as one operation, and many buyers racing
// for one ticket.
//
// Each timed step runs Options.Concurrency workers for Options.Duration.
// A step's throughput is its successful operations per second of the
// step's wall time; its latencies (nearest rank) cover successful
// operations only. The steps after sell go through the flow up to their
// own operation in every iteration (pay sells and orders first, with fresh
// users' tickets), so their throughput is that of the flow up to them;
// their latency is their own request's (complete: from the payment's 201
// to the first read of status complete; purchase: the whole flow).
package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The steps, in the order they run.
const (
	StepSignup   = "signup"
	StepList     = "list"
	StepSell     = "sell"
	StepOrder    = "order"
	StepPay      = "pay"
	StepComplete = "complete"
	StepPurchase = "purchase"
	StepRace     = "race"
)

// StepNames are every step, in the order they run.
var StepNames = []string{StepSignup, StepList, StepSell, StepOrder, StepPay, StepComplete, StepPurchase, StepRace}

// Fixed timings: they bound waits, they are not measured.
const (
	requestTimeout   = 15 * time.Second
	pollInterval     = 5 * time.Millisecond  // between requests answered 404 (not propagated yet)
	completeInterval = 10 * time.Millisecond // between reads of an order waiting for "complete"
	propagationLimit = 30 * time.Second      // one ticket or order reaching the next service
	settleLimit      = 15 * time.Minute      // the events earlier steps left behind being consumed
	completeLimit    = 60 * time.Second      // a paid order becoming complete
	setupLimit       = 2 * time.Minute       // signing one pool user up, 429s waited out
)

const password = "loadtest-1"

// listPage is the size of the list's first page (the route's default limit).
const listPage = 100

// Options says what to drive and how hard. Every field is required but
// Host, Insecure, Steps (nil: all), Tolerance, JSON and Log.
type Options struct {
	Base        string        // the gateway's or ingress's URL, e.g. http://127.0.0.1:8080
	Host        string        // the Host header to send instead of Base's (an ingress by Service name: ticketing.dev)
	Insecure    bool          // accept any TLS certificate (a self-signed ingress)
	Concurrency int           // workers of each timed step
	Duration    time.Duration // how long each timed step runs
	RaceBuyers  int           // buyers ordering the same ticket at once
	RaceRounds  int           // race rounds, one fresh ticket each
	Steps       []string      // the steps to run (StepNames); nil: all
	Tolerance   float64       // the fraction of a step's operations that may fail, e.g. 0.01
	JSON        bool          // also print the report as one JSON line
	Log         io.Writer     // progress lines; nil: none
}

// Limits of Options, so a typo cannot start an unbounded run.
const (
	MaxConcurrency = 1024
	MaxDuration    = time.Hour
	MaxRaceBuyers  = 1000
	MaxRaceRounds  = 100
)

// Validate reports every problem of o at once.
func (o Options) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.Base != "", "no base URL")
	check(o.Concurrency >= 1 && o.Concurrency <= MaxConcurrency, "concurrency %d: want 1..%d", o.Concurrency, MaxConcurrency)
	check(o.Duration > 0 && o.Duration <= MaxDuration, "duration %s: want more than 0 and at most %s", o.Duration, MaxDuration)
	check(o.RaceBuyers >= 2 && o.RaceBuyers <= MaxRaceBuyers, "race buyers %d: want 2..%d", o.RaceBuyers, MaxRaceBuyers)
	check(o.RaceRounds >= 1 && o.RaceRounds <= MaxRaceRounds, "race rounds %d: want 1..%d", o.RaceRounds, MaxRaceRounds)
	check(o.Tolerance >= 0 && o.Tolerance < 1, "tolerance %g: want a fraction in [0, 1)", o.Tolerance)
	seen := map[string]bool{}
	for _, s := range o.Steps {
		check(slices.Contains(StepNames, s), "unknown step %q (steps: %v)", s, StepNames)
		check(!seen[s], "step %q named twice", s)
		seen[s] = true
	}
	check(o.Steps == nil || len(o.Steps) > 0, "no step selected")
	return errors.Join(errs...)
}

// Report is the outcome of a run.
type Report struct {
	Base        string    `json:"base"`
	Host        string    `json:"host,omitempty"`
	Started     time.Time `json:"started"`
	GoVersion   string    `json:"go"`
	GOMAXPROCS  int       `json:"gomaxprocs"`
	NumCPU      int       `json:"num_cpu"`
	Concurrency int       `json:"concurrency"`
	Duration    string    `json:"duration"`
	RaceBuyers  int       `json:"race_buyers"`
	RaceRounds  int       `json:"race_rounds"`
	Steps       []Step    `json:"steps"`
	// Failures are why the run failed, one sentence each; none: it passed.
	Failures []string `json:"failures,omitempty"`
}

// Step is one row of the table.
type Step struct {
	Name string `json:"step"`
	// Wait marks a propagation wait measured beside its step (order-wait:
	// the ticket's 201 to the order's; pay-wait: the order's 201 to the
	// payment's), not operations of its own: its ok counts samples.
	Wait        bool    `json:"wait,omitempty"`
	Concurrency int     `json:"concurrency"`
	OK          int     `json:"ok"`
	Errors      int     `json:"errors"`
	OpsPerSec   float64 `json:"ops_per_s"`
	Dist
	ElapsedS float64        `json:"elapsed_s"`
	Statuses map[string]int `json:"statuses,omitempty"` // the answer that decided each operation
	Samples  []string       `json:"error_samples,omitempty"`
	Winners  []int          `json:"winners_per_round,omitempty"` // race: 201 answers per round
	// SettledS is how long the step first waited for the events of the
	// steps before it to be consumed (see settle).
	SettledS float64 `json:"settled_before_s,omitempty"`
}

// Run runs the selected steps against o.Base, printing the header, a row
// per step as it ends and the verdict to out. The error is nil only if
// every step ran within the tolerance and every race round had exactly one
// winner; the report holds whatever ran either way.
func Run(ctx context.Context, o Options, out io.Writer) (Report, error) {
	if err := o.Validate(); err != nil {
		return Report{}, err
	}
	c, err := newClient(o)
	if err != nil {
		return Report{}, err
	}
	defer c.close()
	if o.Log == nil {
		o.Log = io.Discard
	}
	r := &runner{o: o, c: c, runID: strconv.FormatInt(time.Now().UnixNano(), 36)}
	rep := Report{
		Base: o.Base, Host: o.Host, Started: time.Now().UTC().Truncate(time.Second), GoVersion: runtime.Version(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		Concurrency: o.Concurrency, Duration: o.Duration.String(), RaceBuyers: o.RaceBuyers, RaceRounds: o.RaceRounds,
	}
	printHeader(out, rep)

	selected := o.Steps
	if selected == nil {
		selected = StepNames
	}
	if err := r.signUpPool(ctx, selected); err != nil {
		if ctx.Err() == nil { // else finish says it stopped
			rep.Failures = append(rep.Failures, err.Error())
		}
		return rep, finish(out, o, &rep, ctx.Err())
	}
	printColumns(out)
	for _, name := range StepNames {
		if !slices.Contains(selected, name) || ctx.Err() != nil {
			continue
		}
		var settled time.Duration
		if needsPropagation(name) {
			settled = r.settle(ctx, out, &rep)
		}
		fmt.Fprintf(o.Log, "loadtest: %s…\n", name)
		rows := r.step(ctx, name)
		rows[0].SettledS = seconds(settled)
		for _, row := range rows {
			printRow(out, row)
		}
		rep.Steps = append(rep.Steps, rows...)
	}
	rep.Failures = append(rep.Failures, verdict(rep.Steps, o.Tolerance)...)
	return rep, finish(out, o, &rep, ctx.Err())
}

// finish prints the verdict (and the JSON line) and turns it into Run's error.
func finish(out io.Writer, o Options, rep *Report, stopped error) error {
	if stopped != nil {
		rep.Failures = append(rep.Failures, "stopped before the end: "+stopped.Error())
	}
	printVerdict(out, *rep)
	if o.JSON {
		printJSON(out, *rep)
	}
	switch {
	case stopped != nil:
		return stopped
	case len(rep.Failures) > 0:
		return fmt.Errorf("%d check(s) failed: %s", len(rep.Failures), rep.Failures[0])
	}
	return nil
}

// verdict lists what makes the run a failure: a step none of whose
// operations succeeded, or more of whose failed than the tolerance allows,
// and every race round without exactly one winner.
func verdict(steps []Step, tolerance float64) []string {
	var out []string
	for _, s := range steps {
		total := s.OK + s.Errors
		switch {
		case s.OK == 0:
			out = append(out, fmt.Sprintf("%s: no operation succeeded (%d failed)", s.Name, s.Errors))
		case float64(s.Errors) > tolerance*float64(total):
			out = append(out, fmt.Sprintf("%s: %d of %d operations failed (%.1f%%; tolerance %.1f%%)",
				s.Name, s.Errors, total, 100*float64(s.Errors)/float64(total), 100*tolerance))
		}
		if s.Name == StepSignup && s.Statuses["429"] > 0 {
			out = append(out, fmt.Sprintf("signup: auth refused %d sign-ups with 429 (rate limit): start the platform with "+
				"RATE_LIMIT_PER_ADDR=100000 RATE_LIMIT_PER_EMAIL=100000, or leave the step out (-steps)", s.Statuses["429"]))
		}
		for i, w := range s.Winners {
			if w != 1 {
				out = append(out, fmt.Sprintf("race round %d: %d orders succeeded for one ticket, want exactly 1", i+1, w))
			}
		}
	}
	return out
}

// runner is what the steps share.
type runner struct {
	o     Options
	c     *client
	runID string
	seq   atomic.Int64 // keeps emails and titles unique within the run
	users []string     // session cookies: a seller and a buyer per worker, then the race's seller and buyers
}

func (r *runner) next() int64 { return r.seq.Add(1) }

func (r *runner) email() string {
	return fmt.Sprintf("lt-%s-%d@loadtest.example.com", r.runID, r.next())
}

// ticket is a fresh title and a price from 1.00 to 99.99.
func (r *runner) ticket() (string, float64) {
	n := r.next()
	return fmt.Sprintf("loadtest %s %d", r.runID, n), float64(100+n%9900) / 100
}

// step runs one step and returns its rows.
func (r *runner) step(ctx context.Context, name string) []Step {
	if name == StepRace {
		return []Step{r.race(ctx)}
	}
	prep := newSamples()
	if name == StepList {
		if err := r.fillFirstPage(ctx); err != nil {
			prep.fail(err.Error())
		}
	}
	s, elapsed := r.timed(ctx, func(ctx context.Context, w int, s *samples) {
		switch name {
		case StepSignup:
			a := r.c.signup(ctx, r.email())
			record(s, a, "signup", a.is(http.StatusCreated))
			if a.is(http.StatusTooManyRequests) {
				// Counted as an error; hammering auth would not make it one less.
				sleep(ctx, min(max(a.retryAfter, 100*time.Millisecond), time.Second))
			}
		case StepList:
			_, a := r.c.listTickets(ctx)
			record(s, a, "list", a.is(http.StatusOK))
		default:
			r.flow(ctx, w, s, name)
		}
	})
	s.merge(prep)
	rows := []Step{row(name, r.o.Concurrency, s.lat, s, elapsed)}
	if name == StepOrder || name == StepPay {
		wait := row(name+"-wait", r.o.Concurrency, s.waits, newSamples(), 0)
		wait.Wait = true
		rows = append(rows, wait)
	}
	return rows
}

// record counts a single-request operation.
func record(s *samples, a answer, what string, ok bool) {
	s.status(a)
	if ok {
		s.ok(a.took)
		return
	}
	s.fail(a.describe(what))
}

// row summarises samples: ok is len(lat), the latencies are lat's.
func row(name string, conc int, lat []time.Duration, s *samples, elapsed time.Duration) Step {
	return Step{
		Name: name, Concurrency: conc, OK: len(lat), Errors: s.errors,
		OpsPerSec: Throughput(len(lat), elapsed), Dist: DistOf(lat),
		ElapsedS: seconds(elapsed),
		Statuses: s.statuses, Samples: s.failures,
	}
}

func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}

// timed runs iter in Concurrency workers until Duration has passed (an
// iteration started in time runs to its end) and returns what they saw and
// the wall time from the start to the end of the last iteration. If ctx
// ends, the iterations it interrupted are left out.
func (r *runner) timed(ctx context.Context, iter func(ctx context.Context, w int, s *samples)) (*samples, time.Duration) {
	start := time.Now()
	end := start.Add(r.o.Duration)
	per := make([]*samples, r.o.Concurrency)
	var wg sync.WaitGroup
	for w := range per {
		per[w] = newSamples()
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				one := newSamples()
				iter(ctx, w, one)
				if ctx.Err() == nil { // an iteration cut short by Ctrl-C is no result
					per[w].merge(one)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := newSamples()
	for _, s := range per {
		all.merge(s)
	}
	return all, elapsed
}
