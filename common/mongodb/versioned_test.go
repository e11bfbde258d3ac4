package mongodb_test

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/mongodb"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
)

func TestMain(m *testing.M) { mongokit.Main(m) }

func TestApplyNext(t *testing.T) {
	tests := []struct {
		name        string
		stored      int64 // -1: no document
		version     int64
		want        mongodb.Outcome
		wantVersion int64 // stored afterwards
	}{
		{"the next version is applied", 3, 4, mongodb.Applied, 4},
		{"the same version is stale", 3, 3, mongodb.Stale, 3},
		{"an older version is stale", 3, 1, mongodb.Stale, 3},
		{"a later version waits for the gap", 3, 6, mongodb.Gap, 3},
		{"an unknown document is missing", -1, 1, mongodb.Missing, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testkit.Context(t)
			coll := mongokit.Mongo(t).Collection("docs")
			id := bson.NewObjectID()
			if tt.stored >= 0 {
				if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: tt.stored}, {Key: "title", Value: "old"}}); err != nil {
					t.Fatal(err)
				}
			}
			got, _, err := mongodb.ApplyNext(ctx, coll, id, tt.version, bson.D{{Key: "title", Value: "new"}})
			if err != nil || got != tt.want {
				t.Fatalf("ApplyNext = %v, %v; want %v", got, err, tt.want)
			}
			if tt.stored < 0 {
				return
			}
			var doc struct {
				Version int64  `bson:"version"`
				Title   string `bson:"title"`
			}
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			if doc.Version != tt.wantVersion || (doc.Title == "new") != (got == mongodb.Applied) {
				t.Fatalf("stored %+v after %v", doc, got)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	failing := errors.New("store down")
	tests := []struct {
		name      string
		doneAfter int   // the attempt that succeeds (0: none)
		err       error // what every attempt returns
		want      error
		wantCalls int
	}{
		{"first try wins", 1, nil, nil, 1},
		{"lost races are tried again", 3, nil, nil, 3},
		{"always losing is busy", 0, nil, mongodb.ErrBusy, 5},
		{"an error ends at once", 0, failing, failing, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := mongodb.Retry(testkit.Context(t), 5, func() (bool, error) {
				calls++
				return calls == tt.doneAfter, tt.err
			})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) || calls != tt.wantCalls {
				t.Fatalf("Retry = %v after %d calls; want %v after %d", err, calls, tt.want, tt.wantCalls)
			}
		})
	}
}

// The store takes the services' write concern (a journaled majority).
func TestConnectWritesWithMajority(t *testing.T) {
	client, db, err := mongodb.Connect(mongokit.MongoURI(t), testkit.RandomName("wc_"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testkit.Context(t)
	defer func() { _ = db.Drop(ctx); _ = client.Disconnect(ctx) }()
	if err := mongodb.Ping(client)(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatalf("insert with w=majority, j=true: %v", err)
	}
}
