package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/orders/internal/testenv"
	"ticketing.dev/orders/order"
	"ticketing.dev/orders/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
)

const (
	alice = "aaaaaaaaaaaaaaaaaaaaaaaa"
	bob   = "bbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func cookieOf(t *testing.T, user string) *http.Cookie {
	return testkit.SessionCookie(t, user, user+"@test.dev")
}

// cookies is the request's cookie, none for nil (anonymous).
func cookies(c *http.Cookie) []*http.Cookie {
	if c == nil {
		return nil
	}
	return []*http.Cookie{c}
}

func TestCreateOrder(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{Window: 10 * time.Minute})
	rec := natskit.Record(t, e.NATS.JS, events.OrderCreated)
	tk := e.Ticket(t, "concert", 1999)

	before := time.Now().UTC().Truncate(time.Millisecond)
	res := testkit.Call(t, e.API, http.MethodPost, "/api/orders", map[string]string{"ticketId": tk.ID.Hex()}, cookieOf(t, alice))
	after := time.Now().UTC()
	if res.Status != http.StatusCreated {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	var raw map[string]any
	res.Decode(t, &raw)
	if _, ok := raw["_id"]; ok {
		t.Fatalf("body exposes _id: %s", res.Body)
	}
	var o testenv.Order
	res.Decode(t, &o)
	if o.UserID != alice || o.Status != "created" || o.Version != 0 || len(o.ID) != 24 {
		t.Fatalf("order = %+v", o)
	}
	if o.Ticket.ID != tk.ID.Hex() || o.Ticket.Title != "concert" || o.Ticket.Price != 1999 || o.Ticket.Version != 0 {
		t.Fatalf("nested ticket = %+v", o.Ticket)
	}
	if !strings.Contains(string(res.Body), `"price":19.99`) {
		t.Fatalf("price not in currency units: %s", res.Body)
	}
	exp, err := time.Parse("2006-01-02T15:04:05.000Z", o.ExpiresAt)
	if err != nil {
		t.Fatalf("expiresAt %q is not ISO-8601 UTC with milliseconds: %v", o.ExpiresAt, err)
	}
	if exp.Before(before.Add(10*time.Minute)) || exp.After(after.Add(10*time.Minute)) {
		t.Fatalf("expiresAt %s is not now + 10m", o.ExpiresAt)
	}

	got := rec.WaitFor(t, 1, 5*time.Second)
	m := got[0]
	if m.ID != "order-created-"+o.ID+"-0" {
		t.Fatalf("event id %q", m.ID)
	}
	want := events.OrderCreatedData{ID: o.ID, Version: 0, Status: "created", UserID: alice, ExpiresAt: exp,
		Ticket: events.OrderTicket{ID: tk.ID.Hex(), Price: 1999}}
	if !m.Data.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("event expiresAt %s, want %s", m.Data.ExpiresAt, want.ExpiresAt)
	}
	m.Data.ExpiresAt = want.ExpiresAt
	if m.Data != want {
		t.Fatalf("order.created = %+v, want %+v", m.Data, want)
	}
}

func TestCreateOrderErrors(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	reserved := e.Ticket(t, "reserved", 500)
	e.CreateOrder(t, reserved.ID, cookieOf(t, bob))

	const mustProvide = "TicketId must be provided"
	tests := []struct {
		name    string
		body    any
		cookie  *http.Cookie
		status  int
		message string
		field   string
	}{
		{"anonymous", map[string]string{"ticketId": reserved.ID.Hex()}, nil, 401, "Not authorized", ""},
		{"empty body", nil, cookieOf(t, alice), 400, mustProvide, "ticketId"},
		{"missing ticketId", map[string]string{}, cookieOf(t, alice), 400, mustProvide, "ticketId"},
		{"blank ticketId", map[string]string{"ticketId": ""}, cookieOf(t, alice), 400, mustProvide, "ticketId"},
		{"ticketId not an ObjectId", map[string]string{"ticketId": "abc"}, cookieOf(t, alice), 400, mustProvide, "ticketId"},
		{"ticketId a number", `{"ticketId": 12}`, cookieOf(t, alice), 400, mustProvide, "ticketId"},
		{"ticketId of 23 digits", map[string]string{"ticketId": reserved.ID.Hex()[1:]}, cookieOf(t, alice), 400, mustProvide, "ticketId"},
		{"ticketId with spaces around it", map[string]string{"ticketId": " " + reserved.ID.Hex() + " "}, cookieOf(t, alice), 400, mustProvide, "ticketId"},
		{"ticketId in upper case names the ticket", map[string]string{"ticketId": strings.ToUpper(reserved.ID.Hex())}, cookieOf(t, alice), 400, "Ticket is already reserved", ""},
		{"malformed JSON", `{"ticketId":`, cookieOf(t, alice), 400, "Invalid JSON body", ""},
		{"ticket unknown", map[string]string{"ticketId": bson.NewObjectID().Hex()}, cookieOf(t, alice), 404, "Ticket not found", ""},
		{"ticket reserved", map[string]string{"ticketId": reserved.ID.Hex()}, cookieOf(t, alice), 400, "Ticket is already reserved", ""},
		{"ticket reserved by the caller", map[string]string{"ticketId": reserved.ID.Hex()}, cookieOf(t, bob), 400, "Ticket is already reserved", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testkit.Call(t, e.API, http.MethodPost, "/api/orders", tt.body, cookies(tt.cookie)...).
				WantErrors(t, tt.status, apperr.FieldError{Field: tt.field, Message: tt.message})
		})
	}
}

