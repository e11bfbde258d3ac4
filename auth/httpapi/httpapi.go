// Package httpapi serves auth's routes under /api/users: sign up, sign in,
// sign out and the current user.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/auth/password"
	"ticketing.dev/auth/ratelimit"
	"ticketing.dev/auth/store"
	"ticketing.dev/common/apperr"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/server"
	"ticketing.dev/common/session"
)

// Deps is everything the handler needs.
type Deps struct {
	Log   *slog.Logger
	Keys  *session.Keys
	Users *store.Users
	// Revocations records sign-outs (and tells every service).
	Revocations *store.Revocations
	Hasher      *password.Hasher
	// Checks are the readiness checks of /readyz.
	Checks map[string]server.Check

	TokenTTL     time.Duration
	CookieSecure bool
	// PerAddr limits sign-up and sign-in attempts per client address: one
	// over is answered 429.
	PerAddr *ratelimit.Limiter
	// PerClientEmail limits failed sign-ins per client address and email:
	// one over is answered 429, to that client only.
	PerClientEmail *ratelimit.Limiter
	// PerEmail counts failed sign-ins per email from every address. Once it
	// is spent, every sign-in of that email first waits until it would
	// allow one again, at most MaxEmailDelay: an email under attack is
	// slowed down, never refused, so its owner can still sign in.
	PerEmail      *ratelimit.Limiter
	MaxEmailDelay time.Duration
	// TrustedProxyHops is how many proxies in front of the service append to
	// X-Forwarded-For; 0 ignores the header and uses the connection's address.
	TrustedProxyHops int
}

type api struct{ Deps }

// New returns the service's whole HTTP handler.
func New(d Deps) http.Handler {
	a := &api{d}
	handle := httpx.Boundary(d.Log, errorFor)
	r := httpx.NewRouter(d.Log, d.Keys)
	server.Health(r, d.Log, d.Checks)
	r.Route("/api/users", func(r chi.Router) {
		r.Post("/signup", handle(a.signup))
		r.Post("/signin", handle(a.signin))
		r.Post("/signout", handle(a.signout))
		r.Get("/currentuser", handle(a.currentUser))
	})
	return r
}

type signupRequest struct {
	Email    string `json:"email" validate:"required,max=254,email" msg:"Email must be valid"`
	Password string `json:"password" validate:"min=4,max=20" msg:"Password must be between 4 and 20 characters"`
}

func (s *signupRequest) Normalize() {
	s.Email = normalizeEmail(s.Email)
	s.Password = strings.TrimSpace(s.Password)
}

type signinRequest struct {
	Email    string `json:"email" validate:"required,max=254,email" msg:"Email must be valid"`
	Password string `json:"password" validate:"required" msg:"You must supply a password"`
}

func (s *signinRequest) Normalize() {
	s.Email = normalizeEmail(s.Email)
	s.Password = strings.TrimSpace(s.Password)
}

func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

type userResponse struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

var errInvalidCredentials = apperr.BadRequest("Invalid credentials")

func (a *api) signup(w http.ResponseWriter, r *http.Request) error {
	if err := limit(a.PerAddr, clientAddr(r, a.TrustedProxyHops)); err != nil {
		return err
	}
	var req signupRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		return err
	}
	// Checked first only to spare a hash; the unique index decides.
	if _, found, err := a.Users.ByEmail(r.Context(), req.Email); err != nil {
		return err
	} else if found {
		return store.ErrEmailInUse
	}
	hash, err := a.Hasher.Hash(r.Context(), req.Password)
	if err != nil {
		return err
	}
	user, err := a.Users.Create(r.Context(), req.Email, hash)
	if err != nil {
		return err
	}
	return a.startSession(w, http.StatusCreated, user)
}

// signin checks the credentials under three limits (README "Rate limits"):
// attempts per client address, failures per client address and email (both
// 429), and failures per email from anywhere, which only slow the email's
// sign-ins down. Only wrong credentials count as failures.
func (a *api) signin(w http.ResponseWriter, r *http.Request) error {
	addr := clientAddr(r, a.TrustedProxyHops)
	if err := limit(a.PerAddr, addr); err != nil {
		return err
	}
	var req signinRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		return err
	}
	// Taken now, so that concurrent guesses cannot all pass; given back
	// below unless the credentials were wrong. (An address holds no space,
	// so the key is unambiguous.)
	client := addr + " " + req.Email
	if err := limit(a.PerClientEmail, client); err != nil {
		return err
	}
	if err := a.slowDown(r.Context(), req.Email); err != nil {
		a.PerClientEmail.Refund(client)
		return err
	}
	user, err := a.authenticate(r.Context(), req)
	if errors.Is(err, errInvalidCredentials) {
		a.PerEmail.Allow(req.Email) // a failure against the email, from anywhere
		return err
	}
	a.PerClientEmail.Refund(client)
	if err != nil {
		return err
	}
	return a.startSession(w, http.StatusOK, user)
}

