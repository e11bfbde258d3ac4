// Package store keeps tickets in MongoDB. Every change is written by one
// single-document update guarded by the ticket's previous version, together
// with the event that reports it (see common/outbox), so a change is never
// lost to a concurrent one and never published without being stored.
//
// Beside the tickets it keeps one small marker per cancelled order this
// service has seen (see cancelled.go), outside the ticket's document.
package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
)

// Collection is the name of the tickets collection.
const Collection = "tickets"

// maxAttempts bounds how often Update re-applies a change that lost a race
// with another writer before it gives up with mongodb.ErrBusy.
const maxAttempts = 30

var (
	// ErrNotFound reports that no ticket has the id.
	ErrNotFound = errors.New("ticket not found")
	// ErrNotOwner refuses a change of a ticket by someone who does not sell it.
	ErrNotOwner = errors.New("ticket of another user")
	// ErrReserved refuses an edit of a ticket an order holds.
	ErrReserved = errors.New("ticket reserved")
)

// Ticket is a ticket as the service knows it.
type Ticket struct {
	ID      bson.ObjectID `bson:"_id"`
	Title   string        `bson:"title"`
	Price   money.Cents   `bson:"price"`
	UserID  string        `bson:"userId"`
	Version int64         `bson:"version"`
	// OrderID is the order that reserves the ticket; empty when it is free.
	OrderID string `bson:"orderId,omitempty"`
	// SoldOrder is the order whose payment completed (order.completed):
	// the ticket is sold while that order still holds it. A completed
	// order is never cancelled, so in practice it holds it for good.
	SoldOrder string `bson:"soldOrder,omitempty"`
}

// States of a ticket, as its seller sees them.
const (
	StateForSale  = "for-sale"
	StateReserved = "reserved"
	StateSold     = "sold"
)

// State tells whether the ticket is for sale, reserved by an order not paid
// for yet, or sold (reserved by an order that completed).
func (t *Ticket) State() string {
	switch {
	case !t.Reserved():
		return StateForSale
	case t.SoldOrder == t.OrderID:
		return StateSold
	}
	return StateReserved
}

// Edit changes what the seller sells: only the seller may, and only while no
// order holds the ticket.
func (t *Ticket) Edit(userID, title string, price money.Cents) error {
	if t.UserID != userID {
		return ErrNotOwner
	}
	if t.Reserved() {
		return ErrReserved
	}
	t.Title, t.Price = title, price
	return nil
}

// Reserved reports whether an order holds the ticket.
func (t *Ticket) Reserved() bool { return t.OrderID != "" }

// document is a ticket with its pending events.
type document struct {
	Ticket        `bson:",inline"`
	outbox.Fields `bson:",inline"`
}

// loaded is a ticket as Update reads it: with the legacy releasedOrders
// list that documents written before the cancelled_orders markers may still
// carry (see migrate).
type loaded struct {
	Ticket         `bson:",inline"`
	ReleasedOrders []string `bson:"releasedOrders,omitempty"`
}

// withoutOutbox keeps pending events out of Update's reads.
var withoutOutbox = bson.D{{Key: "outbox", Value: 0}, {Key: "outboxN", Value: 0}}

// public is the projection of the read routes (show, list): no pending
// events and never the legacy releasedOrders list, however long it is.
var public = bson.D{{Key: "outbox", Value: 0}, {Key: "outboxN", Value: 0}, {Key: "releasedOrders", Value: 0}}

// Store reads and writes tickets and the cancelled-order markers.
type Store struct {
	coll      *mongo.Collection
	cancelled *mongo.Collection
	// notify tells the outbox relay that a ticket has events to publish
	// (with all of its pending events, as the write left them).
	notify func(id any, pending ...outbox.Event)
	// lists caches pages of unreserved tickets; nil: every list reads.
	lists *listCache
}

// New returns a store on db's tickets and cancelled_orders collections;
// notify (the outbox relay's Notify) is called with a ticket's id after each
// write that stored events.
func New(db *mongo.Database, notify func(id any, pending ...outbox.Event)) *Store {
	return &Store{coll: db.Collection(Collection), cancelled: db.Collection(CancelledCollection), notify: notify}
}

// CacheLists makes List serve a page it read less than ttl ago,
// as long as this store wrote no ticket since (see listCache). Call it
// before the store is used; ttl 0 leaves every list reading the store.
func (s *Store) CacheLists(ttl time.Duration) {
	if ttl > 0 {
		s.lists = newListCache(ttl)
	}
}

