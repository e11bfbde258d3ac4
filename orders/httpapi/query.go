package httpapi

import (
	"encoding/base64"
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
	sort string // as asked ("" for the default), for the next page's link
}

// parseList reads the listing's query string as tickets' listing does
// (httpx.Query).
func parseList(rawQuery string) (listParams, error) {
	var p listParams
	q := httpx.ParseQuery(rawQuery, httpx.ParamLimit, httpx.ParamCursor, httpx.ParamSort)
	p.Limit, _ = q.Limit(maxLimit)
	if s, ok := q.One(httpx.ParamCursor); ok {
		if after, ok := decodeCursor(s); ok {
			p.After = &after
		} else {
			q.Fail(httpx.ParamCursor, httpx.CursorMessage)
		}
	}
	p.sort, p.Newest = q.Sort()
	return p, q.Err()
}

// next is the query of the page after the one that ends with last.
func (p listParams) next(last store.Position) url.Values {
	v := url.Values{
		httpx.ParamLimit:  {strconv.Itoa(p.Limit)},
		httpx.ParamCursor: {encodeCursor(last)},
	}
	if p.sort != "" {
		v.Set(httpx.ParamSort, p.sort)
	}
	return v
}

// cursorLen is a cursor's length in bytes: createdAt in Unix milliseconds
// (big-endian) and the order's id.
const cursorLen = 8 + len(bson.ObjectID{})

// encodeCursor is the opaque cursor of a page that ends with last:
// base64url (unpadded) of its createdAt in milliseconds and its id.
func encodeCursor(last store.Position) string {
	b := make([]byte, 0, cursorLen)
	b = binary.BigEndian.AppendUint64(b, uint64(last.CreatedAt.UnixMilli()))
	b = append(b, last.ID[:]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor made by encodeCursor.
func decodeCursor(s string) (store.Position, bool) {
	var pos store.Position
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen {
		return pos, false
	}
	pos.CreatedAt = time.UnixMilli(int64(binary.BigEndian.Uint64(b))).UTC()
	copy(pos.ID[:], b[8:])
	return pos, !pos.ID.IsZero()
}
