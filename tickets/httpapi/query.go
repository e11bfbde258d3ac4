package httpapi

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/httpx"
	"ticketing.dev/tickets/store"
)

// Page sizes of the listing, and the longest title search, in characters.
const (
	defaultLimit = 100
	maxLimit     = 100
	maxSearch    = 100
)

// The listing's parameters beyond httpx's paging ones. The cursor was
// named after before the contract called it cursor; Link headers now say
// cursor, and after is still read so that links handed out earlier keep
// working.
const (
	paramAfter  = "after"
	paramMine   = "mine"
	paramSearch = "q"
)

var (
	mineMessage = "Mine must be true or false"
	searchLong  = fmt.Sprintf("Search must be at most %d characters", maxSearch)
	searchText  = "Search must be text (UTF-8)"
)

// listParams is a valid listing query.
type listParams struct {
	store.ListQuery
	mine   bool
	sort   string // as asked ("" for the default), for the pages' links
	cursor bool   // a cursor was given
}

// parseList reads the listing's query string. Every parameter it knows is
// checked and each one that fails is reported under its own name; a
// parameter given twice is refused (which one would count?). Parameters it
// does not know are ignored, as before: the site forwards its own page's
// query string, whatever else a link put there.
func parseList(rawQuery string) (listParams, error) {
	p := listParams{ListQuery: store.ListQuery{Limit: defaultLimit}}
	q := httpx.ParseQuery(rawQuery, httpx.ParamLimit, httpx.ParamCursor, paramAfter, httpx.ParamSort, paramMine, paramSearch)
	if n, ok := q.Limit(maxLimit); ok {
		p.Limit = n
	}
	cursorParam := httpx.ParamCursor
	cursor, ok := q.One(httpx.ParamCursor)
	if after, given := q.One(paramAfter); given {
		if ok {
			q.Fail(paramAfter, "Give cursor or after, not both")
		}
		cursor, cursorParam = after, paramAfter
	}
	if after, back, ok := decodeCursor(cursor); ok {
		p.After, p.Backward, p.cursor = after, back, cursor != ""
	} else {
		q.Fail(cursorParam, httpx.CursorMessage)
	}
	p.sort, p.Newest = q.Sort()
	if s, ok := q.One(paramMine); ok {
		switch s {
		case "true":
			p.mine = true
		case "false":
		default:
			q.Fail(paramMine, mineMessage)
		}
	}
	if s, ok := q.One(paramSearch); ok {
		s = strings.TrimSpace(s)
		switch {
		case !utf8.ValidString(s):
			q.Fail(paramSearch, searchText)
		case utf8.RuneCountInString(s) > maxSearch:
			q.Fail(paramSearch, searchLong)
		default:
			p.Title = s
		}
	}
	return p, q.Err()
}

// link is the query of the page next to the ticket at: the one after it,
// or with back the one before it.
func (p listParams) link(at bson.ObjectID, back bool) url.Values {
	v := url.Values{
		httpx.ParamLimit:  {strconv.Itoa(p.Limit)},
		httpx.ParamCursor: {httpx.EncodeCursor(at[:], back)},
	}
	if p.sort != "" {
		v.Set(httpx.ParamSort, p.sort)
	}
	if p.mine {
		v.Set(paramMine, "true")
	}
	if p.Title != "" {
		v.Set(paramSearch, p.Title)
	}
	return v
}

// decodeCursor reads a cursor (httpx.DecodeCursor of a ticket's id); an
// empty one means the first page.
func decodeCursor(s string) (id bson.ObjectID, back, ok bool) {
	if s == "" {
		return id, false, true
	}
	b, back, ok := httpx.DecodeCursor(s, len(id))
	if !ok {
		return id, false, false
	}
	copy(id[:], b)
	return id, back, !id.IsZero()
}
