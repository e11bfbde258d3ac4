package httpapi_test

import (
	"net/http"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/orders/internal/testenv"
	"ticketing.dev/testkit"
)

// BenchmarkCreateOrder measures POST /api/orders through the real router:
// session check, validation, replica lookup, the insert that reserves the
// ticket (with its outbox event) and the response; the relay publishes the
// events to JetStream meanwhile. Each order is for a ticket of its own.
func BenchmarkCreateOrder(b *testing.B) {
	for _, bc := range []struct {
		name     string
		parallel bool
	}{{"serial", false}, {"parallel", true}} {
		b.Run(bc.name, func(b *testing.B) {
			e := testenv.Start(b, testenv.Options{})
			cookie := testkit.SessionCookie(b, alice, "alice@test.dev")
			tickets := make([]bson.ObjectID, b.N)
			for i := range tickets {
				tickets[i] = e.Ticket(b, "bench", 1000).ID
			}
			var next atomic.Int64
			order := func() {
				id := tickets[next.Add(1)-1]
				res := testkit.Call(b, e.API, http.MethodPost, "/api/orders", map[string]string{"ticketId": id.Hex()}, cookie)
				if res.Status != http.StatusCreated {
					b.Fatalf("status %d: %s", res.Status, res.Body)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			if bc.parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						order()
					}
				})
				return
			}
			for range b.N {
				order()
			}
		})
	}
}
