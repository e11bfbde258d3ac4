// Package store keeps orders and the replica of tickets in MongoDB (or
// FerretDB). Every change is a single-document update guarded by the
// document's version, and an order's events are written into the same
// document (common/outbox), so a change and its event are stored atomically
// without transactions.
package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/orders/order"
)

var (
	// ErrTicketReserved is the answer to an order for a ticket that another
	// order holds.
	ErrTicketReserved = errors.New("ticket is already reserved")
	// ErrOrderNotFound is the answer for an order id that is not stored.
	ErrOrderNotFound = errors.New("order not found")
)

// maxUpdateAttempts bounds how often Update reloads an order that changed
// under it; each attempt is only lost to another writer's success.
const maxUpdateAttempts = 20

// orderDoc is an order as stored. activeTicket holds the ticket's id while
// the order reserves it and is absent otherwise: a unique sparse index on
// it lets at most one order at a time reserve a ticket. (FerretDB has no
// partial indexes, and a sparse index skips only absent fields, so the
// field is unset, never set to null.)
//
// activeUser holds the user's id while the order is unpaid (created or
// awaiting payment) and is absent otherwise, for CountActive: a filter on
// it by equality reads only the user's unpaid orders, through an index on
// MongoDB and in SQL on FerretDB's PostgreSQL backend, which evaluates
// nothing but equalities there and decodes every document it returns in Go
// (measured: 20 ms of CPU to count by userId among 300 orders of one user).
type orderDoc struct {
	order.Order   `bson:",inline"`
	ActiveTicket  *bson.ObjectID `bson:"activeTicket,omitempty"`
	ActiveUser    string         `bson:"activeUser,omitempty"`
	outbox.Fields `bson:",inline"`
}

// unpaid tells the statuses CountActive counts (see order.MayOrder).
func unpaid(status string) bool {
	return status == events.StatusCreated || status == events.StatusAwaitingPayment
}

// Orders is the order repository.
type Orders struct {
	coll   *mongo.Collection
	notify func(id any, pending ...outbox.Event)
}

// NewOrders stores orders in coll; notify (the outbox relay's Notify) is
// told of every document that gained an event.
func NewOrders(coll *mongo.Collection, notify func(id any, pending ...outbox.Event)) *Orders {
	return &Orders{coll: coll, notify: notify}
}

// EnsureIndexes creates the reservation index, the indexes behind the
// per-user listing and CountActive, and the one behind Overdue.
//
// One index per call: FerretDB 1.24 panics on a createIndexes of several
// indexes when some already exist (every start after the first).
func (s *Orders) EnsureIndexes(ctx context.Context) error {
	for _, idx := range []mongo.IndexModel{
		{
			Keys:    bson.D{{Key: "activeTicket", Value: 1}},
			Options: options.Index().SetName("one_active_order_per_ticket").SetUnique(true).SetSparse(true),
		},
		{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "createdAt", Value: 1}}},
		{Keys: bson.D{{Key: "activeUser", Value: 1}, {Key: "expiresAt", Value: 1}}},
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "expiresAt", Value: 1}}},
	} {
		if _, err := s.coll.Indexes().CreateOne(ctx, idx); err != nil {
			return err
		}
	}
	return nil
}

// Create stores a new order with its order.created event. If another order
// already reserves the ticket it answers ErrTicketReserved.
func (s *Orders) Create(ctx context.Context, o order.Order, created outbox.Event) error {
	doc := orderDoc{Order: o}
	if order.Reserves(o.Status) {
		doc.ActiveTicket = &o.Ticket.ID
	}
	if unpaid(o.Status) {
		doc.ActiveUser = o.UserID
	}
	doc.Add(ctx, created)
	if _, err := s.coll.InsertOne(ctx, doc); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return ErrTicketReserved
		}
		return mongodb.Classify(err)
	}
	s.notify(o.ID, doc.Events()...)
	return nil
}

// Get returns the order or ErrOrderNotFound.
func (s *Orders) Get(ctx context.Context, id bson.ObjectID) (order.Order, error) {
	var doc orderDoc
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return order.Order{}, ErrOrderNotFound
	}
	if err != nil {
		return order.Order{}, mongodb.Classify(err)
	}
	return doc.Order, nil
}

// ListQuery selects a page of one user's orders. Orders are listed by
// createdAt, then _id among orders created in the same millisecond.
type ListQuery struct {
	UserID string
	// Newest lists the newest first; otherwise the oldest first (the
	// original's order).
	Newest bool
	// After is the last order of the previous page (nil: from the start, in
	// the page's order).
	After *Position
	// Backward reads the page that ends just before After instead: the
	// Limit orders preceding it, still in the page's order; List's more
	// then says whether more precede them.
	Backward bool
	// Limit is the page's size; 0 lists every order (after After).
	Limit int
}

// Position is where an order stands in the listing: its createdAt (as
// stored, to the millisecond) and its id.
type Position struct {
	CreatedAt time.Time
	ID        bson.ObjectID
}

// PositionOf is o's place in the listing.
func PositionOf(o order.Order) Position {
	return Position{CreatedAt: o.CreatedAt, ID: o.ID}
}

