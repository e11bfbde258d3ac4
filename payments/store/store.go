// Package store keeps payments' replica of orders and its payments in
// MongoDB (or FerretDB). Every change is one single-document write: the store
// has no multi-document transactions, so each step of a payment is a
// conditional update that only its holder can make.
package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
)

// Collection names.
const (
	OrdersCollection   = "orders"
	PaymentsCollection = "payments"
)

var (
	// ErrNotFound: no such order in the replica.
	ErrNotFound = errors.New("not found")
	// ErrTaken: the order's payment is held by another request or finished.
	ErrTaken = errors.New("payment already claimed")
	// ErrClaimLost: the claim changed hands (its lease ran out) before this
	// holder could record its outcome.
	ErrClaimLost = errors.New("payment claim lost")
)

// Order is the replica of an order, with the same id as in the orders service.
type Order struct {
	ID        bson.ObjectID `bson:"_id"`
	UserID    string        `bson:"userId"`
	Status    string        `bson:"status"`
	Price     money.Cents   `bson:"price"`
	Version   int64         `bson:"version"`
	ExpiresAt time.Time     `bson:"expiresAt"`
	// Settled: the order is cancelled and its payment slot is final (void
	// or refunded), so no money is kept and none can be taken any more. The
	// sweep looks only at cancelled orders that are not settled yet.
	Settled bool `bson:"settled,omitempty"`
}

// State is where a payment stands.
type State string

const (
	// Pending: claimed; a charge is being made (or its outcome is unknown).
	Pending State = "pending"
	// Succeeded: charged; payment.created is (or was) in the outbox.
	Succeeded State = "succeeded"
	// Failed: Stripe refused the charge; nothing was taken and the order may
	// be claimed again (with the next attempt number).
	Failed State = "failed"
	// Refunded: charged, then refunded because the order was cancelled.
	Refunded State = "refunded"
	// Void: the order was cancelled before any charge; its claim is taken
	// for good, so no request that read the order before the cancellation
	// can charge it afterwards.
	Void State = "void"
)

// Payment is the one payment document of an order (orderId is unique).
type Payment struct {
	ID      bson.ObjectID `bson:"_id"`
	OrderID bson.ObjectID `bson:"orderId"`
	UserID  string        `bson:"userId"`
	State   State         `bson:"state"`
	// Attempt numbers the charges tried for the order; the idempotency key
	// of a charge includes it, so a new card after a decline is a new charge
	// while a repeat of one attempt is never charged twice.
	Attempt int64 `bson:"attempt"`
	Amount  int64 `bson:"amount"` // cents
	// Token is the card token of the attempt, kept only while its outcome is
	// unknown so that a repeat sends exactly the same request to Stripe.
	Token string `bson:"token,omitempty"`
	// LeaseUntil: a pending claim whose lease has run out may be taken over
	// (its holder crashed or Stripe was unreachable). A live holder renews
	// it while its attempt runs (RenewLease).
	LeaseUntil time.Time `bson:"leaseUntil"`
	// Holder names who holds a pending claim: drawn anew by every claim and
	// takeover, so a holder's renewals (and the release of its lease) stop
	// matching once the claim was taken over by someone else.
	Holder    string    `bson:"holder,omitempty"`
	StripeID  string    `bson:"stripeId,omitempty"`
	RefundID  string    `bson:"refundId,omitempty"`
	CreatedAt time.Time `bson:"createdAt"`
	UpdatedAt time.Time `bson:"updatedAt"`

	outbox.Fields `bson:",inline"`
}

// Store is the payments service's repository.
type Store struct {
	orders   *mongo.Collection
	payments *mongo.Collection
}

// New returns a Store on db.
func New(db *mongo.Database) *Store {
	return &Store{orders: db.Collection(OrdersCollection), payments: db.Collection(PaymentsCollection)}
}

// Payments is the collection whose outbox the relay publishes.
func (s *Store) Payments() *mongo.Collection { return s.payments }