// EnsureIndexes creates the index that serves the listing of unreserved
// tickets in creation order (ObjectIds grow with creation time), the
// sweep's scan of reserved tickets and order.completed's lookup by order,
// the index of a seller's own list, and the index of the sweep's marker
// queries. One CreateOne per index: FerretDB 1.24 fails on several at once.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	indexes := []struct {
		coll *mongo.Collection
		keys bson.D
	}{
		{s.coll, bson.D{{Key: "orderId", Value: 1}, {Key: "_id", Value: 1}}},
		{s.coll, bson.D{{Key: "userId", Value: 1}, {Key: "_id", Value: 1}}},
		{s.cancelled, bson.D{{Key: "settled", Value: 1}, {Key: "at", Value: 1}}},
	}
	for _, ix := range indexes {
		if _, err := ix.coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.keys}); err != nil {
			return fmt.Errorf("%s index: %w", ix.coll.Name(), err)
		}
	}
	return nil
}

// Create stores a new ticket at version 0 with its ticket.created event.
func (s *Store) Create(ctx context.Context, title string, price money.Cents, userID string) (Ticket, error) {
	t := Ticket{ID: bson.NewObjectID(), Title: title, Price: price, UserID: userID}
	evt, err := outbox.New(events.TicketCreated, outbox.ID(events.TicketCreated.Subject, t.ID.Hex(), t.Version), t.Version,
		events.TicketCreatedData{ID: t.ID.Hex(), Version: t.Version, Title: t.Title, Price: t.Price, UserID: t.UserID})
	if err != nil {
		return Ticket{}, fmt.Errorf("ticket.created of %s: %w", t.ID.Hex(), err)
	}
	doc := document{Ticket: t}
	doc.Add(ctx, evt)
	_, err = s.coll.InsertOne(ctx, doc)
	s.lists.changed()
	if err != nil {
		return Ticket{}, mongodb.Classify(err)
	}
	s.notify(t.ID, doc.Events()...)
	return t, nil
}

// Get returns the ticket or ErrNotFound.
func (s *Store) Get(ctx context.Context, id bson.ObjectID) (Ticket, error) {
	var t Ticket
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(public)).Decode(&t)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Ticket{}, ErrNotFound
	}
	if err != nil {
		return Ticket{}, mongodb.Classify(err)
	}
	return t, nil
}

// load reads the ticket for Update, legacy list included.
func (s *Store) load(ctx context.Context, id bson.ObjectID) (loaded, error) {
	var t loaded
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(withoutOutbox)).Decode(&t)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return loaded{}, ErrNotFound
	}
	if err != nil {
		return loaded{}, mongodb.Classify(err)
	}
	return t, nil
}

// ListQuery selects a page of tickets.
type ListQuery struct {
	// Seller, when set, lists every ticket of that seller, reserved and
	// sold ones included; empty lists the unreserved tickets of everyone.
	Seller string
	// Title, when set, keeps the tickets whose title holds it, whatever
	// the case.
	Title string
	// Newest lists the newest first; otherwise the oldest first (ObjectIds
	// grow with creation time).
	Newest bool
	// After is the last ticket of the previous page (the zero id: from the
	// start, in the page's order).
	After bson.ObjectID
	// Backward reads the page that ends just before After instead: the
	// Limit tickets preceding it, still in the page's order; List's more
	// then says whether more precede them.
	Backward bool
	Limit    int
}

// key names the query's page in the list cache.
func (q ListQuery) key() string {
	return fmt.Sprintf("%s/%t/%d/%t/%q/%q", q.After.Hex(), q.Backward, q.Limit, q.Newest, q.Seller, q.Title)
}

// List returns up to q.Limit tickets as q selects them, and whether more
// follow (precede, with Backward).
//
// With CacheLists, a page of unreserved tickets may come from the cache; a
// seller's own list is always read, so that the seller sees a reservation
// or a sale as soon as this service knows it.
func (s *Store) List(ctx context.Context, q ListQuery) ([]Ticket, bool, error) {
	if s.lists == nil || q.Seller != "" {
		return s.list(ctx, q)
	}
	return s.lists.get(ctx, q.key(), func(ctx context.Context) ([]Ticket, bool, error) {
		return s.list(ctx, q)
	})
}

func (s *Store) list(ctx context.Context, q ListQuery) ([]Ticket, bool, error) {
	var filter bson.D
	if q.Seller != "" {
		filter = bson.D{{Key: "userId", Value: q.Seller}}
	} else {
		filter = bson.D{{Key: "orderId", Value: bson.D{{Key: "$exists", Value: false}}}}
	}
	order, past := 1, "$gt"
	if q.Newest != q.Backward { // backward reads the page's order in reverse
		order, past = -1, "$lt"
	}
	if !q.After.IsZero() {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: past, Value: q.After}}})
	}
	if q.Title != "" {
		filter = append(filter, bson.E{Key: "title", Value: bson.Regex{Pattern: regexp.QuoteMeta(q.Title), Options: "i"}})
	}
	opts := options.Find().
		SetSort(bson.D{{Key: "_id", Value: order}}).
		SetLimit(int64(q.Limit) + 1).
		SetProjection(public)
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, false, mongodb.Classify(err)
	}
	tickets := make([]Ticket, 0, q.Limit+1)
	if err := cur.All(ctx, &tickets); err != nil {
		return nil, false, mongodb.Classify(err)
	}
	more := len(tickets) > q.Limit
	if more {
		tickets = tickets[:q.Limit]
	}
	if q.Backward {
		slices.Reverse(tickets)
	}
	return tickets, more, nil
}

