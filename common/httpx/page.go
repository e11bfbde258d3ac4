package httpx

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// A page cursor is where a page of a listing starts, as the listing's own
// position bytes (an id, or a time and an id), base64url without padding.
// A forward cursor names the item just before the page in the listing's
// order (the last item of the previous page): the page is what follows it.
// A backward cursor (one marker byte, then the position) names the item
// just after the page (the first item of the next page): the page is what
// precedes it, for a Previous link. Clients treat both as opaque.
const backMarker = 'b'

// EncodeCursor is the cursor of pos, forward or back.
func EncodeCursor(pos []byte, back bool) string {
	if back {
		pos = append([]byte{backMarker}, pos...)
	}
	return base64.RawURLEncoding.EncodeToString(pos)
}

// DecodeCursor reads a cursor whose position is size bytes long.
func DecodeCursor(s string, size int) (pos []byte, back, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	switch {
	case err != nil:
		return nil, false, false
	case len(b) == size:
		return b, false, true
	case len(b) == size+1 && b[0] == backMarker:
		return b[1:], true, true
	}
	return nil, false, false
}

// Page is how a page of a listing was read, which tells its neighbours.
type Page struct {
	Back   bool // read backward from a backward cursor
	Cursor bool // a cursor was given (otherwise it is the first page)
	More   bool // more items lie beyond it in the direction it was read
	N      int  // the items on it
}

// HasPrev reports whether a page comes before it: a cursor led to it, or
// it was read backward with more beyond. The previous page's cursor is the
// backward cursor of its first item.
func (p Page) HasPrev() bool {
	if p.Back {
		return p.More
	}
	return p.Cursor && p.N > 0
}

// HasNext reports whether a page follows it; the next page's cursor is the
// forward cursor of its last item.
func (p Page) HasNext() bool {
	if p.Back {
		return p.N > 0
	}
	return p.More
}

// SetPageLinks sets the Link header of a page (RFC 8288): rel="prev" and
// rel="next" with the queries of those pages on path; a nil query is no
// link, and no link at all is no header.
func SetPageLinks(w http.ResponseWriter, path string, prev, next url.Values) {
	var links []string
	if prev != nil {
		links = append(links, fmt.Sprintf(`<%s?%s>; rel="prev"`, path, prev.Encode()))
	}
	if next != nil {
		links = append(links, fmt.Sprintf(`<%s?%s>; rel="next"`, path, next.Encode()))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
}