// Orders answers from its replica: a ticket whose ticket.created has not
// been handled yet is unknown, and becomes orderable once it is.
func TestOrderNeedsTheReplica(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	ctx := testkit.Context(t)
	id := bson.NewObjectID()
	body := map[string]string{"ticketId": id.Hex()}

	testkit.Call(t, e.API, http.MethodPost, "/api/orders", body, cookieOf(t, alice)).WantErrors(t, 404, testkit.Msg("Ticket not found"))

	if err := events.Publish(ctx, e.Pub, events.TicketCreated, outbox.ID("ticket.created", id.Hex(), 0),
		events.TicketCreatedData{ID: id.Hex(), Version: 0, Title: "opera", Price: 4550, UserID: bob}); err != nil {
		t.Fatal(err)
	}
	var res testkit.Response
	testkit.Eventually(t, 5*time.Second, func() bool {
		res = testkit.Call(t, e.API, http.MethodPost, "/api/orders", body, cookieOf(t, alice))
		return res.Status != http.StatusNotFound
	}, "ticket never reached the replica")
	if res.Status != http.StatusCreated {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	var o testenv.Order
	res.Decode(t, &o)
	if o.Ticket.Title != "opera" || o.Ticket.Price != 4550 {
		t.Fatalf("nested ticket = %+v", o.Ticket)
	}
}

func TestListOrders(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	var want []string
	for i := range 3 {
		o := e.CreateOrder(t, e.Ticket(t, "t", 100).ID, cookieOf(t, alice))
		want = append(want, o.ID)
		if i == 1 {
			e.CreateOrder(t, e.Ticket(t, "t", 100).ID, cookieOf(t, bob))
		}
	}
	// A cancelled order is still listed.
	if res := testkit.Call(t, e.API, http.MethodDelete, "/api/orders/"+want[0], nil, cookieOf(t, alice)); res.Status != 204 {
		t.Fatalf("cancel: %d %s", res.Status, res.Body)
	}

	res := testkit.Call(t, e.API, http.MethodGet, "/api/orders", nil, cookieOf(t, alice))
	if res.Status != http.StatusOK {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	var got []testenv.Order
	res.Decode(t, &got)
	if len(got) != len(want) {
		t.Fatalf("got %d orders, want %d: %s", len(got), len(want), res.Body)
	}
	for i := range got {
		if got[i].ID != want[i] || got[i].UserID != alice {
			t.Fatalf("order %d = %+v, want id %s (oldest first, only the caller's)", i, got[i], want[i])
		}
	}
	if got[0].Status != "cancelled" {
		t.Fatalf("first order status %q", got[0].Status)
	}

	res = testkit.Call(t, e.API, http.MethodGet, "/api/orders", nil, cookieOf(t, "cccccccccccccccccccccccc"))
	if res.Status != http.StatusOK || strings.TrimSpace(string(res.Body)) != "[]" {
		t.Fatalf("no orders: %d %s, want 200 []", res.Status, res.Body)
	}
	testkit.Call(t, e.API, http.MethodGet, "/api/orders", nil).WantErrors(t, 401, testkit.Msg("Not authorized"))
}

func TestShowOrder(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	o := e.CreateOrder(t, e.Ticket(t, "show", 2500).ID, cookieOf(t, alice))

	errorCases := []struct {
		name    string
		id      string
		cookie  *http.Cookie
		status  int
		message string
	}{
		{"anonymous", o.ID, nil, 401, "Not authorized"},
		{"malformed id", "not-an-id", cookieOf(t, alice), 400, "Order id must be a valid id"},
		{"unknown order", bson.NewObjectID().Hex(), cookieOf(t, alice), 404, "Order not found"},
		{"not the owner", o.ID, cookieOf(t, bob), 401, "Not authorized"},
		{"id of 25 digits", o.ID + "0", cookieOf(t, alice), 400, "Order id must be a valid id"},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			testkit.Call(t, e.API, http.MethodGet, "/api/orders/"+tt.id, nil, cookies(tt.cookie)...).WantErrors(t, tt.status, testkit.Msg(tt.message))
		})
	}
	// The one id rule (mongodb.ParseID): either case is the same order,
	// answered with its id in lower case.
	for _, id := range []string{o.ID, strings.ToUpper(o.ID)} {
		t.Run("owner, id "+id, func(t *testing.T) {
			res := testkit.Call(t, e.API, http.MethodGet, "/api/orders/"+id, nil, cookieOf(t, alice))
			if res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			var got testenv.Order
			res.Decode(t, &got)
			if got != o {
				t.Fatalf("got %+v, want %+v", got, o)
			}
		})
	}
	t.Run("createdAt", func(t *testing.T) {
		created, err1 := time.Parse(time.RFC3339Nano, o.CreatedAt)
		expires, err2 := time.Parse(time.RFC3339Nano, o.ExpiresAt)
		// 15 minutes: testenv's default window.
		if err1 != nil || err2 != nil || expires.Sub(created) != 15*time.Minute || o.CancelReason != "" {
			t.Fatalf("createdAt %q, expiresAt %q, cancelReason %q: want createdAt + the window = expiresAt, no reason", o.CreatedAt, o.ExpiresAt, o.CancelReason)
		}
	})
}

