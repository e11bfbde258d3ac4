package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
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

// nextPath is the path of the answer's Link rel="next" ("" when none).
func nextPath(t *testing.T, res testkit.Response) string {
	t.Helper()
	return res.Links(t)["next"]
}

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
			path = nextPath(t, res)
		}
		if !reflect.DeepEqual(got, free) || !reflect.DeepEqual(sizes, []int{2, 2, 1}) {
			t.Fatalf("pages of %v gave %+v\nwant %+v", sizes, got, free)
		}
	})

	// Forward by next, then back by prev from the last page: the same pages
	// in reverse; a prev link on every page but the first, a next link on
	// every page but the last, in both directions.
	for _, sort := range []string{"oldest", "newest"} {
		t.Run("pages read back by the prev links, sort="+sort, func(t *testing.T) {
			want := slices.Clone(free)
			if sort == "newest" {
				slices.Reverse(want)
			}
			page := func(path string) ([]ticket, map[string]string) {
				res := testkit.Call(t, a.h, http.MethodGet, path, nil).Want(t, http.StatusOK)
				return decode[[]ticket](t, res), res.Links(t)
			}
			var pages [][]ticket
			path, last := "/api/tickets?limit=2&sort="+sort, ""
			for path != "" {
				got, links := page(path)
				if _, prev := links["prev"]; prev != (len(pages) > 0) {
					t.Fatalf("page %d: Link %v", len(pages)+1, links)
				}
				pages = append(pages, got)
				last, path = path, links["next"]
			}
			if !reflect.DeepEqual(slices.Concat(pages...), want) || len(pages) != 3 {
				t.Fatalf("forward: %v", pages)
			}
			_, links := page(last)
			for i := len(pages) - 2; i >= 0; i-- {
				got, back := page(links["prev"])
				_, prev := back["prev"]
				if !reflect.DeepEqual(got, pages[i]) || prev != (i > 0) || back["next"] == "" {
					t.Fatalf("page %d read back: %+v (Link %v), want %+v", i+1, got, back, pages[i])
				}
				links = back
			}
		})
	}

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
		{"cursor param not base64", "?cursor=%25%25not-a-cursor", errs("cursor", cursorMsg)},
		{"cursor param of the wrong length", "?cursor=abcd", errs("cursor", cursorMsg)},
		{"raw id as cursor param", "?cursor=" + free[0].ID, errs("cursor", cursorMsg)},
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

// ids are the tickets' ids, in order.
func ids(tickets []ticket) []string {
	out := make([]string, len(tickets))
	for i, t := range tickets {
		out[i] = t.ID
	}
	return out
}

// walk follows the Link headers from path and returns every ticket listed
// and the links it followed.
func walk[T any](t *testing.T, a *api, path, user string) ([]T, []string) {
	t.Helper()
	var got []T
	var links []string
	for path != "" {
		res := testkit.Call(t, a.h, http.MethodGet, path, nil, as(t, user)...)
		got = append(got, decode[[]T](t, res.Want(t, http.StatusOK))...)
		if path = nextPath(t, res); path != "" {
			links = append(links, path)
		}
	}
	return got, links
}

