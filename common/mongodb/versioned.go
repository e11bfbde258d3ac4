package mongodb

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Every document that changes carries a version, bumped by exactly one per
// change. Two helpers write versions, one for each side of an event:
//
//   - the owner (tickets of its tickets, orders of its orders) changes a
//     document it loaded, writing version+1 on condition that the stored
//     version is still the one it read, and starts again when another
//     writer got there first: Retry;
//   - a replica (orders' tickets, payments' orders) applies the version an
//     event carries, only when it is the next one: ApplyNext.

// Outcome is what ApplyNext did with a version.
type Outcome int

const (
	Applied Outcome = iota // it was the next version and is stored
	Stale                  // the document holds this version or a newer one
	Gap                    // versions between the stored one and this are missing
	Missing                // there is no such document (yet)
)

func (o Outcome) String() string {
	return [...]string{"applied", "stale", "gap", "missing"}[o]
}

// ApplyNext sets fields (and version) on the document id if it is at
// version-1, and reports what it found otherwise, with the stored version.
func ApplyNext(ctx context.Context, coll *mongo.Collection, id any, version int64, fields bson.D) (Outcome, int64, error) {
	set := append(fields[:len(fields):len(fields)], bson.E{Key: "version", Value: version})
	for {
		res, err := coll.UpdateOne(ctx,
			bson.D{{Key: "_id", Value: id}, {Key: "version", Value: version - 1}},
			bson.D{{Key: "$set", Value: set}})
		if err != nil {
			return 0, 0, Classify(err)
		}
		if res.MatchedCount == 1 {
			return Applied, version, nil
		}
		var stored struct {
			Version int64 `bson:"version"`
		}
		err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&stored)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			return Missing, 0, nil
		case err != nil:
			return 0, 0, Classify(err)
		case stored.Version >= version:
			return Stale, stored.Version, nil
		case stored.Version < version-1:
			return Gap, stored.Version, nil
		}
		// The previous version arrived between the update and the read.
	}
}

// ErrBusy is Retry's answer when every attempt lost to another writer.
var ErrBusy = errors.New("the document kept changing under the update")

// Retry runs attempt until it reports done (its conditional write matched)
// or fails, at most attempts times, backing off a little with jitter between
// tries so that contending writers spread out. It returns ErrBusy when every
// try lost a race.
func Retry(ctx context.Context, attempts int, attempt func() (done bool, err error)) error {
	for i := 1; ; i++ {
		done, err := attempt()
		if err != nil || done {
			return err
		}
		if i == attempts {
			return ErrBusy
		}
		select {
		case <-ctx.Done():
			return Classify(ctx.Err())
		case <-time.After(time.Duration(rand.IntN(i*2)+1) * time.Millisecond):
		}
	}
}
