package httpapi

import (
	"net/http/httptest"
	"testing"
)

func TestClientAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		hops   int
		want   string
	}{
		{"peer", "192.0.2.1:1234", nil, 0, "192.0.2.1"},
		{"header ignored without trusted hops", "192.0.2.1:1234", []string{"203.0.113.9"}, 0, "192.0.2.1"},
		{"IPv6 peer: its /64", "[2001:db8::1]:1234", nil, 0, "2001:db8::/64"},
		{"another address of the same /64", "[2001:db8::ffff:abcd:1]:1234", nil, 0, "2001:db8::/64"},
		{"the next /64", "[2001:db8:0:1::1]:1234", nil, 0, "2001:db8:0:1::/64"},
		{"zoned link-local", "[fe80::1%eth0]:1234", nil, 0, "fe80::/64"},
		{"IPv4-mapped IPv6 peer", "[::ffff:192.0.2.1]:1234", nil, 0, "192.0.2.1"},
		{"one hop: last entry", "10.0.0.1:1", []string{"198.51.100.1, 203.0.113.9"}, 1, "203.0.113.9"},
		{"two hops", "10.0.0.1:1", []string{"198.51.100.1, 203.0.113.9, 10.0.0.2"}, 2, "203.0.113.9"},
		{"several headers are one list", "10.0.0.1:1", []string{"198.51.100.1", "203.0.113.9"}, 1, "203.0.113.9"},
		{"fewer entries than hops", "10.0.0.1:1", []string{"203.0.113.9"}, 2, "203.0.113.9"},
		{"no header behind a proxy", "10.0.0.1:1", nil, 1, "10.0.0.1"},
		{"entry not an address", "10.0.0.1:1", []string{"unknown"}, 1, "10.0.0.1"},
		{"entry canonicalised", "10.0.0.1:1", []string{"2001:DB8:0::1"}, 1, "2001:db8::/64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, tc.hops); got != tc.want {
				t.Fatalf("clientAddr = %q, want %q", got, tc.want)
			}
		})
	}
}