// Every parameter of the listing that is malformed, unknown in value or
// given twice is a 400 naming it, all of them at once; mine=true needs a
// session first (401 before 400, as everywhere).
func TestListParameters(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tk := a.create(t, alice, "gig", "10")
	limitMsg := "Limit must be a whole number between 1 and 100"
	cursorMsg := "Invalid page cursor: use the Link header of the previous page"
	sortMsg := "Sort must be newest or oldest"
	mineMsg := "Mine must be true or false"
	longMsg := "Search must be at most 100 characters"
	once := func(p string) string { return "Give " + p + " at most once" }
	escaped := func(p string) string { return "Parameter " + p + " is not percent-encoded correctly" }
	tests := []struct {
		name   string
		user   string
		query  string
		status int
		want   []apperr.FieldError
	}{
		{name: "decimal limit", query: "?limit=1.5", want: errs("limit", limitMsg)},
		{name: "huge limit", query: "?limit=99999999999999999999", want: errs("limit", limitMsg)},
		{name: "limit twice", query: "?limit=1&limit=2", want: errs("limit", once("limit"))},
		{name: "limit badly escaped", query: "?limit=%zz", want: errs("limit", escaped("limit"))},
		{name: "cursor of the issue", query: "?cursor=%25%25not-a-cursor", want: errs("cursor", cursorMsg)},
		{name: "zero cursor", query: "?cursor=AAAAAAAAAAAAAAAA", want: errs("cursor", cursorMsg)},
		{name: "padded cursor", query: "?cursor=AAAAAAAAAAAAAAAA%3D", want: errs("cursor", cursorMsg)},
		{name: "cursor badly escaped", query: "?cursor=%zz", want: errs("cursor", escaped("cursor"))},
		{name: "cursor twice", query: "?cursor=a&cursor=b", want: errs("cursor", once("cursor"))},
		{name: "cursor and after", query: "?cursor=" + cursorOf(tk.ID) + "&after=" + cursorOf(tk.ID),
			want: errs("after", "Give cursor or after, not both")},
		{name: "after twice", query: "?after=a&after=b", want: errs("after", once("after"))},
		{name: "unknown sort", query: "?sort=price", want: errs("sort", sortMsg)},
		{name: "sort in capitals", query: "?sort=NEWEST", want: errs("sort", sortMsg)},
		{name: "sort twice", query: "?sort=newest&sort=oldest", want: errs("sort", once("sort"))},
		{name: "sort badly escaped", query: "?sort=%", want: errs("sort", escaped("sort"))},
		{name: "mine yes", user: alice, query: "?mine=yes", want: errs("mine", mineMsg)},
		{name: "mine 1", user: alice, query: "?mine=1", want: errs("mine", mineMsg)},
		{name: "mine in capitals", user: alice, query: "?mine=TRUE", want: errs("mine", mineMsg)},
		{name: "mine twice", user: alice, query: "?mine=true&mine=true", want: errs("mine", once("mine"))},
		{name: "search over 100 characters", query: "?q=" + strings.Repeat("é", 101), want: errs("q", longMsg)},
		{name: "search not UTF-8", query: "?q=%ff", want: errs("q", "Search must be text (UTF-8)")},
		{name: "search twice", query: "?q=a&q=b", want: errs("q", once("q"))},
		{name: "name badly escaped", query: "?%zz=1",
			want: []apperr.FieldError{{Message: "Malformed query string: a parameter name is not percent-encoded correctly"}}},
		{name: "every bad parameter, each named", user: alice, query: "?q=" + strings.Repeat("x", 101) + "&mine=no&sort=up&cursor=zz&limit=0",
			want: errs("limit", limitMsg, "cursor", cursorMsg, "sort", sortMsg, "mine", mineMsg, "q", longMsg)},
		{name: "mine anonymous", query: "?mine=true", status: 401, want: notAuthorized()},
		{name: "mine anonymous with bad parameters", query: "?mine=true&limit=0", status: 401, want: notAuthorized()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status := tc.status
			if status == 0 {
				status = http.StatusBadRequest
			}
			testkit.Call(t, a.h, http.MethodGet, "/api/tickets"+tc.query, nil, as(t, tc.user)...).WantErrors(t, status, tc.want...)
		})
	}

	// What is not wrong is not refused.
	fine := []string{
		"?limit=", "?cursor=", "?sort=", "?mine=", "?q=", "?q=%20%20", // empty: not given
		"?mine=false", "?sort=oldest", "?utm_source=mail&_=1", // unknown parameters are ignored
		"?q=" + strings.Repeat("é", 100), "?q=a;b", "?cursor=" + cursorOf(bson.NewObjectID().Hex()),
	}
	for _, q := range fine {
		t.Run("fine "+q, func(t *testing.T) {
			t.Parallel()
			testkit.Call(t, a.h, http.MethodGet, "/api/tickets"+q, nil).Want(t, http.StatusOK)
		})
	}
}

func cursorOf(id string) string {
	oid, _ := mongodb.ParseID(id)
	return base64.RawURLEncoding.EncodeToString(oid[:])
}

