package store

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/session"
)

// RevocationsCollection holds one document per signed-out session, with its
// session.revoked event in its outbox until the relay has published it.
const RevocationsCollection = "revocations"

type revocation struct {
	SessionID     string    `bson:"_id"`
	UserID        string    `bson:"userId"`
	ExpiresAt     time.Time `bson:"expiresAt"`
	outbox.Fields `bson:",inline"`
}

// Revocations is the revocations collection.
type Revocations struct {
	coll *mongo.Collection
	// notify is the outbox relay's Notify.
	notify func(id any, fresh ...outbox.Event)
}

// NewRevocations returns the store over db's revocations collection.
func NewRevocations(db *mongo.Database, notify func(id any, fresh ...outbox.Event)) *Revocations {
	return &Revocations{coll: db.Collection(RevocationsCollection), notify: notify}
}

// Revoke records that the session of u was signed out, and the
// session.revoked event that tells every service, in one insert. Revoking a
// session twice is one revocation.
func (r *Revocations) Revoke(ctx context.Context, u session.User) error {
	data := events.SessionRevokedData{SessionID: u.SessionID, UserID: u.ID, ExpiresAt: time.Unix(u.ExpiresAt, 0).UTC()}
	evt, err := outbox.New(events.SessionRevoked, outbox.ID(events.SessionRevoked.Subject, u.SessionID), 1, data)
	if err != nil {
		return err
	}
	doc := revocation{SessionID: data.SessionID, UserID: data.UserID, ExpiresAt: data.ExpiresAt}
	doc.Add(ctx, evt)
	if _, err := r.coll.InsertOne(ctx, doc); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return nil // revoked already: its event was stored then
		}
		return mongodb.Classify(err)
	}
	r.notify(doc.SessionID, doc.Events()...)
	return nil
}

// Prune deletes the revocations of tokens that expired before cutoff and
// whose events are published: nothing can present those tokens any more.
func (r *Revocations) Prune(ctx context.Context, cutoff time.Time) (int, error) {
	res, err := r.coll.DeleteMany(ctx, bson.D{
		{Key: "expiresAt", Value: bson.D{{Key: "$lt", Value: cutoff}}},
		{Key: "outboxN", Value: 0},
	})
	if err != nil {
		return 0, mongodb.Classify(err)
	}
	return int(res.DeletedCount), nil
}
