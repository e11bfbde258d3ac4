package store_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/payments/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
)

func TestMain(m *testing.M) { mongokit.Main(m) }

const lease = 10 * time.Second

type fixture struct {
	t   *testing.T
	ctx context.Context
	st  *store.Store
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := store.New(mongokit.Mongo(t))
	ctx := testkit.Context(t)
	if err := st.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, st: st, now: time.Now().Truncate(time.Millisecond)}
}

// in returns f for the subtest t.
func (f *fixture) in(t *testing.T) *fixture {
	g := *f
	g.t = t
	return &g
}

func (f *fixture) claim(orderID bson.ObjectID, now time.Time, token string) store.Payment {
	f.t.Helper()
	p, _, err := f.st.Claim(f.ctx, store.Claim{OrderID: orderID, UserID: "u", Amount: 100, Token: token, Now: now, Lease: lease})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) payment(orderID bson.ObjectID) store.Payment {
	f.t.Helper()
	p, found, err := f.st.PaymentByOrder(f.ctx, orderID)
	if err != nil || !found {
		f.t.Fatalf("payment of %s: %v, found %v", orderID.Hex(), err, found)
	}
	return p
}

// renew renews p's lease at now and checks whether it matched.
func (f *fixture) renew(p store.Payment, now time.Time, want bool) {
	f.t.Helper()
	ok, err := f.st.RenewLease(f.ctx, p, now, lease)
	if err != nil {
		f.t.Fatal(err)
	}
	if ok != want {
		f.t.Fatalf("renewal of %+v at %s matched %v, want %v", p, now, ok, want)
	}
}

func (f *fixture) unchanged(orderID bson.ObjectID, was store.Payment) {
	f.t.Helper()
	p := f.payment(orderID)
	if p.State != was.State || p.Attempt != was.Attempt || p.Holder != was.Holder ||
		!p.LeaseUntil.Equal(was.LeaseUntil) || !p.UpdatedAt.Equal(was.UpdatedAt) || p.StripeID != was.StripeID {
		f.t.Fatalf("payment %+v changed, was %+v", p, was)
	}
}

// TestRenewLeaseExtendsOnlyItsHoldersLiveClaim: a renewal extends the lease
// of its holder's pending claim, never shortens it, and never touches a
// claim that was recorded, claimed again or taken over meanwhile.
func TestRenewLeaseExtendsOnlyItsHoldersLiveClaim(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	t.Run("live claim", func(t *testing.T) {
		f := f.in(t)
		id := bson.NewObjectID()
		p := f.claim(id, f.now, "tok_visa")
		if p.Holder == "" {
			t.Fatalf("claim %+v has no holder", p)
		}
		f.renew(p, f.now.Add(3*time.Second), true)
		if got := f.payment(id); !got.LeaseUntil.Equal(f.now.Add(3*time.Second+lease)) || got.State != store.Pending {
			t.Fatalf("renewed claim %+v", got)
		}
		// A renewal that would shorten the lease (a clock behind) matches nothing.
		was := f.payment(id)
		f.renew(p, f.now.Add(time.Second), false)
		f.unchanged(id, was)
	})

	t.Run("recorded succeeded", func(t *testing.T) {
		f := f.in(t)
		id := bson.NewObjectID()
		p := f.claim(id, f.now, "tok_visa")
		evt, err := outbox.New(events.PaymentCreated, outbox.ID(events.PaymentCreated.Subject, p.ID.Hex()), p.Attempt,
			events.PaymentCreatedData{ID: p.ID.Hex(), OrderID: id.Hex(), StripeID: "ch_1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.MarkSucceeded(f.ctx, p, "ch_1", f.now, evt); err != nil {
			t.Fatal(err)
		}
		was := f.payment(id)
		f.renew(p, f.now.Add(time.Second), false)
		f.unchanged(id, was)
	})

	t.Run("recorded failed, then claimed again", func(t *testing.T) {
		f := f.in(t)
		id := bson.NewObjectID()
		p := f.claim(id, f.now, "tok_visa")
		if err := f.st.MarkFailed(f.ctx, p, f.now); err != nil {
			t.Fatal(err)
		}
		was := f.payment(id)
		f.renew(p, f.now.Add(time.Second), false)
		f.unchanged(id, was)

		next := f.claim(id, f.now.Add(time.Second), "tok_mastercard")
		if next.Attempt != 2 || next.Holder == p.Holder {
			t.Fatalf("claimed again %+v after %+v: want attempt 2 with a new holder", next, p)
		}
		was = f.payment(id)
		f.renew(p, f.now.Add(2*time.Second), false) // attempt 1's holder
		f.unchanged(id, was)
		f.renew(next, f.now.Add(2*time.Second), true)
	})

	t.Run("taken over", func(t *testing.T) {
		f := f.in(t)
		id := bson.NewObjectID()
		p := f.claim(id, f.now, "tok_visa")
		later := f.now.Add(lease + time.Second)
		q, ok, err := f.st.TakeOver(f.ctx, id, later, lease)
		if err != nil || !ok {
			t.Fatalf("takeover: %v, %v", ok, err)
		}
		if q.Attempt != p.Attempt || q.Holder == p.Holder {
			t.Fatalf("taken over %+v from %+v: want the same attempt, another holder", q, p)
		}
		was := f.payment(id)
		f.renew(p, later.Add(time.Second), false) // the overtaken holder
		f.unchanged(id, was)
		// Nor may the overtaken holder release the new holder's lease.
		if err := f.st.ReleaseLease(f.ctx, p, later.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		f.unchanged(id, was)
		f.renew(q, later.Add(time.Second), true)
	})

	t.Run("void", func(t *testing.T) {
		f := f.in(t)
		id := bson.NewObjectID()
		p := f.claim(id, f.now, "tok_visa")
		if err := f.st.MarkFailed(f.ctx, p, f.now); err != nil {
			t.Fatal(err)
		}
		if err := f.st.Void(f.ctx, id, f.now); err != nil {
			t.Fatal(err)
		}
		was := f.payment(id)
		if was.State != store.Void {
			t.Fatalf("payment %+v, want void", was)
		}
		f.renew(p, f.now.Add(time.Second), false)
		f.unchanged(id, was)
	})
}
