// Package checkout pays for orders with Stripe, at most one charge per order,
// and refunds a payment whose order ends cancelled.
//
// A payment moves through the store's states with single-document writes:
//
//	claim (pending, lease) → charge at Stripe → succeeded (+ payment.created in its outbox)
//	  lease renewed while      → failed   (declined or refused: may be claimed again)
//	  the charge runs          → pending, lease released (outcome unknown)
//	pending, lease run out → taken over, the same attempt repeated (a request, the
//	                         cancellation handler or the sweep)
//	succeeded → refunded, when the order is cancelled
//	none or failed → void, when the order is cancelled (no charge may follow)
//
// The idempotency key of a charge is derived from the order and the attempt
// number, so whoever repeats an attempt (a retry after a 502, a request
// finding a claim whose holder crashed, the cancellation handler, the sweep)
// sends Stripe the same request with the same key and gets the original
// outcome.
//
// A claim's lease is short (Config.Lease, 10s) and does not depend on how
// long a charge may take: its live holder renews it every Lease/3 while its
// attempt is at Stripe, so the claim of a holder that died is resumed
// within Lease plus the sweep's interval of its last renewal, while a slow
// charge keeps its claim as long as its holder lives. A holder that is alive
// but cannot renew (the store unreachable from it, the process stalled) may
// be overtaken once its lease runs out. That is safe: the new holder repeats
// the same attempt with the same idempotency key, token and amount, so
// Stripe makes at most one charge for both, and either may record the
// outcome (the record matches the attempt, not the holder). Only the
// renewals and the release of a lease are the holder's own: an overtaken
// holder's stop matching.
//
// A cancelled order is settled once its payment slot is void or refunded:
// both are final, so from then on no money is kept and none can be taken.
// The cancellation handler and the sweep (Reconcile) settle until then.
package checkout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/payments/store"
	"ticketing.dev/payments/stripepay"
)

// What a payment can be refused for. Stripe's own refusals come as the
// stripepay errors (Declined, Rejected, Unreachable).
var (
	ErrNotFound    = errors.New("order not found")
	ErrNotOwner    = errors.New("order of another user")
	ErrCancelled   = errors.New("order cancelled")
	ErrAlreadyPaid = errors.New("order already paid")
	ErrExpired     = errors.New("order expired")
)

// ErrInProgress: a payment of the order is being made right now; ask again later.
var ErrInProgress = errors.New("a payment of the order is in progress")

// Defaults of Config.
const (
	DefaultChargeTimeout = 25 * time.Second
	DefaultLease         = 10 * time.Second
)

// Config tunes a Service; zero values give the defaults.
type Config struct {
	// ChargeTimeout bounds one attempt at Stripe, retries included. Default
	// DefaultChargeTimeout (25s).
	ChargeTimeout time.Duration
	// Lease is how long a claim is protected from takeover after its holder
	// last renewed it; the holder renews it every Lease/3 while its attempt
	// runs, so it need not outlast ChargeTimeout. Short, so that the claim
	// of a holder that died is resumed soon (within Lease + the sweep's
	// interval). Default DefaultLease (10s).
	Lease time.Duration
	Now   func() time.Time
}

// Service is the payment workflow.
type Service struct {
	store  *store.Store
	stripe *stripepay.Client
	relay  *outbox.Relay
	log    *slog.Logger
	cfg    Config
}

