package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/payments/internal/paytest"
	"ticketing.dev/payments/store"
	"ticketing.dev/testkit"
)

// BenchmarkPay measures one successful payment end to end: HTTP, the replica
// read, the claim, the charge at stripe-mock, and the succeeded update with
// its outbox event.
func BenchmarkPay(b *testing.B) {
	e := paytest.New(b, paytest.Options{StripeURL: testkit.StripeMockURL(b)})
	ids := make([]bson.ObjectID, b.N)
	for i := range ids {
		ids[i] = bson.NewObjectID()
		if _, err := e.Store.InsertOrder(e.Ctx, store.Order{ID: ids[i], UserID: alice, Status: events.StatusCreated,
			Price: 1999, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if r := e.Pay(alice, ids[i], "tok_visa"); r.Status != http.StatusCreated {
			b.Fatalf("pay: %d %s", r.Status, r.Body)
		}
	}
}

// BenchmarkPayRefused measures the cheapest refusal after authentication:
// an order that is already paid (two reads, no Stripe call).
func BenchmarkPayRefused(b *testing.B) {
	e := paytest.New(b, paytest.Options{StripeURL: testkit.StripeMockURL(b)})
	o := paytest.NewOrder(alice, 1999)
	if _, err := e.Store.InsertOrder(e.Ctx, store.Order{ID: o.ID, UserID: alice, Status: events.StatusCreated,
		Price: o.Price, ExpiresAt: o.ExpiresAt}); err != nil {
		b.Fatal(err)
	}
	if r := e.Pay(alice, o.ID, "tok_visa"); r.Status != http.StatusCreated {
		b.Fatalf("pay: %d %s", r.Status, r.Body)
	}
	b.ResetTimer()
	for range b.N {
		if r := e.Pay(alice, o.ID, "tok_visa"); r.Status != http.StatusBadRequest {
			b.Fatalf("pay: %d %s", r.Status, r.Body)
		}
	}
}
