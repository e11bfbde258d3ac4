package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// signUpPool signs up, before anything is measured, the users the selected
// steps need: a seller and a buyer per worker for every step but signup (list
// sells to fill its page), then a seller and RaceBuyers buyers for the race.
// auth's rate limit (429) is waited out.
func (r *runner) signUpPool(ctx context.Context, steps []string) error {
	n := 0
	if slices.ContainsFunc(steps, func(s string) bool { return s != StepSignup && s != StepRace }) {
		n = 2 * r.o.Concurrency
	}
	if slices.Contains(steps, StepRace) {
		n = 2*r.o.Concurrency + 1 + r.o.RaceBuyers // the race's users come after the workers'
	}
	if n == 0 {
		return nil
	}
	start := time.Now()
	r.users = make([]string, n)
	errs := make([]error, n)
	var limited atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, 8) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				r.users[i], errs[i] = r.signUpRetrying(ctx, &limited)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if failed := slices.DeleteFunc(errs, func(err error) bool { return err == nil }); len(failed) > 0 {
		return fmt.Errorf("setup: %d of %d users could not sign up; the first: %w", len(failed), n, failed[0])
	}
	note := ""
	if l := limited.Load(); l > 0 {
		note = fmt.Sprintf(" (%d answers 429 waited out)", l)
	}
	fmt.Fprintf(r.o.Log, "loadtest: setup: signed up %d users in %s%s\n", n, time.Since(start).Round(time.Millisecond), note)
	return nil
}

// fillFirstPage sells tickets (unmeasured) until the first page of the list
// is full, so list measures the page a visitor of a busy site gets, a fresh
// platform or not.
func (r *runner) fillFirstPage(ctx context.Context) error {
	have, a := r.c.listTickets(ctx)
	if !a.is(http.StatusOK) {
		return errors.New(a.describe("list before filling the first page"))
	}
	missing := int64(listPage - have)
	if missing <= 0 {
		return nil
	}
	var next atomic.Int64
	errs := make([]error, r.o.Concurrency)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for next.Add(1) <= missing && ctx.Err() == nil {
				title, price := r.ticket()
				if id, a := r.c.sell(ctx, r.users[2*w], title, price); id == "" {
					errs[w] = errors.New(a.describe("sell to fill the first page"))
					return
				}
			}
		})
	}
	wg.Wait()
	fmt.Fprintf(r.o.Log, "loadtest: list: sold %d tickets first, to fill the page\n", missing)
	return errors.Join(errs...)
}

// signUpRetrying signs one new user up and returns the session cookie,
// waiting out 429 (as Retry-After says) and retrying 5xx and network errors.
func (r *runner) signUpRetrying(ctx context.Context, limited *atomic.Int64) (string, error) {
	deadline := time.Now().Add(setupLimit)
	backoff := 100 * time.Millisecond
	for {
		a := r.c.signup(ctx, r.email())
		if a.is(http.StatusCreated) {
			return a.cookie, nil
		}
		wait := backoff
		switch {
		case a.is(http.StatusTooManyRequests):
			limited.Add(1)
			wait = min(max(a.retryAfter, time.Second), 15*time.Second)
		case a.err != nil || a.status >= 500:
			backoff = min(2*backoff, 2*time.Second)
		default:
			return "", errors.New(a.describe("signup"))
		}
		if time.Now().Add(wait).After(deadline) || !sleep(ctx, wait) {
			return "", errors.New(a.describe("signup (giving up)"))
		}
	}
}