// List returns the orders q selects, up to q.Limit of them, and whether
// more follow (precede, with Backward). The {userId, createdAt} index
// serves it.
func (s *Orders) List(ctx context.Context, q ListQuery) ([]order.Order, bool, error) {
	dir, past := 1, "$gt"
	if q.Newest != q.Backward { // backward reads the page's order in reverse
		dir, past = -1, "$lt"
	}
	filter := bson.D{{Key: "userId", Value: q.UserID}}
	if q.After != nil {
		at := bson.NewDateTimeFromTime(q.After.CreatedAt)
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "createdAt", Value: bson.D{{Key: past, Value: at}}}},
			bson.D{{Key: "createdAt", Value: at}, {Key: "_id", Value: bson.D{{Key: past, Value: q.After.ID}}}},
		}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "createdAt", Value: dir}, {Key: "_id", Value: dir}})
	if q.Limit > 0 {
		opts.SetLimit(int64(q.Limit) + 1)
	}
	orders, err := s.find(ctx, filter, opts)
	if err != nil {
		return nil, false, err
	}
	more := q.Limit > 0 && len(orders) > q.Limit
	if more {
		orders = orders[:q.Limit]
	}
	if q.Backward {
		slices.Reverse(orders)
	}
	return orders, more, nil
}

// CountActive counts the user's active orders at now (see order.MayOrder):
// created or awaiting payment, with expiresAt still ahead. It reads only
// the user's unpaid orders (activeUser; the {activeUser, expiresAt} index),
// never the paid and cancelled ones. An order stored before activeUser
// existed is not counted: the limit is lenient for one order window after
// an upgrade.
func (s *Orders) CountActive(ctx context.Context, userID string, now time.Time) (int64, error) {
	n, err := s.coll.CountDocuments(ctx, bson.D{
		{Key: "activeUser", Value: userID},
		{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now}}},
	})
	if err != nil {
		return 0, mongodb.Classify(err)
	}
	return n, nil
}

// find returns the orders that filter matches.
func (s *Orders) find(ctx context.Context, filter bson.D, opts ...options.Lister[options.FindOptions]) ([]order.Order, error) {
	cur, err := s.coll.Find(ctx, filter, opts...)
	if err != nil {
		return nil, mongodb.Classify(err)
	}
	var docs []orderDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mongodb.Classify(err)
	}
	out := make([]order.Order, len(docs))
	for i, d := range docs {
		out[i] = d.Order
	}
	return out, nil
}

// Overdue returns up to limit unpaid orders (created, awaiting:payment)
// whose expiresAt is at or before cutoff, the longest overdue first. The
// {status, expiresAt} index serves it: one range per unpaid status, merged
// in expiresAt order.
func (s *Orders) Overdue(ctx context.Context, cutoff time.Time, limit int) ([]order.Order, error) {
	return s.find(ctx,
		bson.D{
			{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{events.StatusCreated, events.StatusAwaitingPayment}}}},
			{Key: "expiresAt", Value: bson.D{{Key: "$lte", Value: cutoff}}},
		},
		options.Find().SetSort(bson.D{{Key: "expiresAt", Value: 1}}).SetLimit(int64(limit)))
}

// Change is what an update function does to an order: it changes the order
// in place and returns the event that reports the change, nil when there is
// nothing to change, or an error to abandon the update.
type Change func(o *order.Order) (*outbox.Event, error)

// Update loads the order, lets change decide, and writes the new status and
// version with the event in one update conditional on the version it read.
// When another writer got there first it reloads and decides again, so the
// caller sees the outcome of a lost race, not the race (mongodb.ErrBusy only
// after maxUpdateAttempts lost in a row). It returns the order as stored
// afterwards.
func (s *Orders) Update(ctx context.Context, id bson.ObjectID, change Change) (order.Order, error) {
	var out order.Order
	err := mongodb.Retry(ctx, maxUpdateAttempts, func() (bool, error) {
		o, err := s.Get(ctx, id)
		if err != nil {
			return false, err
		}
		read := o.Version
		evt, err := change(&o)
		if err != nil || evt == nil {
			out = o
			return true, err
		}
		set := bson.D{{Key: "status", Value: o.Status}, {Key: "version", Value: o.Version}}
		if o.CancelReason != "" {
			set = append(set, bson.E{Key: "cancelReason", Value: o.CancelReason})
		}
		var unset bson.D
		if !order.Reserves(o.Status) {
			unset = append(unset, bson.E{Key: "activeTicket", Value: ""})
		}
		if unpaid(o.Status) {
			set = append(set, bson.E{Key: "activeUser", Value: o.UserID})
		} else {
			unset = append(unset, bson.E{Key: "activeUser", Value: ""})
		}
		update := bson.D{{Key: "$set", Value: set}}
		if len(unset) > 0 {
			update = append(update, bson.E{Key: "$unset", Value: unset})
		}
		// One findAndModify writes and returns the pending events, so the
		// relay publishes without reading the order again. No projection:
		// FerretDB 1.24's findAndModify refuses one.
		var written orderDoc
		err = s.coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: read}},
			outbox.Update(ctx, update, *evt), options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&written)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return false, nil // another writer got there first
		}
		if err != nil {
			return false, mongodb.Classify(err)
		}
		s.notify(id, written.Events()...)
		out = o
		return true, nil
	})
	if err != nil {
		return order.Order{}, err
	}
	return out, nil
}
