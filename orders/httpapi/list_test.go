package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/apperr"
	"ticketing.dev/orders/internal/testenv"
	"ticketing.dev/orders/order"
	"ticketing.dev/testkit"
)

// placeAt stores an order of user created at the given time, straight
// through the store (the API would stamp now).
func placeAt(t *testing.T, e *testenv.Env, user string, at time.Time) order.Order {
	t.Helper()
	o, evt, err := order.New(user, order.Ticket{ID: bson.NewObjectID(), Title: "t", Price: 100}, at, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Orders.Create(testkit.Context(t), o, evt); err != nil {
		t.Fatal(err)
	}
	return o
}

// cursorAt is the cursor the API hands out for a page ending at (at, id).
func cursorAt(at time.Time, id bson.ObjectID) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(at.UnixMilli()))
	return base64.RawURLEncoding.EncodeToString(append(b, id[:]...))
}

func listIDs(t *testing.T, res testkit.Response) []string {
	t.Helper()
	var got []testenv.Order
	res.Decode(t, &got)
	ids := make([]string, len(got))
	for i, o := range got {
		ids[i] = o.ID
	}
	return ids
}

// Every malformed, out-of-range, unknown or repeated value of limit, cursor
// and sort is a 400 naming it (all of them at once); unknown parameters and
// empty values are ignored; anonymous is 401 first.
func TestListOrdersParameters(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	placeAt(t, e, alice, time.Now())
	limitMsg := "Limit must be a whole number between 1 and 100"
	cursorMsg := "Invalid page cursor: use the Link header of the previous page"
	sortMsg := "Sort must be newest or oldest"
	once := func(p string) string { return "Give " + p + " at most once" }
	escaped := func(p string) string { return "Parameter " + p + " is not percent-encoded correctly" }
	field := func(f, m string) []apperr.FieldError { return []apperr.FieldError{{Field: f, Message: m}} }
	valid := cursorAt(time.Now(), bson.NewObjectID())
	tid := bson.NewObjectID()
	ticketCursor := base64.RawURLEncoding.EncodeToString(tid[:]) // 12 bytes: tickets' shape
	tests := []struct {
		name   string
		anon   bool
		query  string
		status int
		want   []apperr.FieldError
	}{
		{name: "zero limit", query: "?limit=0", want: field("limit", limitMsg)},
		{name: "negative limit", query: "?limit=-1", want: field("limit", limitMsg)},
		{name: "limit over 100", query: "?limit=101", want: field("limit", limitMsg)},
		{name: "decimal limit", query: "?limit=1.5", want: field("limit", limitMsg)},
		{name: "limit not a number", query: "?limit=ten", want: field("limit", limitMsg)},
		{name: "limit with spaces", query: "?limit=%2010", want: field("limit", limitMsg)},
		{name: "huge limit", query: "?limit=99999999999999999999", want: field("limit", limitMsg)},
		{name: "limit twice", query: "?limit=1&limit=2", want: field("limit", once("limit"))},
		{name: "limit badly escaped", query: "?limit=%zz", want: field("limit", escaped("limit"))},
		{name: "cursor of the issue", query: "?cursor=%25%25not-a-cursor", want: field("cursor", cursorMsg)},
		{name: "cursor not base64url", query: "?cursor=" + strings.Repeat("*", 27), want: field("cursor", cursorMsg)},
		{name: "cursor too short", query: "?cursor=" + valid[:26], want: field("cursor", cursorMsg)},
		{name: "cursor too long", query: "?cursor=" + valid + "AA", want: field("cursor", cursorMsg)},
		{name: "cursor padded", query: "?cursor=" + valid + "%3D", want: field("cursor", cursorMsg)},
		{name: "cursor of tickets' shape", query: "?cursor=" + ticketCursor, want: field("cursor", cursorMsg)},
		{name: "zero cursor", query: "?cursor=" + strings.Repeat("A", 27), want: field("cursor", cursorMsg)},
		{name: "cursor badly escaped", query: "?cursor=%zz", want: field("cursor", escaped("cursor"))},
		{name: "cursor twice", query: "?cursor=" + valid + "&cursor=" + valid, want: field("cursor", once("cursor"))},
		{name: "unknown sort", query: "?sort=price", want: field("sort", sortMsg)},
		{name: "sort in capitals", query: "?sort=NEWEST", want: field("sort", sortMsg)},
		{name: "sort twice", query: "?sort=newest&sort=newest", want: field("sort", once("sort"))},
		{name: "sort badly escaped", query: "?sort=%", want: field("sort", escaped("sort"))},
		{name: "name badly escaped", query: "?%zz=1",
			want: []apperr.FieldError{{Message: "Malformed query string: a parameter name is not percent-encoded correctly"}}},
		{name: "every bad parameter, each named", query: "?sort=up&cursor=zz&limit=0",
			want: []apperr.FieldError{{Field: "limit", Message: limitMsg}, {Field: "cursor", Message: cursorMsg}, {Field: "sort", Message: sortMsg}}},
		{name: "anonymous", anon: true, query: "?limit=1", status: 401, want: []apperr.FieldError{{Message: "Not authorized"}}},
		{name: "anonymous with bad parameters", anon: true, query: "?limit=0&sort=up", status: 401, want: []apperr.FieldError{{Message: "Not authorized"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status := tc.status
			if status == 0 {
				status = http.StatusBadRequest
			}
			c := cookieOf(t, alice)
			if tc.anon {
				c = nil
			}
			testkit.Call(t, e.API, http.MethodGet, "/api/orders"+tc.query, nil, cookies(c)...).WantErrors(t, status, tc.want...)
		})
	}

	// What is not wrong is not refused.
	fine := []string{
		"?limit=", "?cursor=", "?sort=", // empty: not given
		"?sort=oldest", "?sort=newest", "?limit=1", "?limit=100", "?limit=007",
		"?utm_source=mail&_=1", "?after=zz&mine=yes&q=%ff", // unknown here: ignored
		"?cursor=" + valid, "?cursor=" + cursorAt(time.Time{}, bson.NewObjectID()),
	}
	for _, q := range fine {
		t.Run("fine "+q, func(t *testing.T) {
			t.Parallel()
			testkit.Call(t, e.API, http.MethodGet, "/api/orders"+q, nil, cookieOf(t, alice)).Want(t, http.StatusOK)
		})
	}
}

// Paging through every order of a user, in both sorts and the default, at
// several page sizes, by following the Link header: every order exactly
// once, in createdAt then id order (orders created in the same millisecond,
// and ids that do not follow createdAt), no other user's, no Link on the
// last page and no empty page after it.
func TestListOrdersPaging(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	base := time.Now().UTC().Truncate(time.Millisecond)
	// Offsets in ms, not in creation (id) order, with ties.
	offsets := []int{5, 5, 3, 0, 3, 9, 1, 5, 0, 7, 7, 2, 5}
	var mine []order.Order
	for i, ms := range offsets {
		mine = append(mine, placeAt(t, e, alice, base.Add(time.Duration(ms)*time.Millisecond)))
		if i%4 == 0 {
			placeAt(t, e, bob, base.Add(time.Duration(ms)*time.Millisecond))
		}
	}
	// A cancelled order is still listed.
	testkit.Call(t, e.API, http.MethodDelete, "/api/orders/"+mine[2].ID.Hex(), nil, cookieOf(t, alice)).Want(t, http.StatusNoContent)

	oldest := slices.Clone(mine)
	slices.SortFunc(oldest, func(a, b order.Order) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	hexes := func(os []order.Order) []string {
		out := make([]string, len(os))
		for i, o := range os {
			out[i] = o.ID.Hex()
		}
		return out
	}
	wantOldest := hexes(oldest)
	wantNewest := slices.Clone(wantOldest)
	slices.Reverse(wantNewest)
	if slices.Equal(wantOldest, hexes(mine)) {
		t.Fatal("the test's orders are in id order: it would not tell createdAt from id")
	}

	for _, sort := range []struct {
		param string
		want  []string
	}{{"", wantOldest}, {"oldest", wantOldest}, {"newest", wantNewest}} {
		for _, limit := range []int{1, 2, 4, 13, 100} {
			t.Run(fmt.Sprintf("sort=%s limit=%d", sort.param, limit), func(t *testing.T) {
				t.Parallel()
				url := fmt.Sprintf("/api/orders?limit=%d", limit)
				if sort.param != "" {
					url += "&sort=" + sort.param
				}
				wantQuery := fmt.Sprintf("limit=%d", limit)
				if sort.param != "" {
					wantQuery += "&sort=" + sort.param
				}
				// follow reads a page and its links (checked to carry a
				// cursor and the page's parameters).
				follow := func(url string) ([]string, map[string]string) {
					res := testkit.Call(t, e.API, http.MethodGet, url, nil, cookieOf(t, alice)).Want(t, http.StatusOK)
					ids := listIDs(t, res)
					if len(ids) == 0 || len(ids) > limit {
						t.Fatalf("%s has %d orders, limit %d", url, len(ids), limit)
					}
					links := res.Links(t)
					for r, l := range links {
						if q := regexp.MustCompile(`cursor=[A-Za-z0-9_-]{27,28}&`).ReplaceAllString(strings.TrimPrefix(l, "/api/orders?"), ""); q != wantQuery {
							t.Fatalf("%s: %s page's query %q, want cursor, %s", url, r, l, wantQuery)
						}
					}
					return ids, links
				}
				var got []string
				var pages [][]string
				var lastURL string
				for url != "" {
					if len(pages) > len(offsets) {
						t.Fatalf("more than %d pages", len(offsets)+1)
					}
					ids, links := follow(url)
					if _, hasPrev := links["prev"]; hasPrev != (len(pages) > 0) {
						t.Fatalf("page %d (%s): Link %v, want a prev link on every page but the first", len(pages)+1, url, links)
					}
					got = append(got, ids...)
					pages = append(pages, ids)
					lastURL, url = url, links["next"]
				}
				// Back from the last page by the prev links: the same
				// pages in reverse, the first one without a prev link and
				// each with a next link.
				_, links := follow(lastURL)
				for i := len(pages) - 1; i > 0; i-- {
					ids, back := follow(links["prev"])
					if !slices.Equal(ids, pages[i-1]) || back["next"] == "" {
						t.Fatalf("page %d read back: %v (Link %v), want %v and a next link", i, ids, back, pages[i-1])
					}
					if _, hasPrev := back["prev"]; hasPrev != (i > 1) {
						t.Fatalf("page %d read back: Link %v, prev link only if a page precedes it", i, back)
					}
					links = back
				}
				if !slices.Equal(got, sort.want) {
					t.Fatalf("paged through\n%v\nwant\n%v", got, sort.want)
				}
				if want := (len(offsets) + limit - 1) / limit; len(pages) != want {
					t.Fatalf("%d pages, want %d", len(pages), want)
				}
			})
		}
	}

	// A cursor without limit answers the rest, and one past the last order
	// an empty page.
	last := oldest[len(oldest)-1]
	res := testkit.Call(t, e.API, http.MethodGet, "/api/orders?cursor="+cursorAt(oldest[4].CreatedAt, oldest[4].ID), nil, cookieOf(t, alice)).Want(t, http.StatusOK)
	if got := listIDs(t, res); !slices.Equal(got, wantOldest[5:]) || res.Header.Get("Link") != "" {
		t.Fatalf("after the fifth: %v (Link %q), want %v", got, res.Header.Get("Link"), wantOldest[5:])
	}
	res = testkit.Call(t, e.API, http.MethodGet, "/api/orders?limit=5&cursor="+cursorAt(last.CreatedAt, last.ID), nil, cookieOf(t, alice)).Want(t, http.StatusOK)
	if strings.TrimSpace(string(res.Body)) != "[]" || res.Header.Get("Link") != "" {
		t.Fatalf("after the last: %s (Link %q), want [] and no Link", res.Body, res.Header.Get("Link"))
	}
}

// A plain GET answers as before: every order, however many, oldest first,
// with no Link header; sort=newest alone reverses it, still whole.
func TestListOrdersPlainGetUnchanged(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	base := time.Now().UTC().Truncate(time.Millisecond)
	var want []string
	for i := range 105 { // over the largest page
		want = append(want, placeAt(t, e, alice, base.Add(time.Duration(i)*time.Millisecond)).ID.Hex())
	}
	res := testkit.Call(t, e.API, http.MethodGet, "/api/orders", nil, cookieOf(t, alice)).Want(t, http.StatusOK)
	if got := listIDs(t, res); !slices.Equal(got, want) {
		t.Fatalf("plain GET: %d orders %v, want all %d oldest first", len(got), got, len(want))
	}
	if l := res.Header.Get("Link"); l != "" {
		t.Fatalf("plain GET has Link %q", l)
	}
	res = testkit.Call(t, e.API, http.MethodGet, "/api/orders?sort=newest", nil, cookieOf(t, alice)).Want(t, http.StatusOK)
	reversed := slices.Clone(want)
	slices.Reverse(reversed)
	if got := listIDs(t, res); !slices.Equal(got, reversed) || res.Header.Get("Link") != "" {
		t.Fatalf("sort=newest: %d orders (Link %q), want all %d newest first", len(got), res.Header.Get("Link"), len(want))
	}
	res = testkit.Call(t, e.API, http.MethodGet, "/api/orders?limit=100&sort=newest", nil, cookieOf(t, alice)).Want(t, http.StatusOK)
	if got := listIDs(t, res); !slices.Equal(got, reversed[:100]) || len(res.Links(t)) != 1 || res.Links(t)["next"] == "" {
		t.Fatalf("limit=100: %d orders (Link %q), want the newest 100 and a next link", len(got), res.Header.Get("Link"))
	}
}