func TestCancelOrder(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	ctx := testkit.Context(t)
	rec := natskit.Record(t, e.NATS.JS, events.OrderCancelled)

	for _, method := range []string{http.MethodDelete, http.MethodPatch} {
		t.Run(method, func(t *testing.T) {
			tk := e.Ticket(t, "cancel", 700)
			o := e.CreateOrder(t, tk.ID, cookieOf(t, alice))
			path := "/api/orders/" + o.ID

			errorCases := []struct {
				name    string
				path    string
				cookie  *http.Cookie
				status  int
				message string
			}{
				{"anonymous", path, nil, 401, "Not authorized"},
				{"malformed id", "/api/orders/123", cookieOf(t, alice), 400, "Order id must be a valid id"},
				{"unknown order", "/api/orders/" + bson.NewObjectID().Hex(), cookieOf(t, alice), 404, "Order not found"},
				{"not the owner", path, cookieOf(t, bob), 401, "Not authorized"},
			}
			for _, tt := range errorCases {
				testkit.Call(t, e.API, method, tt.path, nil, cookies(tt.cookie)...).WantErrors(t, tt.status, testkit.Msg(tt.message))
			}

			for range 2 { // the second cancel is a no-op
				res := testkit.Call(t, e.API, method, path, nil, cookieOf(t, alice))
				if res.Status != http.StatusNoContent || len(res.Body) != 0 {
					t.Fatalf("cancel: %d %q, want 204 and no body", res.Status, res.Body)
				}
			}
			got, err := e.Orders.Get(ctx, mustID(t, o.ID))
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != events.StatusCancelled || got.Version != 1 {
				t.Fatalf("after cancel: status %q version %d", got.Status, got.Version)
			}
			var shown testenv.Order
			testkit.Call(t, e.API, http.MethodGet, path, nil, cookieOf(t, alice)).Want(t, http.StatusOK).Decode(t, &shown)
			if shown.Status != events.StatusCancelled || shown.CancelReason != order.ByBuyer {
				t.Fatalf("shown after cancel: status %q cancelReason %q, want cancelled by %q", shown.Status, shown.CancelReason, order.ByBuyer)
			}
			// The ticket is free again.
			e.CreateOrder(t, tk.ID, cookieOf(t, bob))

			evts := cancelledFor(rec.Settled(t, e.Outbox()), o.ID)
			want := events.OrderCancelledData{ID: o.ID, Version: 1, Ticket: events.TicketRef{ID: tk.ID.Hex()}}
			if len(evts) != 1 || evts[0].Data != want || evts[0].ID != "order-cancelled-"+o.ID+"-1" {
				t.Fatalf("order.cancelled events = %+v, want exactly one %+v", evts, want)
			}
		})
	}

	t.Run("complete order", func(t *testing.T) {
		o := e.CreateOrder(t, e.Ticket(t, "paid", 700).ID, cookieOf(t, alice))
		if _, err := e.Orders.Update(ctx, mustID(t, o.ID), func(o *order.Order) (*outbox.Event, error) {
			return o.Complete()
		}); err != nil {
			t.Fatal(err)
		}
		testkit.Call(t, e.API, http.MethodDelete, "/api/orders/"+o.ID, nil, cookieOf(t, alice)).
			WantErrors(t, 400, testkit.Msg("Cannot cancel a completed order"))
		got, err := e.Orders.Get(ctx, mustID(t, o.ID))
		if err != nil || got.Status != events.StatusComplete || got.Version != 1 {
			t.Fatalf("after refused cancel: %+v %v", got, err)
		}
		if n := len(cancelledFor(rec.Settled(t, e.Outbox()), o.ID)); n != 0 {
			t.Fatalf("%d order.cancelled published for a complete order", n)
		}
	})
}