// EnsureIndexes creates the unique index that makes one payment per order
// and the indexes that serve the sweep's queries. One index per call:
// FerretDB 1.24 panics on several in one createIndexes.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	for _, ix := range []struct {
		coll  *mongo.Collection
		model mongo.IndexModel
	}{
		{s.payments, mongo.IndexModel{
			Keys:    bson.D{{Key: "orderId", Value: 1}},
			Options: options.Index().SetUnique(true).SetName("orderId_unique"),
		}},
		{s.payments, mongo.IndexModel{
			Keys:    bson.D{{Key: "state", Value: 1}, {Key: "leaseUntil", Value: 1}},
			Options: options.Index().SetName("state_leaseUntil"),
		}},
		{s.orders, mongo.IndexModel{
			Keys:    bson.D{{Key: "status", Value: 1}, {Key: "settled", Value: 1}},
			Options: options.Index().SetName("status_settled"),
		}},
	} {
		if _, err := ix.coll.Indexes().CreateOne(ctx, ix.model); err != nil {
			return err
		}
	}
	return nil
}

// ---- orders replica ----

// InsertOrder stores a new replica; it reports false when it already exists.
func (s *Store) InsertOrder(ctx context.Context, o Order) (bool, error) {
	_, err := s.orders.InsertOne(ctx, o)
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	if err != nil {
		return false, mongodb.Classify(err)
	}
	return true, nil
}

// Order returns the replica of an order.
func (s *Store) Order(ctx context.Context, id bson.ObjectID) (Order, error) {
	var o Order
	err := s.orders.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&o)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Order{}, ErrNotFound
	}
	if err != nil {
		return Order{}, mongodb.Classify(err)
	}
	return o, nil
}

// ApplyStatus sets the order's status at version, only if version is the
// next one; it returns what it did and the replica as it stands afterwards
// (none when the order is Missing), as mongodb.ApplyNext decides it. The
// update that applies is a findAndModify, which returns the replica in the
// same round trip; only an event that does not apply reads it.
func (s *Store) ApplyStatus(ctx context.Context, id bson.ObjectID, version int64, status string) (mongodb.Outcome, Order, error) {
	for {
		var o Order
		err := s.orders.FindOneAndUpdate(ctx,
			bson.D{{Key: "_id", Value: id}, {Key: "version", Value: version - 1}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: status}, {Key: "version", Value: version}}}},
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&o)
		if err == nil {
			return mongodb.Applied, o, nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return 0, Order{}, mongodb.Classify(err)
		}
		o, err = s.Order(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			return mongodb.Missing, Order{}, nil
		case err != nil:
			return 0, Order{}, err
		case o.Version >= version:
			return mongodb.Stale, o, nil
		case o.Version < version-1:
			return mongodb.Gap, o, nil
		}
		// The previous version arrived between the update and the read.
	}
}

// MarkSettled records that a cancelled order's payment slot is final.
func (s *Store) MarkSettled(ctx context.Context, id bson.ObjectID) error {
	_, err := s.orders.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "status", Value: events.StatusCancelled}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "settled", Value: true}}}})
	return mongodb.Classify(err)
}

