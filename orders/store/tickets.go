package store

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/money"
	"ticketing.dev/common/mongodb"
)

// ErrTicketNotFound is the answer for a ticket the replica does not hold
// (yet: the replica follows the tickets service's events).
var ErrTicketNotFound = errors.New("ticket not found")

// Ticket is the replica of a ticket, under the same id as in the tickets
// service.
type Ticket struct {
	ID      bson.ObjectID `bson:"_id"`
	Title   string        `bson:"title"`
	Price   money.Cents   `bson:"price"`
	Version int64         `bson:"version"`
}

// Tickets is the replica of the tickets service's tickets.
type Tickets struct {
	coll *mongo.Collection
}

// NewTickets keeps the replica in coll.
func NewTickets(coll *mongo.Collection) *Tickets { return &Tickets{coll: coll} }

// Get returns the replica of a ticket or ErrTicketNotFound.
func (s *Tickets) Get(ctx context.Context, id bson.ObjectID) (Ticket, error) {
	var t Ticket
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&t)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Ticket{}, ErrTicketNotFound
	}
	if err != nil {
		return Ticket{}, mongodb.Classify(err)
	}
	return t, nil
}

// Insert stores a ticket the replica does not hold; a ticket it holds
// already is left as it is (inserted is false).
func (s *Tickets) Insert(ctx context.Context, t Ticket) (inserted bool, err error) {
	if _, err := s.coll.InsertOne(ctx, t); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return false, nil
		}
		return false, mongodb.Classify(err)
	}
	return true, nil
}

// Apply stores t if it is the version right after the stored one; it
// reports what it found otherwise, along with the stored version.
func (s *Tickets) Apply(ctx context.Context, t Ticket) (mongodb.Outcome, int64, error) {
	return mongodb.ApplyNext(ctx, s.coll, t.ID, t.Version, bson.D{
		{Key: "title", Value: t.Title}, {Key: "price", Value: t.Price},
	})
}
