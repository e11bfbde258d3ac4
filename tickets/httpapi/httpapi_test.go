package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/server"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
	"ticketing.dev/tickets/httpapi"
	"ticketing.dev/tickets/internal/testenv"
	"ticketing.dev/tickets/store"
)

const (
	alice = "5f0000000000000000000a11"
	bob   = "5f0000000000000000000b0b"
)

type ticket struct {
	ID      string      `json:"id"`
	Title   string      `json:"title"`
	Price   money.Cents `json:"price"`
	UserID  string      `json:"userId"`
	Version int64       `json:"version"`
	OrderID string      `json:"orderId"`
}

type api struct {
	*testenv.Env
	h http.Handler
}

func newAPI(t testing.TB) *api { return newAPIWithSweep(t, 100*time.Millisecond) }

func newAPIWithSweep(t testing.TB, sweep time.Duration) *api {
	env := testenv.Start(t, sweep)
	h := httpapi.New(httpapi.Deps{
		Log:   env.Log,
		Keys:  testkit.Keys(),
		Store: env.Store,
		Checks: map[string]server.Check{
			"nats": events.Ready(env.NATS.Conn),
		},
	})
	return &api{Env: env, h: h}
}

// as is the session cookie of user, none for "" (anonymous).
func as(t testing.TB, user string) []*http.Cookie {
	t.Helper()
	if user == "" {
		return nil
	}
	return []*http.Cookie{testkit.SessionCookie(t, user, user+"@test.dev")}
}

// create makes a ticket through the API.
func (a *api) create(t testing.TB, user, title string, price string) ticket {
	t.Helper()
	res := testkit.Call(t, a.h, http.MethodPost, "/api/tickets", `{"title":`+quote(title)+`,"price":`+price+`}`, as(t, user)...)
	return decode[ticket](t, res.Want(t, http.StatusCreated))
}

