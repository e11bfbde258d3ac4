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

// Outcome says what Apply did with a ticket's new version.
type Outcome int

const (
	Applied Outcome = iota // it was the next version and is stored
	Stale                  // the replica holds this version or a newer one
	Gap                    // versions between the stored one and this are missing
	Missing                // the replica does not hold the ticket
)

func (o Outcome) String() string {
	return [...]string{"applied", "stale", "gap", "missing"}[o]
}

// Apply stores t if it is the version right after the stored one; it
// reports what it found otherwise, along with the stored version.
func (s *Tickets) Apply(ctx context.Context, t Ticket) (Outcome, int64, error) {
	for {
		res, err := s.coll.UpdateOne(ctx,
			bson.D{{Key: "_id", Value: t.ID}, {Key: "version", Value: t.Version - 1}},
			bson.D{{Key: "$set", Value: bson.D{
				{Key: "title", Value: t.Title}, {Key: "price", Value: t.Price}, {Key: "version", Value: t.Version},
			}}})
		if err != nil {
			return 0, 0, mongodb.Classify(err)
		}
		if res.MatchedCount == 1 {
			return Applied, t.Version, nil
		}
		stored, err := s.Get(ctx, t.ID)
		switch {
		case errors.Is(err, ErrTicketNotFound):
			return Missing, 0, nil
		case err != nil:
			return 0, 0, err
		case stored.Version >= t.Version:
			return Stale, stored.Version, nil
		case stored.Version < t.Version-1:
			return Gap, stored.Version, nil
		}
		// The previous version arrived between the update and the read: try again.
	}
}
