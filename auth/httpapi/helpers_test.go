package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/auth/httpapi"
	"ticketing.dev/auth/password"
	"ticketing.dev/auth/ratelimit"
	"ticketing.dev/auth/store"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/server"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
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
	perEmail     int
	perAddr      int
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
	db := testkit.Mongo(t)
	users := store.NewUsers(db)
	if err := users.EnsureIndexes(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(httpapi.Deps{
		Log:              testkit.Logger(t),
		Keys:             testkit.Keys(),
		Users:            users,
		Hasher:           sharedHasher(),
		Checks:           map[string]server.Check{"mongo": mongodb.Ping(db.Client())},
		TokenTTL:         tokenTTL,
		CookieSecure:     opts.cookieSecure,
		PerEmail:         ratelimit.PerMinute(opts.perEmail),
		PerAddr:          ratelimit.PerMinute(opts.perAddr),
		TrustedProxyHops: opts.hops,
	})
	return &service{handler: h, db: db}
}

type response struct {
	*http.Response
	body []byte
}

func (s *service) do(t testing.TB, method, path, body string, cookies ...*http.Cookie) response {
	t.Helper()
	return s.doRequest(t, newRequest(method, path, body, cookies...))
}

func newRequest(method, path, body string, cookies ...*http.Cookie) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return req
}

func (s *service) doRequest(t testing.TB, req *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	res := rec.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Response: res, body: b}
}

// signup creates a user and returns its session cookie.
func (s *service) signup(t testing.TB, email, pw string) *http.Cookie {
	t.Helper()
	res := s.do(t, http.MethodPost, "/api/users/signup", credentials(email, pw))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("signup %s: %d %s", email, res.StatusCode, res.body)
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

// sessionCookie returns the response's `session` Set-Cookie.
func sessionCookie(t testing.TB, res response) *http.Cookie {
	t.Helper()
	for _, c := range res.Cookies() {
		if c.Name == session.CookieName {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", res.Header.Values("Set-Cookie"))
	return nil
}

// errorsBody is the contract's error envelope.
func errorsBody(pairs ...string) string {
	type fieldError struct {
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	}
	var errs []fieldError
	for i := 0; i < len(pairs); i += 2 {
		errs = append(errs, fieldError{Message: pairs[i], Field: pairs[i+1]})
	}
	b, _ := json.Marshal(map[string]any{"errors": errs})
	return string(b)
}

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

func assertStatus(t testing.TB, res response, want int) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("status = %d, want %d; body %s", res.StatusCode, want, res.body)
	}
}
