package httpx_test

import (
	"bytes"
	"net/http/httptest"
	"net/url"
	"testing"

	"ticketing.dev/common/httpx"
)

func TestCursorRoundTrip(t *testing.T) {
	pos := []byte("0123456789ab")
	for _, back := range []bool{false, true} {
		got, gotBack, ok := httpx.DecodeCursor(httpx.EncodeCursor(pos, back), len(pos))
		if !ok || gotBack != back || !bytes.Equal(got, pos) {
			t.Fatalf("back=%t: decoded %q, %t, %t", back, got, gotBack, ok)
		}
	}
	bad := []string{
		"", "!!!", "%25%25",
		httpx.EncodeCursor(pos[:11], false),                    // too short
		httpx.EncodeCursor(append(pos, 'x', 'y'), false),       // too long
		httpx.EncodeCursor(append([]byte{'x'}, pos...), false), // one longer, not the marker
	}
	for _, s := range bad {
		if _, _, ok := httpx.DecodeCursor(s, len(pos)); ok {
			t.Errorf("DecodeCursor(%q) accepted", s)
		}
	}
}

func TestPageNeighbours(t *testing.T) {
	tests := []struct {
		name       string
		page       httpx.Page
		prev, next bool
	}{
		{"first page, more", httpx.Page{More: true, N: 2}, false, true},
		{"first page, all", httpx.Page{N: 2}, false, false},
		{"empty listing", httpx.Page{}, false, false},
		{"middle page", httpx.Page{Cursor: true, More: true, N: 2}, true, true},
		{"last page", httpx.Page{Cursor: true, N: 1}, true, false},
		{"past the end", httpx.Page{Cursor: true}, false, false},
		{"read back, more before", httpx.Page{Back: true, Cursor: true, More: true, N: 2}, true, true},
		{"read back to the start", httpx.Page{Back: true, Cursor: true, N: 2}, false, true},
		{"read back, nothing before", httpx.Page{Back: true, Cursor: true}, false, false},
	}
	for _, tt := range tests {
		if prev, next := tt.page.HasPrev(), tt.page.HasNext(); prev != tt.prev || next != tt.next {
			t.Errorf("%s: prev %t next %t, want %t %t", tt.name, prev, next, tt.prev, tt.next)
		}
	}
}

func TestSetPageLinks(t *testing.T) {
	q := url.Values{"cursor": {"abc"}, "limit": {"2"}}
	tests := []struct {
		name       string
		prev, next url.Values
		want       string
	}{
		{"none", nil, nil, ""},
		{"next", nil, q, `</api/x?cursor=abc&limit=2>; rel="next"`},
		{"prev", q, nil, `</api/x?cursor=abc&limit=2>; rel="prev"`},
		{"both", q, q, `</api/x?cursor=abc&limit=2>; rel="prev", </api/x?cursor=abc&limit=2>; rel="next"`},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		httpx.SetPageLinks(w, "/api/x", tt.prev, tt.next)
		if got, has := w.Header().Get("Link"), len(w.Header().Values("Link")) > 0; got != tt.want || has != (tt.want != "") {
			t.Errorf("%s: Link %q, want %q", tt.name, got, tt.want)
		}
	}
}
