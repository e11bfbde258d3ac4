package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/auth/httpapi"
	"ticketing.dev/auth/password"
	"ticketing.dev/auth/ratelimit"
	"ticketing.dev/auth/store"
	"ticketing.dev/common/apperr"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/server"
	"ticketing.dev/common/session"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
)

const tokenTTL = 2 * time.Hour

// The hasher is the production one (OWASP argon2id); building it costs a
// hash, so tests share one.
var sharedHasher = sync.OnceValue(func() *password.Hasher {
	h, err := password.New(password.OWASP, 4)
	if err != nil {
		panic(err)
	}
	return h
})

type options struct {
	cookieSecure bool
	perEmail     int           // RATE_LIMIT_PER_EMAIL: per client and email, and per email
	perAddr      int           // RATE_LIMIT_PER_ADDR
	maxDelay     time.Duration // MaxEmailDelay (default 2 s, as main)
	hops         int
}

type service struct {
	handler http.Handler
	db      *mongo.Database
}

// newService builds the real handler over a fresh database. Rate limits are
// generous unless a test asks otherwise.
func newService(t testing.TB, opts options) *service {
	t.Helper()
	if opts.perEmail == 0 {
		opts.perEmail = 1_000_000
	}
	if opts.perAddr == 0 {
		opts.perAddr = 1_000_000
	}
	if opts.maxDelay == 0 {
		opts.maxDelay = 2 * time.Second
	}
	db := mongokit.Mongo(t)
	users := store.NewUsers(db)
	if err := users.EnsureIndexes(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(httpapi.Deps{
		Log:              testkit.Logger(t),
		Keys:             testkit.Keys(),
		Users:            users,
		Revocations:      store.NewRevocations(db, func(any, ...outbox.Event) {}), // no relay here: main_test has one
		Hasher:           sharedHasher(),
		Checks:           map[string]server.Check{"mongo": mongodb.Ping(db.Client())},
		TokenTTL:         tokenTTL,
		CookieSecure:     opts.cookieSecure,
		PerAddr:          ratelimit.PerMinute(opts.perAddr),
		PerClientEmail:   ratelimit.PerMinute(opts.perEmail),
		PerEmail:         ratelimit.PerMinute(opts.perEmail),
		MaxEmailDelay:    opts.maxDelay,
		TrustedProxyHops: opts.hops,
	})
	return &service{handler: h, db: db}
}

// signup creates a user and returns its session cookie.
func (s *service) signup(t testing.TB, email, pw string) *http.Cookie {
	t.Helper()
	res := testkit.Call(t, s.handler, http.MethodPost, "/api/users/signup", credentials(email, pw))
	if res.Status != http.StatusCreated {
		t.Fatalf("signup %s: %d %s", email, res.Status, res.Body)
	}
	return sessionCookie(t, res)
}

func (s *service) countUsers(t testing.TB) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := s.db.Collection("users").CountDocuments(ctx, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func credentials(email, pw string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	return string(b)
}

// cookies parses the answer's Set-Cookie headers.
func cookies(res testkit.Response) []*http.Cookie {
	return (&http.Response{Header: res.Header}).Cookies()
}

// sessionCookie returns the answer's `session` Set-Cookie.
func sessionCookie(t testing.TB, res testkit.Response) *http.Cookie {
	t.Helper()
	for _, c := range cookies(res) {
		if c.Name == session.CookieName {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", res.Header.Values("Set-Cookie"))
	return nil
}

// fromAddr serves h as if the request came from addr (the peer's host)
// with the X-Forwarded-For header xff (none when empty).
func fromAddr(h http.Handler, addr, xff string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = addr + ":40000"
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		h.ServeHTTP(w, r)
	})
}

// errs is the error envelope's list, in order.
func errs(e ...apperr.FieldError) []apperr.FieldError { return e }

// assertJSON compares JSON texts by value.
func assertJSON(t testing.TB, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %q", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("body = %s\nwant   %s", got, want)
	}
}
