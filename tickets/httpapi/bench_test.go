package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/money"
	"ticketing.dev/testkit"
	"ticketing.dev/tickets/store"
)

// BenchmarkCreate measures POST /api/tickets end to end: validation, the
// insert with its event, and the relay publishing in the background.
func BenchmarkCreate(b *testing.B) {
	a := newAPI(b)
	for b.Loop() {
		if res := testkit.Call(b, a.h, http.MethodPost, "/api/tickets", `{"title":"concert","price":"19.99"}`, as(b, alice)...); res.Status != http.StatusCreated {
			b.Fatalf("%d %s", res.Status, res.Body)
		}
	}
}

// BenchmarkList measures GET /api/tickets (the first page of 100) with
// 10,000 tickets stored, one in ten of them reserved. Seeded in bulk. The
// relay's sweep, a scan of the collection on FerretDB, is kept out of it.
func BenchmarkList(b *testing.B) {
	const total, batch = 10_000, 1_000
	a := newAPIWithSweep(b, time.Hour)
	coll := a.DB.Collection(store.Collection)
	seeding := time.Now()
	for start := 0; start < total; start += batch {
		docs := make([]store.Ticket, batch)
		for i := range docs {
			n := start + i
			docs[i] = store.Ticket{ID: bson.NewObjectID(), Title: fmt.Sprintf("ticket %d", n),
				Price: money.Cents(100 + n), UserID: alice}
			if n%10 == 9 {
				docs[i].OrderID = bson.NewObjectID().Hex()
			}
		}
		if _, err := coll.InsertMany(context.Background(), docs); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d tickets in %s", total, time.Since(seeding).Round(time.Millisecond))
	b.ResetTimer()
	for b.Loop() {
		res := testkit.Call(b, a.h, http.MethodGet, "/api/tickets", nil)
		if res.Status != http.StatusOK || res.Header.Get("Link") == "" {
			b.Fatalf("%d %s", res.Status, res.Header)
		}
	}
}