// reserve marks a ticket as reserved, as the order.created listener would.
func (a *api) reserve(t testing.TB, id, orderID string) {
	t.Helper()
	oid, _ := mongodb.ParseID(id)
	if _, err := a.Store.Update(context.Background(), oid, func(tk *store.Ticket) (bool, error) {
		tk.OrderID = orderID
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func decode[T any](t testing.TB, res testkit.Response) T {
	t.Helper()
	var v T
	res.Decode(t, &v)
	return v
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func errs(fields ...string) []apperr.FieldError {
	out := make([]apperr.FieldError, 0, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		out = append(out, apperr.FieldError{Field: fields[i], Message: fields[i+1]})
	}
	return out
}

func notAuthorized() []apperr.FieldError { return []apperr.FieldError{{Message: "Not authorized"}} }

const (
	priceCreate = "Price must be greater than 0"
	priceEdit   = "Price must be provided and must be greater than 0"
	tooPrecise  = "Price must have at most two decimal places"
	tooHigh     = "Price must be at most 999999.99"
	tooLow      = "Price must be at least 0.50"
	titleCtl    = "Title must not contain control or text-direction characters"
	titleNeeded = "Title is required"
	titleLong   = "Title must be at most 200 characters"
)

func TestCreate(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	long := strings.Repeat("é", 201)
	tests := []struct {
		name      string
		user      string
		body      string
		status    int
		errors    []apperr.FieldError // for failures
		wantTitle string              // for successes
		wantPrice money.Cents
	}{
		// failures, in the order the contract checks them
		{name: "not signed in", body: `{"title":"a","price":10}`, status: 401, errors: notAuthorized()},
		{name: "not signed in, invalid body", body: `{"price":-1}`, status: 401, errors: notAuthorized()},
		{name: "malformed JSON", user: alice, body: `{"title":`, status: 400, errors: []apperr.FieldError{{Message: "Invalid JSON body"}}},
		{name: "empty body names every field", user: alice, body: ``, status: 400,
			errors: errs("title", titleNeeded, "price", priceCreate)},
		{name: "blank title", user: alice, body: `{"title":"   ","price":10}`, status: 400, errors: errs("title", titleNeeded)},
		{name: "empty title", user: alice, body: `{"title":"","price":10}`, status: 400, errors: errs("title", titleNeeded)},
		{name: "null title", user: alice, body: `{"title":null,"price":10}`, status: 400, errors: errs("title", titleNeeded)},
		{name: "title not a string", user: alice, body: `{"title":5,"price":10}`, status: 400, errors: errs("title", "Title must be a string")},
		{name: "201-character title", user: alice, body: `{"title":"` + long + `","price":10}`, status: 400, errors: errs("title", titleLong)},
		{name: "missing price", user: alice, body: `{"title":"a"}`, status: 400, errors: errs("price", priceCreate)},
		{name: "zero price", user: alice, body: `{"title":"a","price":0}`, status: 400, errors: errs("price", priceCreate)},
		{name: "negative price", user: alice, body: `{"title":"a","price":-10}`, status: 400, errors: errs("price", priceCreate)},
		{name: "huge negative price", user: alice, body: `{"title":"a","price":-1e30}`, status: 400, errors: errs("price", priceCreate)},
		{name: "non-numeric price", user: alice, body: `{"title":"a","price":"ten"}`, status: 400, errors: errs("price", priceCreate)},
		{name: "empty string price", user: alice, body: `{"title":"a","price":""}`, status: 400, errors: errs("price", priceCreate)},
		{name: "boolean price", user: alice, body: `{"title":"a","price":true}`, status: 400, errors: errs("price", priceCreate)},
		{name: "null price", user: alice, body: `{"title":"a","price":null}`, status: 400, errors: errs("price", priceCreate)},
		{name: "three-decimal price", user: alice, body: `{"title":"a","price":10.999}`, status: 400, errors: errs("price", tooPrecise)},
		{name: "three-decimal string price", user: alice, body: `{"title":"a","price":"0.001"}`, status: 400, errors: errs("price", tooPrecise)},
		{name: "over-limit price", user: alice, body: `{"title":"a","price":1000000.01}`, status: 400, errors: errs("price", tooHigh)},
		{name: "far over-limit price", user: alice, body: `{"title":"a","price":1e30}`, status: 400, errors: errs("price", tooHigh)},
		{name: "every failing field", user: alice, body: `{"title":" ","price":-1}`, status: 400,
			errors: errs("title", titleNeeded, "price", priceCreate)},

		// successes
		{name: "number price", user: alice, body: `{"title":"concert","price":19.99}`, status: 201, wantTitle: "concert", wantPrice: 1999},
		{name: "numeric string price", user: alice, body: `{"title":"concert","price":"20.5"}`, status: 201, wantTitle: "concert", wantPrice: 2050},
		{name: "exponent price", user: alice, body: `{"title":"concert","price":1.5e1}`, status: 201, wantTitle: "concert", wantPrice: 1500},
		{name: "smallest price", user: alice, body: `{"title":"concert","price":0.50}`, status: 201, wantTitle: "concert", wantPrice: money.Min},
		{name: "highest price", user: alice, body: `{"title":"concert","price":999999.99}`, status: 201, wantTitle: "concert", wantPrice: money.Max},
		{name: "NUL in the title", user: alice, body: `{"title":"a\u0000b","price":5}`, status: 400, errors: errs("title", titleCtl)},
		{name: "escape in the title", user: alice, body: `{"title":"\u001b[31mred","price":5}`, status: 400, errors: errs("title", titleCtl)},
		{name: "right-to-left override", user: alice, body: `{"title":"gnp.\u202eexe","price":5}`, status: 400, errors: errs("title", titleCtl)},
		{name: "line break", user: alice, body: `{"title":"two\nlines","price":5}`, status: 400, errors: errs("title", titleCtl)},
		{name: "accents and emoji are fine", user: alice, body: `{"title":"Café 🎵 Zürich","price":5}`, status: 201, wantTitle: "Café 🎵 Zürich", wantPrice: 500},
		{name: "below what Stripe charges", user: alice, body: `{"title":"a","price":0.49}`, status: 400, errors: errs("price", tooLow)},
		{name: "a cent", user: alice, body: `{"title":"a","price":0.01}`, status: 400, errors: errs("price", tooLow)},
		{name: "a million", user: alice, body: `{"title":"a","price":1000000}`, status: 400, errors: errs("price", tooHigh)},
		{name: "huge exponent", user: alice, body: `{"title":"a","price":1e9999999}`, status: 400, errors: errs("price", tooHigh)},
		{name: "tiny exponent", user: alice, body: `{"title":"a","price":1e-9999999}`, status: 400, errors: errs("price", "Price must have at most two decimal places")},
		{name: "over-long price", user: alice, body: `{"title":"a","price":"` + strings.Repeat("1", 40) + `"}`, status: 400, errors: errs("price", tooHigh)},
		{name: "title trimmed", user: alice, body: `{"title":"  gig  ","price":5}`, status: 201, wantTitle: "gig", wantPrice: 500},
		{name: "200-character title", user: alice, body: `{"title":"` + long[2:] + `","price":5}`, status: 201, wantTitle: long[2:], wantPrice: 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := testkit.Call(t, a.h, http.MethodPost, "/api/tickets", tc.body, as(t, tc.user)...)
			if tc.status != http.StatusCreated {
				res.WantErrors(t, tc.status, tc.errors...)
				return
			}
			got := decode[ticket](t, res.Want(t, tc.status))
			want := ticket{ID: got.ID, Title: tc.wantTitle, Price: tc.wantPrice, UserID: tc.user, Version: 0}
			if _, ok := mongodb.ParseID(got.ID); !ok || got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			shown := decode[ticket](t, testkit.Call(t, a.h, http.MethodGet, "/api/tickets/"+got.ID, nil))
			if shown != got {
				t.Fatalf("stored %+v, answered %+v", shown, got)
			}
		})
	}
}

// The body shows the price as a number in currency units, and nothing of
// the store's internals.
func TestTicketJSON(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tk := a.create(t, alice, "concert", `"19.99"`)
	body := string(testkit.Call(t, a.h, http.MethodGet, "/api/tickets/"+tk.ID, nil).Body)
	want := `{"id":"` + tk.ID + `","title":"concert","price":19.99,"userId":"` + alice + `","version":0}` + "\n"
	if body != want {
		t.Fatalf("body %s, want %s", body, want)
	}
	a.reserve(t, tk.ID, "5f00000000000000000000f1")
	body = string(testkit.Call(t, a.h, http.MethodGet, "/api/tickets/"+tk.ID, nil).Body)
	want = `{"id":"` + tk.ID + `","title":"concert","price":19.99,"userId":"` + alice + `","version":1,"orderId":"5f00000000000000000000f1"}` + "\n"
	if body != want {
		t.Fatalf("reserved body %s, want %s", body, want)
	}
}

func TestShow(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tk := a.create(t, alice, "concert", "10")
	tests := []struct {
		name   string
		path   string
		status int
		errors []apperr.FieldError
	}{
		{"malformed id", "/api/tickets/not-an-id", 400, []apperr.FieldError{{Message: "Ticket id must be a 24-character hex ObjectId"}}},
		{"unknown id", "/api/tickets/" + bson.NewObjectID().Hex(), 404, []apperr.FieldError{{Message: "Ticket not found"}}},
		{"found, anonymous", "/api/tickets/" + tk.ID, 200, nil},
		// The one id rule (mongodb.ParseID): either case, nothing around it.
		{"id in upper case", "/api/tickets/" + strings.ToUpper(tk.ID), 200, nil},
		{"id with a space before it", "/api/tickets/%20" + tk.ID, 400, []apperr.FieldError{{Message: "Ticket id must be a 24-character hex ObjectId"}}},
		{"id of 23 digits", "/api/tickets/" + tk.ID[1:], 400, []apperr.FieldError{{Message: "Ticket id must be a 24-character hex ObjectId"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := testkit.Call(t, a.h, http.MethodGet, tc.path, nil)
			if tc.status != http.StatusOK {
				res.WantErrors(t, tc.status, tc.errors...)
				return
			}
			if got := decode[ticket](t, res); res.Status != 200 || got != tk {
				t.Fatalf("%d %+v, want %+v", res.Status, got, tk)
			}
		})
	}
}

func TestEdit(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	mine := a.create(t, alice, "concert", "10")
	reserved := a.create(t, alice, "opera", "10")
	a.reserve(t, reserved.ID, "5f00000000000000000000f1")
	unknown := bson.NewObjectID().Hex()
	valid := `{"title":"new title","price":"25.50"}`

	tests := []struct {
		name   string
		user   string
		id     string
		body   string
		status int
		errors []apperr.FieldError
	}{
		{"not signed in", "", mine.ID, valid, 401, notAuthorized()},
		{"not signed in beats validation and unknown id", "", unknown, `{}`, 401, notAuthorized()},
		{"malformed id", alice, "123", valid, 400, []apperr.FieldError{{Message: "Ticket id must be a 24-character hex ObjectId"}}},
		{"validation beats unknown id", alice, unknown, `{"title":"","price":0}`, 400,
			errs("title", titleNeeded, "price", priceEdit)},
		{"validation beats not owner", bob, mine.ID, `{"title":"x"}`, 400, errs("price", priceEdit)},
		{"blank title", alice, mine.ID, `{"title":" ","price":5}`, 400, errs("title", titleNeeded)},
		{"201-character title", alice, mine.ID, `{"title":"` + strings.Repeat("a", 201) + `","price":5}`, 400, errs("title", titleLong)},
		{"zero price", alice, mine.ID, `{"title":"x","price":0}`, 400, errs("price", priceEdit)},
		{"negative price", alice, mine.ID, `{"title":"x","price":"-5"}`, 400, errs("price", priceEdit)},
		{"three-decimal price", alice, mine.ID, `{"title":"x","price":1.005}`, 400, errs("price", tooPrecise)},
		{"over-limit price", alice, mine.ID, `{"title":"x","price":2000000}`, 400, errs("price", tooHigh)},
		{"unknown id", alice, unknown, valid, 404, []apperr.FieldError{{Message: "Ticket not found"}}},
		{"another user's ticket", bob, mine.ID, valid, 401, notAuthorized()},
		{"not owner beats reserved", bob, reserved.ID, valid, 401, notAuthorized()},
		{"reserved ticket", alice, reserved.ID, valid, 400, []apperr.FieldError{{Message: "Cannot edit a reserved ticket"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testkit.Call(t, a.h, http.MethodPut, "/api/tickets/"+tc.id, tc.body, as(t, tc.user)...).WantErrors(t, tc.status, tc.errors...)
		})
	}
	// none of the failures changed anything
	for _, tk := range []ticket{mine, reserved} {
		got := decode[ticket](t, testkit.Call(t, a.h, http.MethodGet, "/api/tickets/"+tk.ID, nil))
		if got.Title != tk.Title || got.Price != tk.Price {
			t.Fatalf("failed edits changed %+v into %+v", tk, got)
		}
	}

	t.Run("owner edits", func(t *testing.T) {
		res := testkit.Call(t, a.h, http.MethodPut, "/api/tickets/"+mine.ID, valid, as(t, alice)...)
		want := ticket{ID: mine.ID, Title: "new title", Price: 2550, UserID: alice, Version: 1}
		if got := decode[ticket](t, res); res.Status != 200 || got != want {
			t.Fatalf("%d %+v, want %+v", res.Status, got, want)
		}
		res = testkit.Call(t, a.h, http.MethodPut, "/api/tickets/"+mine.ID, `{"title":"again","price":26}`, as(t, alice)...)
		if got := decode[ticket](t, res); got.Version != 2 || got.Price != 2600 {
			t.Fatalf("second edit gave %+v", got)
		}
		shown := decode[ticket](t, testkit.Call(t, a.h, http.MethodGet, "/api/tickets/"+mine.ID, nil))
		if shown.Version != 2 || shown.Title != "again" {
			t.Fatalf("stored %+v", shown)
		}
		// The id in upper case is the same ticket (answered in lower case).
		res = testkit.Call(t, a.h, http.MethodPut, "/api/tickets/"+strings.ToUpper(mine.ID), `{"title":"upper","price":27}`, as(t, alice)...)
		if got := decode[ticket](t, res); res.Status != 200 || got.ID != mine.ID || got.Version != 3 {
			t.Fatalf("edit by the upper-case id: %d %+v", res.Status, got)
		}
	})
}

var linkNext = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

func TestList(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	var free []ticket
	for i := range 8 {
		tk := a.create(t, alice, "show "+string(rune('a'+i)), "10")
		if i%3 == 1 {
			a.reserve(t, tk.ID, bson.NewObjectID().Hex())
			continue
		}
		free = append(free, tk)
	}

	t.Run("default page holds every unreserved ticket, oldest first", func(t *testing.T) {
		res := testkit.Call(t, a.h, http.MethodGet, "/api/tickets", nil)
		if res.Status != 200 || res.Header.Get("Link") != "" {
			t.Fatalf("%d, Link %q", res.Status, res.Header.Get("Link"))
		}
		if got := decode[[]ticket](t, res); !reflect.DeepEqual(got, free) {
			t.Fatalf("got %+v\nwant %+v", got, free)
		}
	})

	t.Run("pages follow the Link header", func(t *testing.T) {
		var got []ticket
		var sizes []int
		path := "/api/tickets?limit=2"
		for path != "" {
			res := testkit.Call(t, a.h, http.MethodGet, path, nil)
			if res.Status != 200 {
				t.Fatalf("%s: %d %s", path, res.Status, res.Body)
			}
			page := decode[[]ticket](t, res)
			got = append(got, page...)
			sizes = append(sizes, len(page))
			path = ""
			if link := res.Header.Get("Link"); link != "" {
				m := linkNext.FindStringSubmatch(link)
				if m == nil {
					t.Fatalf("Link %q", link)
				}
				path = m[1]
			}
		}
		if !reflect.DeepEqual(got, free) || !reflect.DeepEqual(sizes, []int{2, 2, 1}) {
			t.Fatalf("pages of %v gave %+v\nwant %+v", sizes, got, free)
		}
	})

	t.Run("an empty listing is an empty array", func(t *testing.T) {
		empty := newAPI(t)
		if body := string(testkit.Call(t, empty.h, http.MethodGet, "/api/tickets", nil).Body); body != "[]\n" {
			t.Fatalf("body %q", body)
		}
	})

	limitMsg := "Limit must be a whole number between 1 and 100"
	cursorMsg := "Invalid page cursor: use the Link header of the previous page"
	bad := []struct {
		name  string
		query string
		want  []apperr.FieldError
	}{
		{"zero limit", "?limit=0", errs("limit", limitMsg)},
		{"limit over 100", "?limit=101", errs("limit", limitMsg)},
		{"negative limit", "?limit=-1", errs("limit", limitMsg)},
		{"non-numeric limit", "?limit=ten", errs("limit", limitMsg)},
		{"cursor not base64", "?after=!!!", errs("after", cursorMsg)},
		{"cursor of the wrong length", "?after=abcd", errs("after", cursorMsg)},
		{"raw id as cursor", "?after=" + free[0].ID, errs("after", cursorMsg)},
		{"both bad", "?limit=0&after=zzz", errs("limit", limitMsg, "after", cursorMsg)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			testkit.Call(t, a.h, http.MethodGet, "/api/tickets"+tc.query, nil).WantErrors(t, 400, tc.want...)
		})
	}
}

func TestRoutingAndHealth(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	testkit.Call(t, a.h, http.MethodGet, "/api/nothing", nil).WantErrors(t, 404, apperr.FieldError{Message: "Not Found"})
	testkit.Call(t, a.h, http.MethodDelete, "/api/tickets", nil, as(t, alice)...).WantErrors(t, 405, apperr.FieldError{Message: "Method Not Allowed"})
	for _, path := range []string{"/healthz", "/readyz"} {
		if res := testkit.Call(t, a.h, http.MethodGet, path, nil); res.Status != 200 {
			t.Fatalf("%s: %d %s", path, res.Status, res.Body)
		}
	}
}

// Creating and editing publish ticket.created and ticket.updated on
// JetStream, each with the ticket's version and an id stable for the change.
func TestEventsPublished(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	created := natskit.Record(t, a.NATS.JS, events.TicketCreated)
	updated := natskit.Record(t, a.NATS.JS, events.TicketUpdated)

	tk := a.create(t, alice, "concert", "19.99")
	c := created.WaitFor(t, 1, 5*time.Second)[0]
	wantC := events.TicketCreatedData{ID: tk.ID, Version: 0, Title: "concert", Price: 1999, UserID: alice}
	if c.Subject != "ticket.created" || c.Data != wantC || c.ID != outbox.ID("ticket.created", tk.ID, 0) {
		t.Fatalf("ticket.created %+v, want %+v", c, wantC)
	}

	if res := testkit.Call(t, a.h, http.MethodPut, "/api/tickets/"+tk.ID, `{"title":"opera","price":25}`, as(t, alice)...); res.Status != 200 {
		t.Fatalf("edit: %d %s", res.Status, res.Body)
	}
	u := updated.WaitFor(t, 1, 5*time.Second)[0]
	wantU := events.TicketUpdatedData{ID: tk.ID, Version: 1, Title: "opera", Price: 2500, UserID: alice}
	if u.Subject != "ticket.updated" || u.Data != wantU || u.ID != outbox.ID("ticket.updated", tk.ID, 1) {
		t.Fatalf("ticket.updated %+v, want %+v", u, wantU)
	}

	// a failed edit publishes nothing
	if res := testkit.Call(t, a.h, http.MethodPut, "/api/tickets/"+tk.ID, `{"title":"mine now","price":1}`, as(t, bob)...); res.Status != 401 {
		t.Fatalf("edit by another user: %d %s", res.Status, res.Body)
	}
	if n := len(updated.Settled(t, a.Outbox())); n != 1 {
		t.Fatalf("%d ticket.updated events, want 1", n)
	}
}
