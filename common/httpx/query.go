package httpx

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"ticketing.dev/common/apperr"
)

// The paging parameters every list route reads the same way.
const (
	ParamLimit  = "limit"
	ParamCursor = "cursor"
	ParamSort   = "sort"
	// Sort orders: oldest first is the original's order and the default,
	// so its client sees the same lists; the site asks for newest.
	SortOldest = "oldest"
	SortNewest = "newest"
	// CursorMessage is the answer to a cursor a route cannot read.
	CursorMessage = "Invalid page cursor: use the Link header of the previous page"
)

// Query is a list route's query string, read strictly: every parameter the
// route knows is checked and each one that fails is reported under its own
// name, all at once (Err); a known parameter given twice is refused (which
// one would count?); an empty value counts as not given (a form's empty
// field); parameters the route does not know are ignored (the site
// forwards its own page's query string, whatever else a link put there).
type Query struct {
	values   url.Values
	problems []apperr.FieldError
}

// ParseQuery reads raw (the URL's RawQuery) for a route that knows these
// parameter names. Unlike url.ParseQuery, a pair it cannot decode is
// reported under its name instead of dropped (a badly escaped cursor is a
// 400, not the first page), and semicolons are plain characters.
func ParseQuery(raw string, known ...string) *Query {
	q := &Query{values: url.Values{}}
	bad := map[string]bool{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			q.problems = append(q.problems, apperr.FieldError{Message: "Malformed query string: a parameter name is not percent-encoded correctly"})
			continue
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			if !bad[key] {
				q.Fail(key, fmt.Sprintf("Parameter %s is not percent-encoded correctly", key))
			}
			bad[key] = true
			continue
		}
		q.values[key] = append(q.values[key], value)
	}
	for key := range bad {
		delete(q.values, key)
	}
	for _, name := range known {
		if len(q.values[name]) > 1 {
			q.Fail(name, fmt.Sprintf("Give %s at most once", name))
			delete(q.values, name)
		}
	}
	return q
}

// Fail reports a problem with a parameter.
func (q *Query) Fail(name, message string) {
	q.problems = append(q.problems, apperr.FieldError{Field: name, Message: message})
}

// One is the value of a parameter given once and not empty.
func (q *Query) One(name string) (string, bool) {
	vs := q.values[name]
	if len(vs) != 1 || vs[0] == "" {
		return "", false
	}
	return vs[0], true
}

// Limit reads limit, a whole number from 1 to most; given is false when
// it is absent.
func (q *Query) Limit(most int) (n int, given bool) {
	s, ok := q.One(ParamLimit)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		q.Fail(ParamLimit, fmt.Sprintf("Limit must be a whole number between 1 and %d", most))
	}
	return n, true
}

// Sort reads sort: SortOldest or SortNewest, as asked ("" when absent,
// for the next page's link).
func (q *Query) Sort() (sort string, newest bool) {
	s, ok := q.One(ParamSort)
	if !ok {
		return "", false
	}
	if s != SortNewest && s != SortOldest {
		q.Fail(ParamSort, "Sort must be "+SortNewest+" or "+SortOldest)
		return "", false
	}
	return s, s == SortNewest
}

// Err is the 400 of every problem found, or nil.
func (q *Query) Err() error {
	if len(q.problems) == 0 {
		return nil
	}
	return apperr.Validation(q.problems...)
}