// flow runs the user flow for worker w up to the step's operation and
// records that: sell a ticket, order it (as another user, once orders
// knows it), pay the order (once payments knows it), read the order until
// it is complete. purchase records the whole flow as one operation.
func (r *runner) flow(ctx context.Context, w int, s *samples, step string) {
	seller, buyer := r.users[2*w], r.users[2*w+1]
	start := time.Now()
	title, price := r.ticket()
	ticketID, a := r.c.sell(ctx, seller, title, price)
	if ticketID == "" {
		s.status(a)
		s.fail(a.describe("sell"))
		return
	}
	if step == StepSell {
		s.status(a)
		s.ok(a.took)
		return
	}

	orderID, a, wait := r.orderWhenKnown(ctx, buyer, ticketID, measured)
	if orderID == "" {
		s.status(a)
		s.fail(a.describe("order" + notYet(a, "the ticket did not reach orders", measured)))
		return
	}
	if step == StepOrder {
		s.status(a)
		s.ok(a.took)
		s.waits = append(s.waits, wait)
		return
	}

	a, wait = r.payWhenKnown(ctx, buyer, orderID, measured)
	if !a.is(http.StatusCreated) {
		s.status(a)
		s.fail(a.describe("pay" + notYet(a, "the order did not reach payments", measured)))
		return
	}
	if step == StepPay {
		s.status(a)
		s.ok(a.took)
		s.waits = append(s.waits, wait)
		return
	}

	paid := time.Now()
	a, err := r.awaitComplete(ctx, buyer, orderID)
	s.status(a)
	if err != nil {
		s.fail(err.Error())
		return
	}
	if step == StepComplete {
		s.ok(time.Since(paid))
		return
	}
	s.ok(time.Since(start)) // purchase
}

// notYet explains a final 404: the wait for propagation ran out.
func notYet(a answer, what string, p patience) string {
	if a.is(http.StatusNotFound) {
		return fmt.Sprintf(" (%s within %s)", what, p.limit)
	}
	return ""
}

// patience is how long to wait for a ticket or an order to reach the next
// service, and the longest pause between two attempts.
type patience struct{ limit, maxInterval time.Duration }

var (
	measured = patience{propagationLimit, 100 * time.Millisecond} // inside a step
	settling = patience{settleLimit, 500 * time.Millisecond}      // between steps
)

// orderWhenKnown orders a ticket, repeating while orders has not heard of
// it (404). It returns the order id (empty unless 201), the deciding answer,
// and the wait from the first attempt to that answer.
func (r *runner) orderWhenKnown(ctx context.Context, buyer, ticketID string, p patience) (string, answer, time.Duration) {
	start := time.Now()
	var orderID string
	a := past404(ctx, p.limit, p.maxInterval, func() answer {
		var a answer
		orderID, a = r.c.order(ctx, buyer, ticketID)
		return a
	})
	return orderID, a, time.Since(start)
}

// payWhenKnown pays an order, repeating while payments has not heard of it
// (404). It returns the deciding answer and the wait until it.
func (r *runner) payWhenKnown(ctx context.Context, buyer, orderID string, p patience) (answer, time.Duration) {
	start := time.Now()
	a := past404(ctx, p.limit, p.maxInterval, func() answer { return r.c.pay(ctx, buyer, orderID) })
	return a, time.Since(start)
}

// awaitComplete reads a paid order until its status is complete. It fails on
// any other answer than 200, on cancelled, and after completeLimit.
func (r *runner) awaitComplete(ctx context.Context, buyer, orderID string) (answer, error) {
	deadline := time.Now().Add(completeLimit)
	for {
		status, a := r.c.orderStatus(ctx, buyer, orderID)
		switch {
		case status == "complete":
			return a, nil
		case !a.is(http.StatusOK):
			return a, errors.New(a.describe("read the paid order"))
		case status == "cancelled":
			return a, fmt.Errorf("order %s was cancelled after its payment's 201", orderID)
		case !time.Now().Before(deadline) || !sleep(ctx, completeInterval):
			return a, fmt.Errorf("order %s still %q %s after its payment's 201", orderID, status, completeLimit)
		}
	}
}

// race runs RaceRounds rounds of RaceBuyers buyers ordering one fresh
// ticket at the same moment. Each answer is an operation: 201 (the winner)
// and 400 (already reserved) succeed, and so does a 404 (that buyer's
// request reached orders before the ticket did); anything else fails.
func (r *runner) race(ctx context.Context) Step {
	base := 2 * r.o.Concurrency
	seller, buyers := r.users[base], r.users[base+1:base+1+r.o.RaceBuyers]
	s := newSamples()
	var storm time.Duration
	var winners []int
	for round := 1; round <= r.o.RaceRounds && ctx.Err() == nil; round++ {
		won, took, err := r.raceRound(ctx, seller, buyers, s)
		if err != nil {
			s.fail(fmt.Sprintf("round %d: %v", round, err))
		}
		storm += took
		winners = append(winners, won)
	}
	out := row(StepRace, r.o.RaceBuyers, s.lat, s, storm)
	out.Winners = winners
	return out
}