// New returns a Service.
func New(st *store.Store, sc *stripepay.Client, relay *outbox.Relay, log *slog.Logger, cfg Config) *Service {
	if cfg.ChargeTimeout <= 0 {
		cfg.ChargeTimeout = DefaultChargeTimeout
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{store: st, stripe: sc, relay: relay, log: log, cfg: cfg}
}

// ChargeKey is the idempotency key of an order's charge attempt.
func ChargeKey(orderID bson.ObjectID, attempt int64) string {
	return fmt.Sprintf("charge-%s-%d", orderID.Hex(), attempt)
}

// RefundKey is the idempotency key of an order's refund (there is at most
// one succeeded charge per order, so one refund).
func RefundKey(orderID bson.ObjectID) string { return "refund-" + orderID.Hex() }

// Receipt is a successful payment as the API returns it.
type Receipt struct {
	ID       string `json:"id"`
	OrderID  string `json:"orderId"`
	StripeID string `json:"stripeId"`
}

// Pay charges the order for the user. Checks come in the contract's order:
// 404, 401 not owner, then the business rules.
func (s *Service) Pay(ctx context.Context, userID string, orderID bson.ObjectID, token string) (Receipt, error) {
	order, err := s.store.Order(ctx, orderID)
	if errors.Is(err, store.ErrNotFound) {
		return Receipt{}, ErrNotFound
	}
	if err != nil {
		return Receipt{}, err
	}
	if order.UserID != userID {
		return Receipt{}, ErrNotOwner
	}
	if order.Status == events.StatusCancelled {
		return Receipt{}, ErrCancelled
	}
	if order.Status == events.StatusComplete {
		return Receipt{}, ErrAlreadyPaid
	}
	now := s.cfg.Now()
	// A paid order stays "already paid" after its expiry, so look at the
	// payment before the clock.
	p, found, err := s.store.PaymentByOrder(ctx, orderID)
	if err != nil {
		return Receipt{}, err
	}
	if found && (p.State == store.Succeeded || p.State == store.Refunded) {
		return Receipt{}, ErrAlreadyPaid
	}
	if found && p.State == store.Pending && p.LeaseUntil.After(now) {
		return Receipt{}, ErrInProgress
	}
	if now.After(order.ExpiresAt) {
		return Receipt{}, ErrExpired
	}

	claim, resumed, err := s.store.Claim(ctx, store.Claim{
		OrderID: orderID, UserID: userID, Amount: int64(order.Price), Token: token, Now: now, Lease: s.cfg.Lease,
	})
	if errors.Is(err, store.ErrTaken) {
		return Receipt{}, s.taken(ctx, orderID)
	}
	if err != nil {
		return Receipt{}, err
	}
	if resumed {
		// The stored attempt is repeated with its own token; this request's
		// token stays unused.
		s.log.InfoContext(ctx, "resuming a payment attempt whose outcome is unknown",
			"order_id", orderID.Hex(), "attempt", claim.Attempt)
	}

	// Once claimed, finish even if the client hangs up: an abandoned claim
	// would only delay the next attempt until its lease runs out.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ChargeTimeout)
	defer cancel()
	paid, err := s.charge(wctx, claim)
	if err != nil {
		return Receipt{}, err
	}
	// A cancellation may have been applied while the charge was in flight;
	// its handler retries while the claim is pending, and this re-read
	// refunds at once instead.
	cancelled, err := s.refundIfCancelled(wctx, paid)
	if err != nil {
		s.log.WarnContext(ctx, "refund of a payment for a cancelled order failed; the cancellation handler and the sweep retry it",
			"order_id", orderID.Hex(), "err", err)
	}
	if cancelled {
		return Receipt{}, ErrCancelled
	}
	return Receipt{ID: paid.ID.Hex(), OrderID: orderID.Hex(), StripeID: paid.StripeID}, nil
}

// taken says why a claim found the order's payment slot taken: voided by a
// cancellation applied since the order was read, held by another request
// right now, or paid.
func (s *Service) taken(ctx context.Context, orderID bson.ObjectID) error {
	if o, err := s.store.Order(ctx, orderID); err == nil && o.Status == events.StatusCancelled {
		return ErrCancelled
	}
	if p, found, err := s.store.PaymentByOrder(ctx, orderID); err == nil && found && p.State == store.Pending {
		return ErrInProgress
	}
	return ErrAlreadyPaid
}

// charge makes (or repeats) the claim's attempt at Stripe and records the
// outcome. It returns the stripepay error for a refused or unknown charge.
// The claim's lease is renewed while Stripe is asked, and no more once the
// answer is in.
func (s *Service) charge(ctx context.Context, p store.Payment) (store.Payment, error) {
	stopRenewing := s.renewLease(ctx, p)
	chargeID, err := s.stripe.CreateCharge(ctx, stripepay.Charge{
		AmountCents:    p.Amount,
		Token:          p.Token,
		IdempotencyKey: ChargeKey(p.OrderID, p.Attempt),
		OrderID:        p.OrderID.Hex(),
	})
	stopRenewing()
	var declined *stripepay.Declined
	var rejected *stripepay.Rejected
	switch {
	case errors.As(err, &declined) || errors.As(err, &rejected):
		// Nothing was charged: release the order for another card.
		if merr := s.store.MarkFailed(ctx, p, s.cfg.Now()); merr != nil {
			// The lease runs out and the next attempt repeats this one: Stripe
			// answers from its idempotency cache with the same refusal.
			s.log.WarnContext(ctx, "recording a refused charge failed", "order_id", p.OrderID.Hex(), "err", merr)
		}
		return store.Payment{}, err
	case err != nil:
		// Unknown outcome: keep the claim (and its token) and let the next
		// request (or the sweep) repeat the same attempt right away.
		if errors.Is(err, stripepay.ErrKeyReused) {
			// Our repeats send exactly the stored request, so Stripe should
			// never see the key with other parameters: someone must look.
			s.log.ErrorContext(ctx, "Stripe reports the charge's idempotency key used with other parameters; "+
				"the charge may exist, the claim stays pending", "order_id", p.OrderID.Hex(), "attempt", p.Attempt,
				"idempotency_key", ChargeKey(p.OrderID, p.Attempt), "err", err)
		}
		if merr := s.store.ReleaseLease(ctx, p, s.cfg.Now()); merr != nil {
			s.log.WarnContext(ctx, "releasing the lease of an unknown charge failed", "order_id", p.OrderID.Hex(), "err", merr)
		}
		return store.Payment{}, err
	}

	evt, err := outbox.New(events.PaymentCreated, outbox.ID(events.PaymentCreated.Subject, p.ID.Hex()), p.Attempt,
		events.PaymentCreatedData{ID: p.ID.Hex(), OrderID: p.OrderID.Hex(), StripeID: chargeID})
	if err != nil {
		return store.Payment{}, fmt.Errorf("payment.created of order %s: %w", p.OrderID.Hex(), err)
	}
	paid, err := s.store.MarkSucceeded(ctx, p, chargeID, s.cfg.Now(), evt)
	if err != nil {
		// The charge exists but is not recorded: the lease runs out and the
		// next attempt (a request, the cancellation handler or the sweep)
		// repeats it, gets the same charge back and records it.
		return store.Payment{}, fmt.Errorf("record charge %s of order %s: %w", chargeID, p.OrderID.Hex(), err)
	}
	if s.relay != nil {
		s.relay.Notify(paid.ID, paid.Events()...) // as written: no read back
	}
	return paid, nil
}

// renewLease renews the lease of p's claim every Lease/3 until the returned
// stop is called. Each renewal is the store's conditional update (only p's
// holder's pending claim of p's attempt, only extended), so it never revives
// a claim that was recorded or taken over meanwhile; one that fails is
// logged and tried again at the next tick, while the lease left (at least
// two thirds of it) still covers the holder. stop waits for a renewal in
// flight, so none lands after the caller goes on to record the outcome or
// release the lease: a late renewal would hold off the next attempt.
func (s *Service) renewLease(ctx context.Context, p store.Payment) (stop func()) {
	every := max(s.cfg.Lease/3, time.Millisecond)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return // the attempt is over too
			case <-t.C:
			}
			rctx, cancel := context.WithTimeout(ctx, every)
			ok, err := s.store.RenewLease(rctx, p, s.cfg.Now(), s.cfg.Lease)
			cancel()
			switch {
			case err != nil:
				s.log.WarnContext(ctx, "renewing a payment claim's lease failed; retried at the next tick",
					"order_id", p.OrderID.Hex(), "attempt", p.Attempt, "err", err)
			case !ok:
				s.log.DebugContext(ctx, "payment claim's lease not renewed: the claim was recorded or taken over, or its lease runs further",
					"order_id", p.OrderID.Hex(), "attempt", p.Attempt)
			}
		}
	}()
	return sync.OnceFunc(func() {
		close(quit)
		<-done
	})
}