// UnsettledCancelled returns up to limit ids of cancelled orders that are not
// settled yet.
func (s *Store) UnsettledCancelled(ctx context.Context, limit int64) ([]bson.ObjectID, error) {
	cur, err := s.orders.Find(ctx,
		bson.D{{Key: "status", Value: events.StatusCancelled}, {Key: "settled", Value: bson.D{{Key: "$ne", Value: true}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(limit))
	if err != nil {
		return nil, mongodb.Classify(err)
	}
	var docs []struct {
		ID bson.ObjectID `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mongodb.Classify(err)
	}
	ids := make([]bson.ObjectID, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}

// ---- payments ----

// PaymentByOrder returns the order's payment, if any.
func (s *Store) PaymentByOrder(ctx context.Context, orderID bson.ObjectID) (Payment, bool, error) {
	var p Payment
	err := s.payments.FindOne(ctx, bson.D{{Key: "orderId", Value: orderID}}).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Payment{}, false, nil
	}
	if err != nil {
		return Payment{}, false, mongodb.Classify(err)
	}
	return p, true, nil
}

// Claim asks to charge an order.
type Claim struct {
	OrderID bson.ObjectID
	UserID  string
	Amount  int64
	Token   string
	Now     time.Time
	Lease   time.Duration
}

// Claim makes the caller the only one allowed to charge the order, by one
// single-document write, in this order of preference:
//   - a new pending payment (the unique orderId index lets exactly one
//     concurrent insert succeed);
//   - a failed payment claimed again, with the next attempt number and the
//     caller's token (the user tries another card);
//   - a pending payment whose lease ran out, taken over unchanged: the caller
//     must repeat the stored attempt (same token, amount and idempotency key),
//     so that Stripe answers with the original outcome instead of charging again.
//
// resumed reports the last case. Anything else is ErrTaken.
func (s *Store) Claim(ctx context.Context, c Claim) (p Payment, resumed bool, err error) {
	p = Payment{
		ID:         bson.NewObjectID(),
		OrderID:    c.OrderID,
		UserID:     c.UserID,
		State:      Pending,
		Attempt:    1,
		Amount:     c.Amount,
		Token:      c.Token,
		LeaseUntil: c.Now.Add(c.Lease),
		Holder:     newHolder(),
		CreatedAt:  c.Now,
		UpdatedAt:  c.Now,
	}
	_, err = s.payments.InsertOne(ctx, p)
	if err == nil {
		return p, false, nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return Payment{}, false, mongodb.Classify(err)
	}

	err = s.payments.FindOneAndUpdate(ctx,
		bson.D{{Key: "orderId", Value: c.OrderID}, {Key: "state", Value: Failed}},
		bson.D{
			{Key: "$set", Value: bson.D{
				{Key: "state", Value: Pending},
				{Key: "userId", Value: c.UserID},
				{Key: "amount", Value: c.Amount},
				{Key: "token", Value: c.Token},
				{Key: "leaseUntil", Value: c.Now.Add(c.Lease)},
				{Key: "holder", Value: newHolder()},
				{Key: "updatedAt", Value: c.Now},
			}},
			{Key: "$inc", Value: bson.D{{Key: "attempt", Value: 1}}},
		},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&p)
	if err == nil {
		return p, false, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return Payment{}, false, mongodb.Classify(err)
	}

	p, ok, err := s.TakeOver(ctx, c.OrderID, c.Now, c.Lease)
	if err != nil {
		return Payment{}, false, err
	}
	if !ok {
		return Payment{}, false, ErrTaken
	}
	return p, true, nil
}

// newHolder draws the identity of a new holder of a claim.
func newHolder() string { return bson.NewObjectID().Hex() }

// TakeOver makes the caller the holder of a pending payment whose lease has
// run out, with a fresh lease, and returns it; ok is false when there is
// none. The attempt is unchanged: the new holder repeats it.
func (s *Store) TakeOver(ctx context.Context, orderID bson.ObjectID, now time.Time, lease time.Duration) (Payment, bool, error) {
	var p Payment
	err := s.payments.FindOneAndUpdate(ctx,
		bson.D{
			{Key: "orderId", Value: orderID},
			{Key: "state", Value: Pending},
			{Key: "leaseUntil", Value: bson.D{{Key: "$lt", Value: now}}},
		},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "leaseUntil", Value: now.Add(lease)},
			{Key: "holder", Value: newHolder()},
			{Key: "updatedAt", Value: now},
		}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Payment{}, false, nil
	}
	if err != nil {
		return Payment{}, false, mongodb.Classify(err)
	}
	return p, true, nil
}

// Abandoned returns up to limit pending payments whose lease ran out before
// now: their holder died, or gave up with the outcome unknown.
func (s *Store) Abandoned(ctx context.Context, now time.Time, limit int64) ([]Payment, error) {
	cur, err := s.payments.Find(ctx,
		bson.D{{Key: "state", Value: Pending}, {Key: "leaseUntil", Value: bson.D{{Key: "$lt", Value: now}}}},
		options.Find().SetLimit(limit))
	if err != nil {
		return nil, mongodb.Classify(err)
	}
	var ps []Payment
	if err := cur.All(ctx, &ps); err != nil {
		return nil, mongodb.Classify(err)
	}
	return ps, nil
}

// heldBy matches the payment only while it is still the pending claim of
// this attempt. Recording an outcome needs no more: whoever holds the
// attempt (its first holder or one that took it over) sent Stripe the same
// request under the same idempotency key, so both have the same outcome.
func heldBy(p Payment) bson.D {
	return bson.D{{Key: "_id", Value: p.ID}, {Key: "state", Value: Pending}, {Key: "attempt", Value: p.Attempt}}
}

// heldByHolder matches the payment only while it is the pending claim of
// this attempt held by p's holder: not once it was recorded, claimed again
// or taken over.
func heldByHolder(p Payment) bson.D {
	return append(heldBy(p), bson.E{Key: "holder", Value: p.Holder})
}

// RenewLease extends the lease of p's claim to now + lease, for a holder
// whose attempt is still running. It is one conditional update that matches
// only p's holder's pending claim of p's attempt whose lease ends earlier:
// it never revives a claim that was recorded (succeeded, failed, void) or
// taken over, and never shortens a lease. ok is false when nothing matched.
func (s *Store) RenewLease(ctx context.Context, p Payment, now time.Time, lease time.Duration) (bool, error) {
	if p.Holder == "" {
		return false, nil // not a claim made by Claim or TakeOver
	}
	until := now.Add(lease)
	filter := append(heldByHolder(p), bson.E{Key: "leaseUntil", Value: bson.D{{Key: "$lt", Value: until}}})
	res, err := s.payments.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "leaseUntil", Value: until}}}})
	if err != nil {
		return false, mongodb.Classify(err)
	}
	return res.MatchedCount == 1, nil
}

// MarkSucceeded records the charge and stores payment.created in the same
// update. If another holder of the same attempt recorded it first (the
// idempotency key gave both the same charge), that record is returned.
func (s *Store) MarkSucceeded(ctx context.Context, p Payment, stripeID string, now time.Time, evt outbox.Event) (Payment, error) {
	update := outbox.Update(ctx, bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "state", Value: Succeeded},
			{Key: "stripeId", Value: stripeID},
			{Key: "updatedAt", Value: now},
		}},
		{Key: "$unset", Value: bson.D{{Key: "token", Value: ""}}},
	}, evt)
	var out Payment
	err := s.payments.FindOneAndUpdate(ctx, heldBy(p), update,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&out)
	if err == nil {
		return out, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return Payment{}, mongodb.Classify(err)
	}
	cur, found, err := s.PaymentByOrder(ctx, p.OrderID)
	if err != nil {
		return Payment{}, err
	}
	if found && cur.Attempt == p.Attempt && (cur.State == Succeeded || cur.State == Refunded) {
		return cur, nil
	}
	return Payment{}, ErrClaimLost
}

// MarkFailed records that Stripe refused the attempt: nothing was charged
// and the order may be claimed again.
func (s *Store) MarkFailed(ctx context.Context, p Payment, now time.Time) error {
	_, err := s.payments.UpdateOne(ctx, heldBy(p), bson.D{
		{Key: "$set", Value: bson.D{{Key: "state", Value: Failed}, {Key: "updatedAt", Value: now}}},
		{Key: "$unset", Value: bson.D{{Key: "token", Value: ""}}},
	})
	return mongodb.Classify(err)
}

// ReleaseLease ends the lease of a pending claim whose outcome is unknown, so
// that the next request (or the cancellation handler) repeats the attempt at
// once instead of waiting for the lease to run out. Only p's holder's claim
// is released: a holder that was overtaken leaves the new holder's lease
// alone.
func (s *Store) ReleaseLease(ctx context.Context, p Payment, now time.Time) error {
	_, err := s.payments.UpdateOne(ctx, heldByHolder(p), bson.D{
		{Key: "$set", Value: bson.D{{Key: "leaseUntil", Value: now.Add(-time.Millisecond)}, {Key: "updatedAt", Value: now}}},
	})
	return mongodb.Classify(err)
}

// Void takes the order's payment slot for a cancelled order: it inserts a
// void payment when there is none, and turns a failed one void. Any other
// payment (pending, succeeded, refunded) is left as it is for the caller to
// settle.
func (s *Store) Void(ctx context.Context, orderID bson.ObjectID, now time.Time) error {
	_, err := s.payments.InsertOne(ctx, Payment{
		ID: bson.NewObjectID(), OrderID: orderID, State: Void, CreatedAt: now, UpdatedAt: now,
	})
	if err == nil || !mongo.IsDuplicateKeyError(err) {
		return mongodb.Classify(err)
	}
	_, err = s.payments.UpdateOne(ctx,
		bson.D{{Key: "orderId", Value: orderID}, {Key: "state", Value: Failed}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: Void}, {Key: "updatedAt", Value: now}}}})
	return mongodb.Classify(err)
}

// MarkRefunded records the refund of a succeeded payment.
func (s *Store) MarkRefunded(ctx context.Context, id bson.ObjectID, refundID string, now time.Time) error {
	_, err := s.payments.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "state", Value: Succeeded}},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "state", Value: Refunded},
			{Key: "refundId", Value: refundID},
			{Key: "updatedAt", Value: now},
		}}})
	return mongodb.Classify(err)
}
