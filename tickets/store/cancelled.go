package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/mongodb"
)

// CancelledCollection holds one marker per cancelled order this service has
// seen. A marker is what makes a late, redelivered or replayed order.created
// of a cancelled order leave the ticket alone. It lives outside the ticket's
// document, so a ticket does not grow with the orders placed and cancelled on
// it, and the public routes never read markers. Markers are pruned once the
// stream can no longer redeliver their order's events (see the reconcile
// package).
const CancelledCollection = "cancelled_orders"

// Cancelled is the marker of a cancelled order.
type Cancelled struct {
	OrderID  string        `bson:"_id"`
	TicketID bson.ObjectID `bson:"ticketId"`
	// At is when this service first saw the cancellation.
	At time.Time `bson:"at"`
	// Settled is set once the ticket is known not to be held by the order:
	// the order.cancelled handler (or the sweep) released it or found it
	// free. An unsettled marker older than a handler's run is the trace of a
	// handler that died or was dead-lettered halfway; the sweep finishes it.
	Settled bool `bson:"settled"`
}

// Held is a reservation of a ticket by an order.
type Held struct {
	TicketID bson.ObjectID
	OrderID  string
}

// MarkCancelled stores the marker of a cancelled order, unsettled. A marker
// already there (a redelivery, a replay) is left as it is.
func (s *Store) MarkCancelled(ctx context.Context, orderID string, ticketID bson.ObjectID) error {
	_, err := s.cancelled.InsertOne(ctx, Cancelled{OrderID: orderID, TicketID: ticketID, At: time.Now().UTC()})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return mongodb.Classify(err)
	}
	return nil
}

// IsCancelled reports whether the order has a marker.
func (s *Store) IsCancelled(ctx context.Context, orderID string) (bool, error) {
	err := s.cancelled.FindOne(ctx, bson.D{{Key: "_id", Value: orderID}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, mongodb.Classify(err)
	}
	return true, nil
}

// Settle marks the order's marker settled (a no-op when it already is).
func (s *Store) Settle(ctx context.Context, orderID string) error {
	_, err := s.cancelled.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: orderID}, {Key: "settled", Value: false}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "settled", Value: true}}}})
	return mongodb.Classify(err)
}

// Unsettled returns up to limit unsettled markers first seen before the
// time, oldest first (the {settled, at} index serves it).
func (s *Store) Unsettled(ctx context.Context, before time.Time, limit int) ([]Cancelled, error) {
	cur, err := s.cancelled.Find(ctx,
		bson.D{{Key: "settled", Value: false}, {Key: "at", Value: bson.D{{Key: "$lt", Value: before}}}},
		options.Find().SetSort(bson.D{{Key: "at", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, mongodb.Classify(err)
	}
	var out []Cancelled
	if err := cur.All(ctx, &out); err != nil {
		return nil, mongodb.Classify(err)
	}
	return out, nil
}

// PruneSettled deletes the settled markers first seen before the time and
// returns how many it deleted (the {settled, at} index serves it).
func (s *Store) PruneSettled(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.cancelled.DeleteMany(ctx,
		bson.D{{Key: "settled", Value: true}, {Key: "at", Value: bson.D{{Key: "$lt", Value: before}}}})
	if err != nil {
		return 0, mongodb.Classify(err)
	}
	return res.DeletedCount, nil
}

// HeldBySettled returns the reservations held by an order whose marker is
// settled (an unsettled marker's handler, or the sweep after it, has yet to
// release the ticket): reserved tickets are read batch by batch (the
// {orderId, _id} index serves the scan) and their orders looked up by id.
func (s *Store) HeldBySettled(ctx context.Context, batch int) ([]Held, error) {
	cur, err := s.coll.Find(ctx,
		bson.D{{Key: "orderId", Value: bson.D{{Key: "$gt", Value: ""}}}},
		options.Find().SetProjection(bson.D{{Key: "orderId", Value: 1}}).SetBatchSize(int32(batch)))
	if err != nil {
		return nil, mongodb.Classify(err)
	}
	defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
	var out []Held
	pending := make(map[string]bson.ObjectID, batch)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		ids := make([]string, 0, len(pending))
		for id := range pending {
			ids = append(ids, id)
		}
		mc, err := s.cancelled.Find(ctx,
			bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, {Key: "settled", Value: true}},
			options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return err
		}
		var found []struct {
			ID string `bson:"_id"`
		}
		if err := mc.All(ctx, &found); err != nil {
			return err
		}
		for _, f := range found {
			out = append(out, Held{TicketID: pending[f.ID], OrderID: f.ID})
		}
		clear(pending)
		return nil
	}
	for cur.Next(ctx) {
		var t struct {
			ID      bson.ObjectID `bson:"_id"`
			OrderID string        `bson:"orderId"`
		}
		if err := cur.Decode(&t); err != nil {
			return nil, mongodb.Classify(err)
		}
		pending[t.OrderID] = t.ID
		if len(pending) >= batch {
			if err := flush(); err != nil {
				return nil, mongodb.Classify(err)
			}
		}
	}
	if err := cur.Err(); err != nil {
		return nil, mongodb.Classify(err)
	}
	if err := flush(); err != nil {
		return nil, mongodb.Classify(err)
	}
	return out, nil
}

// migrate moves a document's legacy releasedOrders list (written before the
// markers existed) into markers, then removes the list, in that order, so
// that at every moment one of the two remembers each order. The markers are
// settled (the old handler released the ticket in the same write that
// appended the order) unless the order holds the ticket, which the sweep
// then releases. The removal is guarded by the version read, and it bumps
// nothing and publishes nothing: no field a client sees changes. It reports
// whether the list was removed; if not, another writer got there first and
// the caller reads the ticket again.
func (s *Store) migrate(ctx context.Context, l loaded) (bool, error) {
	now := time.Now().UTC()
	seen := make(map[string]bool, len(l.ReleasedOrders))
	docs := make([]any, 0, len(l.ReleasedOrders))
	for _, id := range l.ReleasedOrders {
		if seen[id] {
			continue
		}
		seen[id] = true
		docs = append(docs, Cancelled{OrderID: id, TicketID: l.ID, At: now, Settled: l.OrderID != id})
	}
	if _, err := s.cancelled.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil && !onlyDuplicates(err) {
		return false, mongodb.Classify(err)
	}
	res, err := s.coll.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: l.ID}, {Key: "version", Value: l.Version}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "releasedOrders", Value: ""}}}})
	if err != nil {
		return false, mongodb.Classify(err)
	}
	return res.MatchedCount == 1, nil
}

// onlyDuplicates reports whether an InsertMany failed only on markers that
// were already there.
func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}
