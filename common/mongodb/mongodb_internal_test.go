package mongodb

import (
	"context"
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"ticketing.dev/common/apperr"
)

// Writes wait for a journaled majority and reads go to the primary unless
// the URI says otherwise.
func TestClientOptions(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		uri         string
		wantDB      string
		wantW       any
		wantJournal *bool
		wantRead    readpref.Mode
	}{
		{"mongodb://db:27017/tickets?replicaSet=rs0", "tickets", "majority", &yes, readpref.PrimaryMode},
		{"mongodb://db:27017", "fallback", "majority", &yes, readpref.PrimaryMode},
		{"mongodb://db:27017/orders?w=1", "orders", 1, &yes, readpref.PrimaryMode},
		{"mongodb://db:27017/orders?w=majority&journal=false", "orders", "majority", &no, readpref.PrimaryMode},
		{"mongodb://db:27017/orders?journal=false", "orders", "majority", &no, readpref.PrimaryMode},
		{"mongodb://db:27017/orders?w=0", "orders", 0, nil, readpref.PrimaryMode},
		{"mongodb://db:27017/orders?readPreference=primaryPreferred", "orders", "majority", &yes, readpref.PrimaryPreferredMode},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			opts, db, err := clientOptions(tt.uri, "fallback")
			if err != nil {
				t.Fatal(err)
			}
			wc := opts.WriteConcern
			journalOK := wc != nil && (wc.Journal == nil) == (tt.wantJournal == nil) &&
				(wc.Journal == nil || *wc.Journal == *tt.wantJournal)
			if db != tt.wantDB || wc == nil || wc.W != tt.wantW || !journalOK {
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

// One id rule everywhere: 24 hex digits in either case, answered lower-case.
func TestParseID(t *testing.T) {
	tests := []struct {
		in      string
		ok      bool
		wantHex string
	}{
		{"64b0000000000000000000ab", true, "64b0000000000000000000ab"},
		{"64B0000000000000000000AB", true, "64b0000000000000000000ab"},
		{"64b0000000000000000000Ab", true, "64b0000000000000000000ab"},
		{"", false, ""},
		{"64b0000000000000000000a", false, ""},   // 23
		{"64b0000000000000000000abc", false, ""}, // 25
		{"64b0000000000000000000ag", false, ""},  // not hex
		{" 64b0000000000000000000ab", false, ""}, // nothing around it
		{"64b0000000000000000000ab\n", false, ""},
		{"0x64b00000000000000000ab", false, ""},
	}
	for _, tt := range tests {
		id, ok := ParseID(tt.in)
		if ok != tt.ok || ok && id.Hex() != tt.wantHex {
			t.Errorf("ParseID(%q) = %s, %v; want %s, %v", tt.in, id.Hex(), ok, tt.wantHex, tt.ok)
		}
	}
}

// A store that is away answers 503, whatever shape the driver's error has;
// anything else is a 500.
func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want apperr.Kind
	}{
		{"deadline", context.DeadlineExceeded, apperr.KindUnavailable},
		{"client disconnected", mongo.ErrClientDisconnected, apperr.KindUnavailable},
		{"pool cleared after a network error", mongo.CommandError{Message: "connection pool for 127.0.0.1:1 was cleared",
			Labels: []string{"TransientTransactionError"}}, apperr.KindUnavailable},
		{"retryable write", mongo.CommandError{Labels: []string{"RetryableWriteError"}}, apperr.KindUnavailable},
		{"network error", mongo.CommandError{Labels: []string{"NetworkError"}}, apperr.KindUnavailable},
		{"a refused command", mongo.CommandError{Code: 2, Message: "BadValue"}, apperr.KindInternal},
		{"anything else", errors.New("boom"), apperr.KindInternal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ae *apperr.Error
			if err := Classify(tt.err); !errors.As(err, &ae) || ae.Kind != tt.want {
				t.Fatalf("Classify(%v) = %v, want kind %v", tt.err, err, tt.want)
			}
		})
	}
}