// Sort and search: the default order stays oldest first, newest first on
// request; a search keeps the titles that hold it whatever the case, as
// plain text (no pattern); both carry over to the next page's link.
func TestListSortAndSearch(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	titles := []string{"Jazz night", "Rock (live)", "jazz brunch", "Opera", "JAZZ.fest", "Rock open air", "Jazz at noon"}
	var all []ticket
	for _, title := range titles {
		all = append(all, a.create(t, alice, title, "10"))
	}
	a.reserve(t, all[3].ID, bson.NewObjectID().Hex()) // Opera: not listed
	listed := slices.Delete(slices.Clone(all), 3, 4)
	newest := slices.Clone(listed)
	slices.Reverse(newest)
	pick := func(from []ticket, idx ...int) []ticket {
		var out []ticket
		for _, i := range idx {
			out = append(out, from[i])
		}
		return out
	}
	// listed: 0 Jazz night, 1 Rock (live), 2 jazz brunch, 3 JAZZ.fest, 4 Rock open air, 5 Jazz at noon
	tests := []struct {
		query string
		want  []ticket
	}{
		{"", listed},
		{"?sort=oldest", listed},
		{"?sort=newest", newest},
		{"?q=jazz", pick(listed, 0, 2, 3, 5)},
		{"?q=JaZz&sort=newest", pick(listed, 5, 3, 2, 0)},
		{"?q=%20rock%20", pick(listed, 1, 4)},
		{"?q=.", pick(listed, 3)},
		{"?q=(live", pick(listed, 1)},
		{"?q=.*", nil},
		{"?q=opera", nil},
		{"?q=z+a", pick(listed, 5)},
	}
	for _, tc := range tests {
		t.Run("query "+tc.query, func(t *testing.T) {
			t.Parallel()
			for _, limit := range []string{"", "limit=2"} {
				path := "/api/tickets" + tc.query
				if limit != "" {
					path += map[bool]string{true: "&", false: "?"}[tc.query != ""] + limit
				}
				got, links := walk[ticket](t, a, path, "")
				if !slices.Equal(ids(got), ids(tc.want)) {
					t.Fatalf("%s: %v\nwant %v", path, ids(got), ids(tc.want))
				}
				for _, l := range links {
					u, _ := url.Parse(l)
					v := u.Query()
					orig, _ := url.ParseQuery(strings.TrimPrefix(tc.query, "?"))
					if v.Get("limit") != "2" || v.Get("cursor") == "" || v.Get("after") != "" ||
						v.Get("sort") != orig.Get("sort") || v.Get("q") != strings.TrimSpace(orig.Get("q")) {
						t.Fatalf("%s: next link %s", path, l)
					}
				}
			}
		})
	}

	t.Run("links handed out with after still page", func(t *testing.T) {
		res := testkit.Call(t, a.h, http.MethodGet, "/api/tickets?limit=2&after="+cursorOf(listed[1].ID), nil)
		if got := decode[[]ticket](t, res.Want(t, 200)); !slices.Equal(ids(got), ids(listed[2:4])) {
			t.Fatalf("got %v", ids(got))
		}
	})
	t.Run("the plain list answers as the original: no state", func(t *testing.T) {
		res := testkit.Call(t, a.h, http.MethodGet, "/api/tickets", nil)
		var raw []map[string]any
		res.Decode(t, &raw)
		for _, tk := range raw {
			if _, ok := tk["state"]; ok {
				t.Fatalf("plain list has a state: %v", tk)
			}
		}
	})
}

type ownTicket struct {
	ticket
	State string `json:"state"`
}

// mine=true lists every ticket of the caller, reserved and sold ones
// included, each with its state; nobody else's.
func TestListMine(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	forSale := a.create(t, alice, "for sale", "10")
	reserved := a.create(t, alice, "reserved", "10")
	sold := a.create(t, alice, "sold", "10")
	bobs := a.create(t, bob, "bob's", "10")
	soldOrder := bson.NewObjectID().Hex()
	a.reserve(t, reserved.ID, bson.NewObjectID().Hex())
	a.reserve(t, sold.ID, soldOrder)
	if held, err := a.Store.MarkSold(context.Background(), soldOrder); err != nil || !held {
		t.Fatalf("MarkSold: %v, %v", held, err)
	}
	if held, err := a.Store.MarkSold(context.Background(), bson.NewObjectID().Hex()); err != nil || held {
		t.Fatalf("MarkSold of an order holding nothing: %v, %v", held, err)
	}
	state := func(tk ticket, s string) ownTicket {
		got := decode[ticket](t, testkit.Call(t, a.h, http.MethodGet, "/api/tickets/"+tk.ID, nil))
		return ownTicket{ticket: got, State: s}
	}
	alices := []ownTicket{state(forSale, "for-sale"), state(reserved, "reserved"), state(sold, "sold")}
	newestFirst := slices.Clone(alices)
	slices.Reverse(newestFirst)

	tests := []struct {
		name, user, query string
		want              []ownTicket
	}{
		{"alice's, oldest first", alice, "?mine=true", alices},
		{"alice's, two a page", alice, "?mine=true&limit=2", alices},
		{"alice's, newest first", alice, "?mine=true&sort=newest&limit=1", newestFirst},
		{"alice's, searched", alice, "?mine=true&q=SOLD", alices[2:]},
		{"bob's", bob, "?mine=true", []ownTicket{state(bobs, "for-sale")}},
		{"a seller with none", "5f0000000000000000000c0c", "?mine=true", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, links := walk[ownTicket](t, a, "/api/tickets"+tc.query, tc.user)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			for _, l := range links {
				if !strings.Contains(l, "mine=true") {
					t.Fatalf("next link %s drops mine", l)
				}
			}
		})
	}
	t.Run("mine=false is the public list", func(t *testing.T) {
		got := decode[[]ticket](t, testkit.Call(t, a.h, http.MethodGet, "/api/tickets?mine=false", nil, as(t, alice)...))
		if !slices.Equal(ids(got), []string{forSale.ID, bobs.ID}) {
			t.Fatalf("got %v", ids(got))
		}
	})
}
