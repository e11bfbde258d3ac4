package httpapi

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/apperr"
	"ticketing.dev/tickets/store"
)

// Page sizes of the listing, and the longest title search, in characters.
const (
	defaultLimit = 100
	maxLimit     = 100
	maxSearch    = 100
)

// Sort orders of the listing. Oldest first is the original's order and
// stays the default, so its client sees the same list; the site asks for
// newest.
const (
	sortOldest = "oldest"
	sortNewest = "newest"
)

// The listing's parameters. The cursor was named after before the contract
// called it cursor; Link headers now say cursor, and after is still read so
// that links handed out earlier keep working.
const (
	paramLimit  = "limit"
	paramCursor = "cursor"
	paramAfter  = "after"
	paramSort   = "sort"
	paramMine   = "mine"
	paramSearch = "q"
)

var (
	limitMessage  = fmt.Sprintf("Limit must be a whole number between 1 and %d", maxLimit)
	cursorMessage = "Invalid page cursor: use the Link header of the previous page"
	sortMessage   = "Sort must be " + sortNewest + " or " + sortOldest
	mineMessage   = "Mine must be true or false"
	searchLong    = fmt.Sprintf("Search must be at most %d characters", maxSearch)
	searchText    = "Search must be text (UTF-8)"
)

// listParams is a valid listing query.
type listParams struct {
	store.ListQuery
	mine bool
	sort string // as asked ("" for the default), for the next page's link
}

// parseList reads the listing's query string. Every parameter it knows is
// checked and each one that fails is reported under its own name; a
// parameter given twice is refused (which one would count?). Parameters it
// does not know are ignored, as before: the site forwards its own page's
// query string, whatever else a link put there.
func parseList(rawQuery string) (listParams, error) {
	p := listParams{ListQuery: store.ListQuery{Limit: defaultLimit}}
	q, problems := parseQuery(rawQuery)
	for _, name := range []string{paramLimit, paramCursor, paramAfter, paramSort, paramMine, paramSearch} {
		if len(q[name]) > 1 {
			problems = append(problems, apperr.FieldError{Field: name,
				Message: fmt.Sprintf("Give %s at most once", name)})
			delete(q, name)
		}
	}
	if s, ok := one(q, paramLimit); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			problems = append(problems, apperr.FieldError{Field: paramLimit, Message: limitMessage})
		}
		p.Limit = n
	}
	cursorParam := paramCursor
	cursor, ok := one(q, paramCursor)
	if after, given := one(q, paramAfter); given {
		if ok {
			problems = append(problems, apperr.FieldError{Field: paramAfter,
				Message: "Give cursor or after, not both"})
		}
		cursor, cursorParam = after, paramAfter
	}
	if after, ok := decodeCursor(cursor); ok {
		p.After = after
	} else {
		problems = append(problems, apperr.FieldError{Field: cursorParam, Message: cursorMessage})
	}
	if s, ok := one(q, paramSort); ok {
		switch s {
		case sortNewest, sortOldest:
			p.sort, p.Newest = s, s == sortNewest
		default:
			problems = append(problems, apperr.FieldError{Field: paramSort, Message: sortMessage})
		}
	}
	if s, ok := one(q, paramMine); ok {
		switch s {
		case "true":
			p.mine = true
		case "false":
		default:
			problems = append(problems, apperr.FieldError{Field: paramMine, Message: mineMessage})
		}
	}
	if s, ok := one(q, paramSearch); ok {
		s = strings.TrimSpace(s)
		switch {
		case !utf8.ValidString(s):
			problems = append(problems, apperr.FieldError{Field: paramSearch, Message: searchText})
		case utf8.RuneCountInString(s) > maxSearch:
			problems = append(problems, apperr.FieldError{Field: paramSearch, Message: searchLong})
		default:
			p.Title = s
		}
	}
	if len(problems) > 0 {
		return p, apperr.Validation(problems...)
	}
	return p, nil
}

// next is the query of the page after the one that ends with last.
func (p listParams) next(last bson.ObjectID) url.Values {
	v := url.Values{
		paramLimit:  {strconv.Itoa(p.Limit)},
		paramCursor: {encodeCursor(last)},
	}
	if p.sort != "" {
		v.Set(paramSort, p.sort)
	}
	if p.mine {
		v.Set(paramMine, "true")
	}
	if p.Title != "" {
		v.Set(paramSearch, p.Title)
	}
	return v
}

// parseQuery splits a query string like url.ParseQuery, but reports a pair
// it cannot decode under the parameter's name instead of dropping it (so a
// badly escaped cursor is a 400, not the first page). Semicolons are plain
// characters.
func parseQuery(raw string) (url.Values, []apperr.FieldError) {
	q := url.Values{}
	bad := map[string]bool{}
	var problems []apperr.FieldError
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			problems = append(problems, apperr.FieldError{Message: "Malformed query string: a parameter name is not percent-encoded correctly"})
			continue
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			if !bad[key] {
				problems = append(problems, apperr.FieldError{Field: key,
					Message: fmt.Sprintf("Parameter %s is not percent-encoded correctly", key)})
			}
			bad[key] = true
			continue
		}
		q[key] = append(q[key], value)
	}
	for key := range bad {
		delete(q, key)
	}
	return q, problems
}

// one is the value of a parameter given once; an empty value counts as
// not given (a form's empty field), as limit= always did.
func one(q url.Values, name string) (string, bool) {
	vs := q[name]
	if len(vs) != 1 || vs[0] == "" {
		return "", false
	}
	return vs[0], true
}

func encodeCursor(id bson.ObjectID) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// decodeCursor reads a cursor; an empty one means the first page.
func decodeCursor(s string) (bson.ObjectID, bool) {
	var id bson.ObjectID
	if s == "" {
		return id, true
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, !id.IsZero()
}