// Change modifies a loaded ticket and reports whether it changed anything.
// An error aborts the update and is returned by Update as it is.
type Change func(t *Ticket) (changed bool, err error)

// Update loads the ticket, applies change and, when it changed something,
// writes the result as the next version with its ticket.updated event. The
// write only succeeds on the version it was computed from; when another
// writer got there first, the change is applied again to the fresh ticket
// (at most maxAttempts times, then 409). It returns the ticket as stored.
//
// A document that still carries the legacy releasedOrders list is migrated
// first (see migrate), so change never has to know about it.
func (s *Store) Update(ctx context.Context, id bson.ObjectID, change Change) (Ticket, error) {
	var out Ticket
	err := mongodb.Retry(ctx, maxAttempts, func() (bool, error) {
		l, err := s.load(ctx, id)
		if err != nil {
			return false, err
		}
		if len(l.ReleasedOrders) > 0 {
			// Migrated (or migrated by another writer): go on with the
			// ticket as it is now.
			_, err := s.migrate(ctx, l)
			return false, err
		}
		t := l.Ticket
		prev := t.Version
		changed, err := change(&t)
		if err != nil || !changed {
			out = t
			return true, err
		}
		t.Version = prev + 1
		pending, err := s.write(ctx, t, prev)
		if err != nil || pending == nil {
			return false, err
		}
		s.notify(t.ID, pending...)
		out = t
		return true, nil
	})
	if err != nil {
		return Ticket{}, err
	}
	return out, nil
}

// MarkSold records that the order holding a ticket was paid for, and
// reports whether a ticket is held by the order (false: its order.created
// has not reserved it yet). It changes neither the version nor what the
// ticket.updated events carry (orders has no use for it), so it publishes
// nothing, and a replay writes the same value again.
func (s *Store) MarkSold(ctx context.Context, orderID string) (bool, error) {
	res, err := s.coll.UpdateOne(ctx,
		bson.D{{Key: "orderId", Value: orderID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "soldOrder", Value: orderID}}}})
	if err != nil {
		return false, mongodb.Classify(err)
	}
	return res.MatchedCount > 0, nil
}

// Release frees the ticket if the order holds it, and reports whether it
// did (a versioned write with its ticket.updated event). An order that does
// not hold the ticket leaves it as it is, a newer reservation included.
func (s *Store) Release(ctx context.Context, id bson.ObjectID, orderID string) (bool, error) {
	if orderID == "" {
		return false, nil // no order: nothing it could hold
	}
	released := false
	_, err := s.Update(ctx, id, func(t *Ticket) (bool, error) {
		released = t.OrderID == orderID
		if released {
			t.OrderID = ""
		}
		return released, nil
	})
	if err != nil {
		return false, err
	}
	return released, nil
}

// write stores t (whose Version is already the new one) if the stored
// ticket is still at version prev, and returns the ticket's pending events
// as the write left them, its ticket.updated included (nil: not written,
// another writer got there first). One findAndModify both writes and
// returns them, so the relay publishes without reading the ticket again.
func (s *Store) write(ctx context.Context, t Ticket, prev int64) ([]outbox.Event, error) {
	data := events.TicketUpdatedData{
		ID: t.ID.Hex(), Version: t.Version, Title: t.Title, Price: t.Price, UserID: t.UserID, OrderID: t.OrderID,
	}
	evt, err := outbox.New(events.TicketUpdated, outbox.ID(events.TicketUpdated.Subject, t.ID.Hex(), t.Version), t.Version, data)
	if err != nil {
		return nil, fmt.Errorf("ticket.updated of %s: %w", t.ID.Hex(), err)
	}
	set := bson.D{
		{Key: "title", Value: t.Title},
		{Key: "price", Value: t.Price},
		{Key: "version", Value: t.Version},
	}
	update := bson.D{}
	if t.Reserved() {
		set = append(set, bson.E{Key: "orderId", Value: t.OrderID})
	} else {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "orderId", Value: ""}}})
	}
	update = append(update, bson.E{Key: "$set", Value: set})
	// No projection: FerretDB 1.24's findAndModify refuses one.
	var written document
	err = s.coll.FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: t.ID}, {Key: "version", Value: prev}},
		outbox.Update(ctx, update, evt),
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&written)
	s.lists.changed()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, mongodb.Classify(err)
	}
	return written.Events(), nil
}