func cancelledFor(all []events.Msg[events.OrderCancelledData], id string) []events.Msg[events.OrderCancelledData] {
	var out []events.Msg[events.OrderCancelledData]
	for _, m := range all {
		if m.Data.ID == id {
			out = append(out, m)
		}
	}
	return out
}

func mustID(t *testing.T, hex string) bson.ObjectID {
	t.Helper()
	id, err := bson.ObjectIDFromHex(hex)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Of any number of concurrent orders for one ticket exactly one succeeds;
// the others are told the ticket is reserved, never an internal error.
func TestConcurrentOrdersReserveOnce(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	created := natskit.Record(t, e.NATS.JS, events.OrderCreated)
	tk := e.Ticket(t, "race", 1000)
	const n = 50

	var wg sync.WaitGroup
	results := make([]testkit.Response, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			user := bson.NewObjectID().Hex()
			<-start
			results[i] = testkit.Call(t, e.API, http.MethodPost, "/api/orders", map[string]string{"ticketId": tk.ID.Hex()}, cookieOf(t, user))
		})
	}
	close(start)
	wg.Wait()

	var winner testenv.Order
	wins := 0
	for _, res := range results {
		switch res.Status {
		case http.StatusCreated:
			wins++
			res.Decode(t, &winner)
		case http.StatusBadRequest:
			res.WantErrors(t, http.StatusBadRequest, testkit.Msg("Ticket is already reserved"))
		default:
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
	}
	if wins != 1 {
		t.Fatalf("%d orders created, want exactly 1", wins)
	}
	created.WaitFor(t, 1, 5*time.Second)

	cancel := testkit.Call(t, e.API, http.MethodDelete, "/api/orders/"+winner.ID, nil, cookieOf(t, winner.UserID))
	if cancel.Status != http.StatusNoContent {
		t.Fatalf("cancel: %d %s", cancel.Status, cancel.Body)
	}
	again := e.CreateOrder(t, tk.ID, cookieOf(t, alice))
	if again.ID == winner.ID {
		t.Fatal("the old order came back")
	}
}

