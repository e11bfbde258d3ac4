// Package session mints and verifies the HS256 JWT that identifies a user and
// encodes it in the `session` cookie the way the original cookie-session did:
// standard base64 of the JSON text {"jwt":"<token>"}.
package session

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	CookieName       = "session"
	LegacyCookieName = "express:sess"
)

// User is who a valid token says the caller is.
type User struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
}

type claims struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	jwt.RegisteredClaims
}

// Keys signs and verifies tokens with one shared secret.
type Keys struct {
	secret []byte
	now    func() time.Time
}

// MinKeyLen is the least length of JWT_KEY: 32 bytes, the 256 bits RFC 7518
// asks of an HS256 key.
const MinKeyLen = 32

// NewKeys returns Keys for the shared JWT_KEY.
func NewKeys(secret string) *Keys {
	return &Keys{secret: []byte(secret), now: time.Now}
}

// Mint returns a signed token for the user that expires after ttl.
func (k *Keys) Mint(id, email string, ttl time.Duration) (string, error) {
	now := k.now()
	c := claims{
		ID:    id,
		Email: email,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(k.secret)
}

// Verify checks the signature (HS256 only), the expiry and the claims.
func (k *Keys) Verify(token string) (User, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return k.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(k.now),
	)
	if err != nil {
		return User{}, err
	}
	if c.ID == "" || c.Email == "" {
		return User{}, errors.New("token lacks id or email")
	}
	u := User{ID: c.ID, Email: c.Email, ExpiresAt: c.ExpiresAt.Unix()}
	if c.IssuedAt != nil {
		u.IssuedAt = c.IssuedAt.Unix()
	}
	return u, nil
}

type cookieBody struct {
	JWT string `json:"jwt"`
}

// EncodeCookie turns a token into the cookie value.
func EncodeCookie(token string) string {
	b, _ := json.Marshal(cookieBody{JWT: token})
	return base64.StdEncoding.EncodeToString(b)
}

// DecodeCookie extracts the token from a cookie value.
func DecodeCookie(value string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		// Some clients strip base64 padding; accept that too.
		if raw, err = base64.RawStdEncoding.DecodeString(value); err != nil {
			return "", fmt.Errorf("session cookie is not base64: %w", err)
		}
	}
	var body cookieBody
	if err := json.Unmarshal(raw, &body); err != nil || body.JWT == "" {
		return "", errors.New("session cookie holds no jwt")
	}
	return body.JWT, nil
}

// FromRequest returns the user of the request's session cookie (or its legacy
// name). A browser may send several cookies of one name (a stale one set for
// another path or domain, sent first), so each is tried in turn and the
// first that verifies wins. Any problem means anonymous: ok is false.
func (k *Keys) FromRequest(r *http.Request) (User, bool) {
	for _, name := range []string{CookieName, LegacyCookieName} {
		for _, value := range cookieValues(r, name) {
			token, err := DecodeCookie(value)
			if err != nil {
				continue
			}
			if u, err := k.Verify(token); err == nil {
				return u, true
			}
		}
	}
	return User{}, false
}

// cookieValues reads every cookie of that name from the Cookie headers, in
// order. net/http's parser drops names with ':' (the legacy "express:sess"),
// so parse by hand.
func cookieValues(r *http.Request, name string) []string {
	var values []string
	for _, line := range r.Header.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && k == name {
				values = append(values, strings.Trim(v, `"`))
			}
		}
	}
	return values
}

// Cookie is the Set-Cookie for a token.
func Cookie(token string, secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName,
		Value:    EncodeCookie(token),
		Path:     "/",
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// ClearCookie is the Set-Cookie that removes the session.
func ClearCookie(secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName,
		Value:    "",
		Path:     "/",
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
		MaxAge:   -1,
		Expires:  time.Unix(0, 0),
	}
}