// authenticate returns the user whose email and password these are, or
// errInvalidCredentials.
func (a *api) authenticate(ctx context.Context, req signinRequest) (store.User, error) {
	user, found, err := a.Users.ByEmail(ctx, req.Email)
	if err != nil {
		return store.User{}, err
	}
	if !found {
		// As slow as a wrong password, so timing does not tell which emails exist.
		if err := a.Hasher.VerifyDummy(ctx, req.Password); err != nil {
			return store.User{}, err
		}
		return store.User{}, errInvalidCredentials
	}
	ok, err := a.Hasher.Verify(ctx, user.PasswordHash, req.Password)
	if err != nil {
		return store.User{}, err
	}
	if !ok {
		return store.User{}, errInvalidCredentials
	}
	return user, nil
}

// slowDown makes a sign-in of an email whose failures (from every address)
// have spent PerEmail wait until PerEmail would allow one again, at most
// MaxEmailDelay. It gives up when the request ends.
func (a *api) slowDown(ctx context.Context, email string) error {
	d := min(a.PerEmail.Wait(email), a.MaxEmailDelay)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *api) startSession(w http.ResponseWriter, status int, user store.User) error {
	id := user.ID.Hex()
	token, err := a.Keys.Mint(id, user.Email, a.TokenTTL)
	if err != nil {
		return apperr.Internal(err)
	}
	http.SetCookie(w, session.Cookie(token, a.CookieSecure))
	httpx.WriteJSON(w, status, userResponse{ID: id, Email: user.Email})
	return nil
}

// signout revokes the session of the request's cookie everywhere (its
// token is refused by every service from then on) and clears the cookie. A
// revocation that cannot be stored is an error: the cookie is still cleared
// in this browser, and signing out again revokes it.
func (a *api) signout(w http.ResponseWriter, r *http.Request) error {
	clear := session.ClearCookie(a.CookieSecure)
	http.SetCookie(w, clear)
	// A legacy cookie would otherwise keep the user signed in. net/http
	// refuses cookie names with ':' both ways, so read and write it by hand.
	if hasCookie(r, session.LegacyCookieName) {
		w.Header().Add("Set-Cookie", session.LegacyCookieName+strings.TrimPrefix(clear.String(), clear.Name))
	}
	if u, ok := httpx.UserFrom(r.Context()); ok {
		if err := a.Revocations.Revoke(r.Context(), u); err != nil {
			return err
		}
		// This replica refuses it at once; the others when the event comes.
		a.Keys.Revocations().Revoke(u.SessionID, time.Unix(u.ExpiresAt, 0))
	}
	httpx.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// hasCookie reports whether the request carries a cookie of that name.
func hasCookie(r *http.Request, name string) bool {
	for _, line := range r.Header.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			if k, _, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == name {
				return true
			}
		}
	}
	return false
}

type currentUserResponse struct {
	CurrentUser *session.User `json:"currentUser"`
}

func (a *api) currentUser(w http.ResponseWriter, r *http.Request) error {
	var resp currentUserResponse
	if u, ok := httpx.UserFrom(r.Context()); ok {
		resp.CurrentUser = &u
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// limit takes one attempt of key from l, or answers 429 with the time until
// the next one is allowed.
func limit(l *ratelimit.Limiter, key string) error {
	if d := l.Allow(key); d > 0 {
		return apperr.TooManyRequests(d)
	}
	return nil
}

// clientAddr is the address rate limits count against. With hops trusted
// proxies in front, the client is the entry the outermost of them appended
// to X-Forwarded-For (entries further left are the client's own claims and
// could be forged); otherwise it is the connection's peer.
func clientAddr(r *http.Request, hops int) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	if hops <= 0 {
		return canonicalIP(peer)
	}
	var entries []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for e := range strings.SplitSeq(h, ",") {
			if e = strings.TrimSpace(e); e != "" {
				entries = append(entries, e)
			}
		}
	}
	if len(entries) == 0 {
		return canonicalIP(peer)
	}
	i := max(len(entries)-hops, 0)
	if _, err := netip.ParseAddr(entries[i]); err != nil {
		return canonicalIP(peer)
	}
	return canonicalIP(entries[i])
}

// canonicalIP is the key of one client: an IPv4 address, or the /64 of an
// IPv6 one (a single host is handed a whole /64 and may pick any address in
// it, so counting addresses would let it escape the limit).
func canonicalIP(s string) string {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
	return addr.String()
}
