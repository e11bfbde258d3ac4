// Package session mints and verifies the HS256 JWT that identifies a user and
// encodes it in the `session` cookie the way the original cookie-session did:
// standard base64 of the JSON text {"jwt":"<token>"}.
package session

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
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
	// SessionID (the token's jti) names this sign-in, so that signing out
	// revokes it alone; it is not part of the API's user.
	SessionID string `json:"-"`
}

type claims struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	jwt.RegisteredClaims
}

// Keys signs and verifies tokens with one shared secret, and refuses the
// sessions its Revocations hold.
type Keys struct {
	secret  []byte
	now     func() time.Time
	revoked *Revocations
}

// MinKeyLen is the least length of JWT_KEY: 32 bytes, the 256 bits RFC 7518
// asks of an HS256 key.
const MinKeyLen = 32

// NewKeys returns Keys for the shared JWT_KEY.
func NewKeys(secret string) *Keys {
	return &Keys{secret: []byte(secret), now: time.Now, revoked: NewRevocations()}
}

// Revocations is the deny list Verify consults: a service fills it from the
// session.revoked events (service.Conns.Sessions).
func (k *Keys) Revocations() *Revocations { return k.revoked }

// ErrRevoked is the error of a token whose session was signed out.
var ErrRevoked = errors.New("session was signed out")

// Mint returns a signed token for the user that expires after ttl.
func (k *Keys) Mint(id, email string, ttl time.Duration) (string, error) {
	now := k.now()
	c := claims{
		ID:    id,
		Email: email,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        rand.Text(),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(k.secret)
}

// Verify checks the signature (HS256 only), the expiry, the claims (a
// session id among them) and that the session was not signed out.
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
	if c.ID == "" || c.Email == "" || c.RegisteredClaims.ID == "" {
		return User{}, errors.New("token lacks id, email or session id")
	}
	if k.revoked.Revoked(c.RegisteredClaims.ID) {
		return User{}, ErrRevoked
	}
	u := User{ID: c.ID, Email: c.Email, ExpiresAt: c.ExpiresAt.Unix(), SessionID: c.RegisteredClaims.ID}
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

// Revocations is a deny list of session ids, each kept until its token
// expires (after that the token is refused anyway). Safe for concurrent use.
type Revocations struct {
	mu     sync.RWMutex
	until  map[string]time.Time
	pruned int // the list's size after the last prune
	now    func() time.Time
}

// NewRevocations returns an empty deny list.
func NewRevocations() *Revocations {
	return &Revocations{until: map[string]time.Time{}, now: time.Now}
}

// Revoke adds a session whose token expires at expires. Whenever the list
// has doubled since it was last pruned, expired sessions are dropped, so it
// holds about the sessions signed out within one token lifetime.
func (r *Revocations) Revoke(sessionID string, expires time.Time) {
	now := r.now()
	if sessionID == "" || !expires.After(now) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.until[sessionID] = expires
	if len(r.until) > max(2*r.pruned, 64) {
		for id, t := range r.until {
			if !t.After(now) {
				delete(r.until, id)
			}
		}
		r.pruned = len(r.until)
	}
}

// Revoked reports whether the session was signed out.
func (r *Revocations) Revoked(sessionID string) bool {
	r.mu.RLock()
	_, ok := r.until[sessionID]
	r.mu.RUnlock()
	return ok
}

// Len is how many sessions the list holds.
func (r *Revocations) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.until)
}