// A store that cannot be reached is a 503, not a 500.
func TestStoreUnreachable(t *testing.T) {
	t.Parallel()
	db, err := mongokit.StartFerretDB(context.Background(), mongokit.FerretDBConfig{SQLiteDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	stop := db.Stop
	client, err := mongo.Connect(options.Client().ApplyURI(db.URI("")).
		SetServerSelectionTimeout(300 * time.Millisecond).SetConnectTimeout(300 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	e := testenv.Start(t, testenv.Options{DB: client.Database("orders")})
	tk := e.Ticket(t, "down", 100)
	o := e.CreateOrder(t, tk.ID, cookieOf(t, alice))
	stop()

	requests := []struct{ method, path string }{
		{http.MethodPost, "/api/orders"},
		{http.MethodGet, "/api/orders"},
		{http.MethodGet, "/api/orders/" + o.ID},
		{http.MethodDelete, "/api/orders/" + o.ID},
	}
	for _, r := range requests {
		res := testkit.Call(t, e.API, r.method, r.path, map[string]string{"ticketId": tk.ID.Hex()}, cookieOf(t, alice))
		if res.Status != http.StatusServiceUnavailable {
			t.Fatalf("%s %s: %d %s, want 503", r.method, r.path, res.Status, res.Body)
		}
		var body map[string]any
		if err := json.Unmarshal(res.Body, &body); err != nil || body["errors"] == nil {
			t.Fatalf("%s %s: body %s is not the envelope", r.method, r.path, res.Body)
		}
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	testkit.Call(t, e.API, http.MethodGet, "/api/nothing", nil, cookieOf(t, alice)).WantErrors(t, 404, testkit.Msg("Not Found"))
	testkit.Call(t, e.API, http.MethodPut, "/api/orders/"+bson.NewObjectID().Hex(), nil, cookieOf(t, alice)).
		WantErrors(t, 405, testkit.Msg("Method Not Allowed"))
	if res := testkit.Call(t, e.API, http.MethodGet, "/healthz", nil); res.Status != http.StatusOK {
		t.Fatalf("healthz: %d", res.Status)
	}
}

// One id rule for bodies and paths (mongodb.ParseID): a ticket id in upper
// case orders that ticket, an order id in upper case cancels that order,
// and answers carry the ids in lower case.
func TestIDsInEitherCase(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	tk := e.Ticket(t, "case", 300)
	upper := strings.ToUpper(tk.ID.Hex())
	var o testenv.Order
	testkit.Call(t, e.API, http.MethodPost, "/api/orders", map[string]string{"ticketId": upper}, cookieOf(t, alice)).
		Want(t, http.StatusCreated).Decode(t, &o)
	if o.Ticket.ID != tk.ID.Hex() {
		t.Fatalf("ticket id %q, want %q", o.Ticket.ID, tk.ID.Hex())
	}
	if res := testkit.Call(t, e.API, http.MethodDelete, "/api/orders/"+strings.ToUpper(o.ID), nil, cookieOf(t, alice)); res.Status != http.StatusNoContent {
		t.Fatalf("cancel by the upper-case id: %d %s", res.Status, res.Body)
	}
	got, err := e.Orders.Get(testkit.Context(t), mustID(t, o.ID))
	if err != nil || got.Status != events.StatusCancelled {
		t.Fatalf("after cancel: %+v %v", got, err)
	}
}

// A user holds at most ActiveLimit active orders (created or awaiting
// payment, expiresAt ahead); cancelled, complete and expired ones do not
// count, and other users are not concerned.
func TestActiveOrderLimit(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Now())
	e := testenv.Start(t, testenv.Options{ActiveLimit: 2, Window: time.Minute, Now: clock.Now})
	ctx := testkit.Context(t)
	const tooMany = "You have too many active orders (at most 2 at a time): pay for or cancel one first"
	place := func(user string, tk store.Ticket) testkit.Response {
		return testkit.Call(t, e.API, http.MethodPost, "/api/orders", map[string]string{"ticketId": tk.ID.Hex()}, cookieOf(t, user))
	}
	first := e.CreateOrder(t, e.Ticket(t, "one", 100).ID, cookieOf(t, alice))
	second := e.CreateOrder(t, e.Ticket(t, "two", 100).ID, cookieOf(t, alice))

	third := e.Ticket(t, "three", 100)
	place(alice, third).WantErrors(t, http.StatusBadRequest, testkit.Msg(tooMany))
	// Validation and an unknown ticket are answered first (400 → 404 → business rule).
	testkit.Call(t, e.API, http.MethodPost, "/api/orders", map[string]string{"ticketId": "x"}, cookieOf(t, alice)).
		WantErrors(t, http.StatusBadRequest, testkit.FieldMsg("ticketId", "TicketId must be provided"))
	place(alice, store.Ticket{ID: bson.NewObjectID()}).WantErrors(t, http.StatusNotFound, testkit.Msg("Ticket not found"))
	// The refused order reserved nothing: another user may order the ticket.
	place(bob, third).Want(t, http.StatusCreated)

	// A cancelled order frees a place.
	testkit.Call(t, e.API, http.MethodDelete, "/api/orders/"+first.ID, nil, cookieOf(t, alice)).Want(t, http.StatusNoContent)
	place(alice, e.Ticket(t, "four", 100)).Want(t, http.StatusCreated)
	place(alice, e.Ticket(t, "five", 100)).WantErrors(t, http.StatusBadRequest, testkit.Msg(tooMany))

	// So does a paid one (awaiting:payment would still count: it is not paid yet).
	if _, err := e.Orders.Update(ctx, mustID(t, second.ID), func(o *order.Order) (*outbox.Event, error) { return o.Complete() }); err != nil {
		t.Fatal(err)
	}
	place(alice, e.Ticket(t, "six", 100)).Want(t, http.StatusCreated)
	place(alice, e.Ticket(t, "seven", 100)).WantErrors(t, http.StatusBadRequest, testkit.Msg(tooMany))

	// And orders past their expiresAt, even before the expiration cancels them.
	clock.Advance(time.Minute + time.Second)
	place(alice, e.Ticket(t, "eight", 100)).Want(t, http.StatusCreated)
	place(alice, e.Ticket(t, "nine", 100)).Want(t, http.StatusCreated)
	place(alice, e.Ticket(t, "ten", 100)).WantErrors(t, http.StatusBadRequest, testkit.Msg(tooMany))
}
