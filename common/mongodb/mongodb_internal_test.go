package mongodb

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Writes wait for a journaled majority and reads go to the primary unless
// the URI says otherwise.
func TestClientOptions(t *testing.T) {
	tests := []struct {
		uri         string
		wantDB      string
		wantW       any
		wantJournal bool
		wantRead    readpref.Mode
	}{
		{"mongodb://db:27017/tickets?replicaSet=rs0", "tickets", "majority", true, readpref.PrimaryMode},
		{"mongodb://db:27017", "fallback", "majority", true, readpref.PrimaryMode},
		{"mongodb://db:27017/orders?w=1", "orders", 1, true, readpref.PrimaryMode},
		{"mongodb://db:27017/orders?w=majority&journal=false", "orders", "majority", false, readpref.PrimaryMode},
		{"mongodb://db:27017/orders?readPreference=primaryPreferred", "orders", "majority", true, readpref.PrimaryPreferredMode},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			opts, db, err := clientOptions(tt.uri, "fallback")
			if err != nil {
				t.Fatal(err)
			}
			wc := opts.WriteConcern
			if db != tt.wantDB || wc == nil || wc.W != tt.wantW || wc.Journal == nil || *wc.Journal != tt.wantJournal {
				t.Fatalf("db %q, write concern %+v, want %q, w=%v journal=%v", db, wc, tt.wantDB, tt.wantW, tt.wantJournal)
			}
			if got := opts.ReadPreference.Mode(); got != tt.wantRead {
				t.Fatalf("read preference %v, want %v", got, tt.wantRead)
			}
		})
	}
	if _, _, err := clientOptions("::not a url", "x"); err == nil {
		t.Fatal("a malformed URI was accepted")
	}
}