// raceRound sells a ticket, waits until orders knows it, and lets every
// buyer order it at once; it returns the number of 201 answers and how long
// the burst took. If every buyer got 404 the ticket had not arrived yet,
// and the burst is repeated (nothing was reserved).
func (r *runner) raceRound(ctx context.Context, seller string, buyers []string, s *samples) (int, time.Duration, error) {
	title, price := r.ticket()
	ticketID, a := r.c.sell(ctx, seller, title, price)
	if ticketID == "" {
		return 0, 0, errors.New(a.describe("sell the race ticket"))
	}
	if err := r.catchUp(ctx, false, measured); err != nil {
		return 0, 0, err
	}
	var took time.Duration
	for attempt := 1; ; attempt++ {
		r.warm(ctx, buyers)
		answers := make([]answer, len(buyers))
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for i, buyer := range buyers {
			wg.Go(func() {
				<-gate
				_, answers[i] = r.c.order(ctx, buyer, ticketID)
			})
		}
		start := time.Now()
		close(gate)
		wg.Wait()
		took += time.Since(start)

		notFound := 0
		for _, a := range answers {
			if a.is(http.StatusNotFound) {
				notFound++
			}
		}
		if notFound == len(answers) && attempt < 5 {
			sleep(ctx, 250*time.Millisecond)
			continue
		}
		won := 0
		for _, a := range answers {
			s.status(a)
			switch {
			case a.is(http.StatusCreated):
				won++
				s.ok(a.took)
			case a.is(http.StatusBadRequest), a.is(http.StatusNotFound):
				s.ok(a.took)
			default:
				s.fail(a.describe("race order"))
			}
		}
		if notFound == len(answers) {
			return 0, took, fmt.Errorf("every buyer got 404 in %d bursts: the ticket did not reach orders", attempt)
		}
		return won, took, nil
	}
}

// catchUp waits until orders (and, with pay, payments) has consumed the
// events published so far, without touching any ticket in use: it sells a
// marker ticket and orders it once orders knows it; with pay it then pays
// that order once payments knows it. Each listener handles its events in
// stream order, so the marker arrives after everything before it.
func (r *runner) catchUp(ctx context.Context, pay bool, p patience) error {
	seller, buyer := r.users[0], r.users[1]
	title, price := r.ticket()
	id, a := r.c.sell(ctx, seller, "marker "+title, price)
	if id == "" {
		return errors.New(a.describe("sell a marker ticket"))
	}
	orderID, a, _ := r.orderWhenKnown(ctx, buyer, id, p)
	if orderID == "" {
		return errors.New(a.describe("order the marker ticket" + notYet(a, "the ticket did not reach orders", p)))
	}
	if !pay {
		return nil
	}
	if a, _ := r.payWhenKnown(ctx, buyer, orderID, p); !a.is(http.StatusCreated) {
		return errors.New(a.describe("pay the marker order" + notYet(a, "the order did not reach payments", p)))
	}
	return nil
}

// needsPropagation reports whether a step waits for events, and so must not
// start behind a backlog the steps before it left (selling floods orders
// with ticket.created faster than it may consume them).
func needsPropagation(step string) bool {
	return step != StepSignup && step != StepList && step != StepSell
}

// settle waits until orders and payments have caught up (catchUp) before a
// step, and says so when that took a while. A failure is one of the run's.
func (r *runner) settle(ctx context.Context, out io.Writer, rep *Report) time.Duration {
	start := time.Now()
	err := r.catchUp(ctx, true, settling)
	took := time.Since(start)
	if err != nil {
		if ctx.Err() == nil { // else Run says it stopped
			rep.Failures = append(rep.Failures, "before the next step, waiting for the events so far to be consumed: "+err.Error())
		}
		return took
	}
	fmt.Fprintf(r.o.Log, "loadtest: orders and payments caught up in %s\n", took.Round(time.Millisecond))
	if took >= time.Second {
		fmt.Fprintf(out, "  (%.1fs until orders and payments had consumed the events of the steps before)\n", took.Seconds())
	}
	return took
}

// warm opens a connection per buyer to orders (GET /api/orders), so the
// burst does not wait for connection set-up at different times.
func (r *runner) warm(ctx context.Context, buyers []string) {
	var wg sync.WaitGroup
	for _, buyer := range buyers {
		wg.Go(func() { r.c.do(ctx, http.MethodGet, "/api/orders", buyer, nil) })
	}
	wg.Wait()
}
