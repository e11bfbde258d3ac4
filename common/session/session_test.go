package session_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"ticketing.dev/common/session"
)

func TestMintVerifyRoundTrip(t *testing.T) {
	keys := session.NewKeys("secret")
	token, err := keys.Mint("64b000000000000000000001", "a@b.co", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, err := keys.Verify(token)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "64b000000000000000000001" || u.Email != "a@b.co" || u.ExpiresAt-u.IssuedAt != 3600 || len(u.SessionID) < 20 {
		t.Fatalf("got %+v", u)
	}
	again, _ := keys.Mint("64b000000000000000000001", "a@b.co", time.Hour)
	if u2, _ := keys.Verify(again); u2.SessionID == u.SessionID {
		t.Fatalf("two sign-ins share session id %q", u.SessionID)
	}
}

// Signing out one session refuses its token and only its token, on every
// Keys that shares the list, and the API's user never shows the id.
func TestRevokedSessionIsRefused(t *testing.T) {
	keys := session.NewKeys("secret")
	first, _ := keys.Mint("u1", "a@b.co", time.Hour)
	second, _ := keys.Mint("u1", "a@b.co", time.Hour)
	u, err := keys.Verify(first)
	if err != nil {
		t.Fatal(err)
	}
	keys.Revocations().Revoke(u.SessionID, time.Unix(u.ExpiresAt, 0))
	if _, err := keys.Verify(first); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("revoked token: %v, want ErrRevoked", err)
	}
	if _, err := keys.Verify(second); err != nil {
		t.Fatalf("the user's other session: %v", err)
	}
	b, _ := json.Marshal(u)
	if strings.Contains(string(b), u.SessionID) {
		t.Fatalf("user JSON %s shows the session id", b)
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyRejects(t *testing.T) {
	keys := session.NewKeys("secret")
	now := time.Now()
	valid := jwt.MapClaims{"id": "u1", "email": "a@b.co", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	good, _ := keys.Mint("u1", "a@b.co", time.Hour)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"id":"admin","email":"x@y.z","exp":9999999999}`)) + "." + parts[2]

	tests := []struct {
		name  string
		token string
	}{
		{"tampered payload", tampered},
		{"wrong key", sign(t, jwt.SigningMethodHS256, []byte("other"), valid)},
		{"expired", sign(t, jwt.SigningMethodHS256, []byte("secret"), jwt.MapClaims{"id": "u1", "email": "a@b.co", "exp": now.Add(-time.Minute).Unix()})},
		{"no expiry", sign(t, jwt.SigningMethodHS256, []byte("secret"), jwt.MapClaims{"id": "u1", "email": "a@b.co"})},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid)},
		{"HS512 with the right key", sign(t, jwt.SigningMethodHS512, []byte("secret"), valid)},
		{"missing id", sign(t, jwt.SigningMethodHS256, []byte("secret"), jwt.MapClaims{"email": "a@b.co", "jti": "s1", "exp": now.Add(time.Hour).Unix()})},
		{"missing session id", sign(t, jwt.SigningMethodHS256, []byte("secret"), valid)},
		{"garbage", "not-a-jwt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if u, err := keys.Verify(tt.token); err == nil {
				t.Fatalf("accepted: %+v", u)
			}
		})
	}
}

func TestCookieFormatAndRequest(t *testing.T) {
	keys := session.NewKeys("secret")
	token, _ := keys.Mint("u1", "a@b.co", time.Hour)
	c := session.Cookie(token, true)
	raw, err := base64.StdEncoding.DecodeString(c.Value)
	if err != nil || string(raw) != `{"jwt":"`+token+`"}` {
		t.Fatalf("cookie value %q decodes to %q (%v)", c.Value, raw, err)
	}
	if c.Name != "session" || c.Path != "/" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("attributes: %+v", c)
	}
	if !strings.Contains(session.ClearCookie(false).String(), "Max-Age=0") {
		t.Fatalf("clear cookie does not expire: %s", session.ClearCookie(false))
	}

	expired, _ := session.NewKeys("secret").Mint("u1", "a@b.co", -time.Minute)
	otherKey, _ := session.NewKeys("another-secret").Mint("u2", "x@y.z", time.Hour)
	stale := session.Cookie(expired, false).Value
	foreign := session.Cookie(otherKey, false).Value
	tests := []struct {
		name    string
		cookies []*http.Cookie // in the order the browser sends them
		wantOK  bool
	}{
		{"session cookie", []*http.Cookie{{Name: "session", Value: c.Value}}, true},
		{"legacy express:sess", []*http.Cookie{{Name: "express:sess", Value: c.Value}}, true},
		{"not base64", []*http.Cookie{{Name: "session", Value: "%%%"}}, false},
		{"no jwt inside", []*http.Cookie{{Name: "session", Value: base64.StdEncoding.EncodeToString([]byte(`{}`))}}, false},
		{"other cookie", []*http.Cookie{{Name: "other", Value: c.Value}}, false},
		{"expired only", []*http.Cookie{{Name: "session", Value: stale}}, false},
		// A stale cookie of another path or domain can come first.
		{"expired first, valid second", []*http.Cookie{{Name: "session", Value: stale}, {Name: "session", Value: c.Value}}, true},
		{"garbage first, valid second", []*http.Cookie{{Name: "session", Value: "%%%"}, {Name: "session", Value: c.Value}}, true},
		{"other key first, valid third", []*http.Cookie{
			{Name: "session", Value: foreign}, {Name: "theme", Value: "dark"}, {Name: "session", Value: c.Value},
		}, true},
		{"every session cookie bad, legacy good", []*http.Cookie{
			{Name: "session", Value: stale}, {Name: "session", Value: foreign}, {Name: "express:sess", Value: c.Value},
		}, true},
		{"several, none valid", []*http.Cookie{{Name: "session", Value: stale}, {Name: "session", Value: foreign}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for _, c := range tt.cookies {
				r.AddCookie(c)
			}
			u, ok := keys.FromRequest(r)
			if ok != tt.wantOK || (ok && u.ID != "u1") {
				t.Fatalf("ok=%v user=%+v", ok, u)
			}
		})
	}

	// Cookies may also arrive in several Cookie headers (HTTP/2 splits them).
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Add("Cookie", "session="+stale)
	r.Header.Add("Cookie", "session="+c.Value)
	if u, ok := keys.FromRequest(r); !ok || u.ID != "u1" {
		t.Fatalf("valid cookie in a second Cookie header: ok=%v user=%+v", ok, u)
	}
}
