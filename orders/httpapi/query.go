package httpapi

import (
	"encoding/binary"
	"net/url"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/httpx"
	"ticketing.dev/orders/store"
)

// maxLimit is the largest page the listing answers. Without limit it
// answers every order, as the original did (its client reads one array).
const maxLimit = 100

// listParams is a valid listing query.
type listParams struct {
	store.ListQuery
	sort string // as asked ("" for the default), for the pages' links
}

// parseList reads the listing's query string as tickets' listing does
// (httpx.Query).
func parseList(rawQuery string) (listParams, error) {
	var p listParams
	q := httpx.ParseQuery(rawQuery, httpx.ParamLimit, httpx.ParamCursor, httpx.ParamSort)
	p.Limit, _ = q.Limit(maxLimit)
	if s, ok := q.One(httpx.ParamCursor); ok {
		if after, back, ok := decodeCursor(s); ok {
			p.After, p.Backward = &after, back
		} else {
			q.Fail(httpx.ParamCursor, httpx.CursorMessage)
		}
	}
	p.sort, p.Newest = q.Sort()
	return p, q.Err()
}

// link is the query of the page next to the order at: the one after it,
// or with back the one before it.
func (p listParams) link(at store.Position, back bool) url.Values {
	v := url.Values{
		httpx.ParamLimit:  {strconv.Itoa(p.Limit)},
		httpx.ParamCursor: {encodeCursor(at, back)},
	}
	if p.sort != "" {
		v.Set(httpx.ParamSort, p.sort)
	}
	return v
}

// cursorLen is a cursor's length in bytes: createdAt in Unix milliseconds
// (big-endian) and the order's id.
const cursorLen = 8 + len(bson.ObjectID{})

// encodeCursor is the opaque cursor (httpx.EncodeCursor) of the order at:
// its createdAt in milliseconds and its id.
func encodeCursor(at store.Position, back bool) string {
	b := make([]byte, 0, cursorLen)
	b = binary.BigEndian.AppendUint64(b, uint64(at.CreatedAt.UnixMilli()))
	b = append(b, at.ID[:]...)
	return httpx.EncodeCursor(b, back)
}

// decodeCursor reads a cursor made by encodeCursor.
func decodeCursor(s string) (pos store.Position, back, ok bool) {
	b, back, ok := httpx.DecodeCursor(s, cursorLen)
	if !ok {
		return pos, false, false
	}
	pos.CreatedAt = time.UnixMilli(int64(binary.BigEndian.Uint64(b))).UTC()
	copy(pos.ID[:], b[8:])
	return pos, back, !pos.ID.IsZero()
}