// refundIfCancelled refunds p if its order is cancelled in the replica.
func (s *Service) refundIfCancelled(ctx context.Context, p store.Payment) (bool, error) {
	order, err := s.store.Order(ctx, p.OrderID)
	if err != nil {
		return false, err
	}
	if order.Status != events.StatusCancelled {
		return false, nil
	}
	return true, s.refund(ctx, p)
}

func (s *Service) refund(ctx context.Context, p store.Payment) error {
	if p.State == store.Refunded {
		return nil
	}
	refundID, err := s.stripe.CreateRefund(ctx, stripepay.Refund{ChargeID: p.StripeID, IdempotencyKey: RefundKey(p.OrderID)})
	if err != nil {
		return err
	}
	if err := s.store.MarkRefunded(ctx, p.ID, refundID, s.cfg.Now()); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "payment of a cancelled order refunded", "order_id", p.OrderID.Hex(), "payment_id", p.ID.Hex())
	return nil
}

// SettleCancelled makes sure no money is kept for a cancelled order. It
// returns nil only once the order's payment slot is final (void or refunded)
// and the replica is marked settled; ErrInProgress while a live claim holds
// the slot (ask again later); any other error when a step failed (retry).
//
// It voids the slot when it is empty or failed, so that a request that read
// the order before the cancellation cannot charge it afterwards: its claim
// finds the slot taken. Then it looks again, because the slot may have
// moved meanwhile (a request claimed a failed slot again): a succeeded
// payment is refunded; a pending one whose holder is gone has its attempt
// repeated here (then refunded if it was charged, voided if refused).
func (s *Service) SettleCancelled(ctx context.Context, orderID bson.ObjectID) error {
	// Each round either ends or moves the slot one step towards final; a
	// slot that keeps moving is some request's live claim, waited out.
	for range 5 {
		now := s.cfg.Now()
		if err := s.store.Void(ctx, orderID, now); err != nil {
			return err
		}
		p, found, err := s.store.PaymentByOrder(ctx, orderID)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("payment slot of order %s vanished after voiding", orderID.Hex())
		}
		switch p.State {
		case store.Void, store.Refunded:
			return s.store.MarkSettled(ctx, orderID)
		case store.Failed:
			// Claimed again and refused since the void: void it now.
			continue
		case store.Succeeded:
			if err := s.refund(ctx, p); err != nil {
				return err
			}
			continue
		}
		if p.LeaseUntil.After(now) {
			return ErrInProgress
		}
		p, ok, err := s.store.TakeOver(ctx, orderID, now, s.cfg.Lease)
		if err != nil {
			return err
		}
		if !ok {
			continue // someone else took it over or finished it: look again
		}
		wctx, cancel := context.WithTimeout(ctx, s.cfg.ChargeTimeout)
		_, err = s.charge(wctx, p)
		cancel()
		var declined *stripepay.Declined
		var rejected *stripepay.Rejected
		if err != nil && !errors.As(err, &declined) && !errors.As(err, &rejected) {
			return err
		}
		// Charged (refunded next round) or refused (voided next round).
	}
	return ErrInProgress
}

