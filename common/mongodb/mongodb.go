// Package mongodb connects to a MongoDB-wire store and holds the helpers the
// stores of every service share.
package mongodb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"ticketing.dev/common/apperr"
)

// Connect returns a client for uri and the database named in the URI's
// path, or defaultDB when the path names none. It makes no round trip (the
// driver connects lazily, so a service can start before its store): call
// Ping to know the store answers. Writes wait for a majority of the replica
// set with journaling, and reads go to the primary, so an acknowledged write
// (whose event may be published at once) survives the loss of any one
// member; the URI's own w, journal and readPreference win where given.
func Connect(uri, defaultDB string) (*mongo.Client, *mongo.Database, error) {
	opts, name, err := clientOptions(uri, defaultDB)
	if err != nil {
		return nil, nil, err
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("MONGO_URI: %w", err)
	}
	return client, client.Database(name), nil
}

// clientOptions are Connect's options for uri, and the database's name.
func clientOptions(uri, defaultDB string) (*options.ClientOptions, string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, "", fmt.Errorf("MONGO_URI is not a URL: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		name = defaultDB
	}
	opts := options.Client().
		SetReadPreference(readpref.Primary()).
		ApplyURI(uri).
		SetConnectTimeout(5 * time.Second).
		SetServerSelectionTimeout(5 * time.Second).
		SetTimeout(10 * time.Second)
	// The URI's w and journal, when given, replace the whole write concern:
	// fill in only what it leaves out (no journal with w=0, which the
	// server refuses).
	wc := writeconcern.WriteConcern{}
	if opts.WriteConcern != nil {
		wc = *opts.WriteConcern
	}
	if wc.W == nil {
		wc.W = "majority"
	}
	if wc.Journal == nil && wc.W != 0 {
		journal := true
		wc.Journal = &journal
	}
	opts.SetWriteConcern(&wc)
	return opts, name, nil
}

// Ping is a readiness check.
func Ping(client *mongo.Client) func(context.Context) error {
	return func(ctx context.Context) error { return client.Ping(ctx, readpref.Primary()) }
}

// ParseID parses an ObjectId: exactly 24 hexadecimal digits, in lower or
// upper case (or mixed), with nothing around them. It is the one rule for
// ids wherever they come from: paths, bodies (httpx's `objectid` tag calls
// it) and events. The id's Hex() is lower-case, so answers and stored
// references always use the canonical form.
func ParseID(s string) (bson.ObjectID, bool) {
	id, err := bson.ObjectIDFromHex(s)
	return id, err == nil
}

// Classify turns a driver error into an apperr: an unreachable store becomes
// Unavailable (503), anything else Internal (500).
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err
	}
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, mongo.ErrClientDisconnected) || isServerSelection(err) || isTransient(err) {
		return apperr.Unavailable(err)
	}
	return apperr.Internal(err)
}

// isTransient is an error the driver labels as passing: a connection pool
// cleared after another operation's network error (the store just went
// away) carries TransientTransactionError, a write that may be retried
// RetryableWriteError.
func isTransient(err error) bool {
	var le mongo.LabeledError
	return errors.As(err, &le) && (le.HasErrorLabel("TransientTransactionError") || le.HasErrorLabel("RetryableWriteError"))
}

func isServerSelection(err error) bool {
	var sse topology.ServerSelectionError
	return errors.As(err, &sse)
}