// Reconcile is one pass of the sweep: it repairs what no request or event
// will. It resumes the claims whose holder died mid-charge (nothing else
// would before the order expires), then settles the cancelled orders whose
// payment slot is not final yet (a refund that failed, a cancellation event
// given up on). Every change it makes is a conditional update, so replicas
// sweeping at the same time make each change once.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	resumed, rerr := s.resumeAbandoned(ctx)
	settled, serr := s.settleUnsettled(ctx)
	return resumed + settled, errors.Join(rerr, serr)
}

// SweepName names Reconcile's sweep in the logs.
const SweepName = "payments"

// sweepBatch bounds the work of one pass; the next pass goes on.
const sweepBatch = 100

// resumeAbandoned repeats the attempt of each pending claim whose lease ran
// out, with its own key, token and amount, and records the outcome: Stripe
// answers with the original charge if there was one, or charges now.
func (s *Service) resumeAbandoned(ctx context.Context) (int, error) {
	ps, err := s.store.Abandoned(ctx, s.cfg.Now(), sweepBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, p := range ps {
		if ctx.Err() != nil {
			break
		}
		if o, err := s.store.Order(ctx, p.OrderID); err == nil && o.Status == events.StatusCancelled {
			continue // settled below, attempt and refund included
		}
		claim, ok, err := s.store.TakeOver(ctx, p.OrderID, s.cfg.Now(), s.cfg.Lease)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue // resumed by someone else meanwhile
		}
		s.log.InfoContext(ctx, "sweep: resuming an abandoned payment attempt",
			"order_id", p.OrderID.Hex(), "attempt", claim.Attempt)
		// Like a request, finish an attempt once made, so that a shutdown
		// does not leave it to wait out another lease.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ChargeTimeout)
		paid, err := s.charge(wctx, claim)
		if err == nil {
			// A cancelled order's charge is refunded here or, failing that,
			// by the settling below and the passes after it.
			_, err = s.refundIfCancelled(wctx, paid)
		}
		cancel()
		var declined *stripepay.Declined
		var rejected *stripepay.Rejected
		if err != nil && !errors.As(err, &declined) && !errors.As(err, &rejected) {
			errs = append(errs, fmt.Errorf("order %s: %w", p.OrderID.Hex(), err))
			continue
		}
		n++ // the outcome is known and recorded
	}
	return n, errors.Join(errs...)
}

// settleUnsettled settles cancelled orders whose payment slot is not final.
func (s *Service) settleUnsettled(ctx context.Context) (int, error) {
	ids, err := s.store.UnsettledCancelled(ctx, sweepBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		err := s.SettleCancelled(ctx, id)
		switch {
		case errors.Is(err, ErrInProgress):
			// A live claim: settled by a later pass.
		case err != nil:
			errs = append(errs, fmt.Errorf("order %s: %w", id.Hex(), err))
		default:
			s.log.InfoContext(ctx, "sweep: cancelled order settled", "order_id", id.Hex())
			n++
		}
	}
	return n, errors.Join(errs...)
}
