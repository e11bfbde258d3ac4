package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/auth/store"
	"ticketing.dev/common/apperr"
	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/session"
	"ticketing.dev/testkit"
)

var objectID = regexp.MustCompile(`^[0-9a-f]{24}$`)

const (
	msgEmail      = "Email must be valid"
	msgPassword   = "Password must be between 4 and 20 characters"
	msgNoPassword = "You must supply a password"
)

// oversized is a syntactically valid body just over the 1 MiB limit.
var oversized = `{"email":"` + strings.Repeat("a", 1<<20) + `@example.com","password":"secret"}`

func TestSignup(t *testing.T) {
	t.Parallel()
	svc := newService(t, options{})
	svc.signup(t, "taken@example.com", "secret")

	for _, tc := range []struct {
		name       string
		body       string
		status     int
		wantErrors []apperr.FieldError // for errors
		wantEmail  string              // for success
	}{
		// Success
		{name: "valid", body: credentials("new@example.com", "secret"), status: 201, wantEmail: "new@example.com"},
		{name: "email trimmed and lower-cased", body: credentials("  Mixed.Case@Example.COM ", "secret"), status: 201, wantEmail: "mixed.case@example.com"},
		{name: "password of 4", body: credentials("four@example.com", "abcd"), status: 201, wantEmail: "four@example.com"},
		{name: "password of 20", body: credentials("twenty@example.com", strings.Repeat("p", 20)), status: 201, wantEmail: "twenty@example.com"},
		{name: "password over 20 only by surrounding spaces", body: credentials("spaces@example.com", "   "+strings.Repeat("p", 20)+"  "), status: 201, wantEmail: "spaces@example.com"},
		{name: "20 multi-byte characters", body: credentials("runes@example.com", strings.Repeat("é", 20)), status: 201, wantEmail: "runes@example.com"},

		// Validation
		{name: "invalid email", body: credentials("not-an-email", "secret"), status: 400, wantErrors: errs(testkit.FieldMsg("email", msgEmail))},
		{name: "blank email", body: credentials("   ", "secret"), status: 400, wantErrors: errs(testkit.FieldMsg("email", msgEmail))},
		{name: "email not a string", body: `{"email":42,"password":"secret"}`, status: 400, wantErrors: errs(testkit.FieldMsg("email", msgEmail))},
		{name: "short password", body: credentials("short@example.com", "abc"), status: 400, wantErrors: errs(testkit.FieldMsg("password", msgPassword))},
		{name: "short once trimmed", body: credentials("trim@example.com", "  abc  "), status: 400, wantErrors: errs(testkit.FieldMsg("password", msgPassword))},
		{name: "long password", body: credentials("long@example.com", strings.Repeat("p", 21)), status: 400, wantErrors: errs(testkit.FieldMsg("password", msgPassword))},
		{name: "missing password", body: `{"email":"nopw@example.com"}`, status: 400, wantErrors: errs(testkit.FieldMsg("password", msgPassword))},
		{name: "missing email", body: `{"password":"secret"}`, status: 400, wantErrors: errs(testkit.FieldMsg("email", msgEmail))},
		{name: "both invalid", body: credentials("nope", "x"), status: 400, wantErrors: errs(testkit.FieldMsg("email", msgEmail), testkit.FieldMsg("password", msgPassword))},
		{name: "empty object", body: `{}`, status: 400, wantErrors: errs(testkit.FieldMsg("email", msgEmail), testkit.FieldMsg("password", msgPassword))},
		{name: "empty body", body: ``, status: 400, wantErrors: errs(testkit.FieldMsg("email", msgEmail), testkit.FieldMsg("password", msgPassword))},

		// Email in use
		{name: "duplicate email", body: credentials("taken@example.com", "other1"), status: 400, wantErrors: errs(testkit.Msg("Email in use"))},
		{name: "duplicate differing in case and spaces", body: credentials("  TAKEN@Example.Com  ", "other1"), status: 400, wantErrors: errs(testkit.Msg("Email in use"))},

		// Body
		{name: "malformed JSON", body: `{"email":`, status: 400, wantErrors: errs(testkit.Msg("Invalid JSON body"))},
		{name: "not an object", body: `"hello"`, status: 400, wantErrors: errs(testkit.Msg("Invalid JSON body"))},
		{name: "oversized body", body: oversized, status: 413, wantErrors: errs(testkit.Msg("Request body too large"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := testkit.Call(t, svc.handler, http.MethodPost, "/api/users/signup", tc.body)
			if tc.status != http.StatusCreated {
				res.WantErrors(t, tc.status, tc.wantErrors...)
				if len(cookies(res)) != 0 {
					t.Fatalf("a failed signup set cookies: %v", res.Header.Values("Set-Cookie"))
				}
				return
			}
			var user struct{ ID, Email string }
			res.Want(t, tc.status).Decode(t, &user)
			if !objectID.MatchString(user.ID) || user.Email != tc.wantEmail {
				t.Fatalf("body = %s, want an ObjectId and email %q", res.Body, tc.wantEmail)
			}
			assertJSON(t, res.Body, `{"id":"`+user.ID+`","email":"`+tc.wantEmail+`"}`)
			u, err := testkit.Keys().Verify(mustToken(t, sessionCookie(t, res)))
			if err != nil || u.ID != user.ID || u.Email != tc.wantEmail {
				t.Fatalf("session of the cookie: %+v, %v", u, err)
			}
		})
	}
}

func TestSignin(t *testing.T) {
	t.Parallel()
	svc := newService(t, options{})
	var created struct{ ID string }
	testkit.Call(t, svc.handler, http.MethodPost, "/api/users/signup", credentials("User@Example.com", "  right-pw  ")).
		Want(t, http.StatusCreated).Decode(t, &created)
	svc.signup(t, "spaced@example.com", "   "+strings.Repeat("s", 20)+"  ")

	ok := func(email string) string { return `{"id":"` + created.ID + `","email":"` + email + `"}` }
	invalid := errs(testkit.Msg("Invalid credentials"))
	for _, tc := range []struct {
		name       string
		body       string
		status     int
		wantBody   string              // for success
		wantErrors []apperr.FieldError // for errors
	}{
		{"right password", credentials("user@example.com", "right-pw"), 200, ok("user@example.com"), nil},
		{"email in other case and spaces", credentials("  USER@example.COM ", "right-pw"), 200, ok("user@example.com"), nil},
		{"password with surrounding spaces", credentials("user@example.com", " right-pw "), 200, ok("user@example.com"), nil},
		{"wrong password", credentials("user@example.com", "wrong-pw"), 400, "", invalid},
		{"password in other case", credentials("user@example.com", "RIGHT-PW"), 400, "", invalid},
		{"unknown email", credentials("nobody@example.com", "right-pw"), 400, "", invalid},
		{"invalid email", credentials("user-at-example.com", "right-pw"), 400, "", errs(testkit.FieldMsg("email", msgEmail))},
		{"missing password", `{"email":"user@example.com"}`, 400, "", errs(testkit.FieldMsg("password", msgNoPassword))},
		{"blank password", credentials("user@example.com", "   "), 400, "", errs(testkit.FieldMsg("password", msgNoPassword))},
		{"missing email", `{"password":"right-pw"}`, 400, "", errs(testkit.FieldMsg("email", msgEmail))},
		{"empty body", ``, 400, "", errs(testkit.FieldMsg("email", msgEmail), testkit.FieldMsg("password", msgNoPassword))},
		{"password not a string", `{"email":"user@example.com","password":123}`, 400, "", errs(testkit.FieldMsg("password", msgNoPassword))},
		{"malformed JSON", `{"email":"user@example.com",`, 400, "", errs(testkit.Msg("Invalid JSON body"))},
		{"oversized body", oversized, 413, "", errs(testkit.Msg("Request body too large"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := testkit.Call(t, svc.handler, http.MethodPost, "/api/users/signin", tc.body)
			if tc.status != http.StatusOK {
				res.WantErrors(t, tc.status, tc.wantErrors...)
			} else {
				assertJSON(t, res.Want(t, tc.status).Body, tc.wantBody)
			}
			if tc.status == 200 {
				u, err := testkit.Keys().Verify(mustToken(t, sessionCookie(t, res)))
				if err != nil || u.ID != created.ID {
					t.Fatalf("session of the cookie: %+v, %v", u, err)
				}
			} else if len(cookies(res)) != 0 {
				t.Fatalf("a failed signin set cookies: %v", res.Header.Values("Set-Cookie"))
			}
		})
	}

	t.Run("password over 20 only by surrounding spaces", func(t *testing.T) {
		t.Parallel()
		testkit.Call(t, svc.handler, http.MethodPost, "/api/users/signin", credentials("spaced@example.com", strings.Repeat("s", 20))).
			Want(t, http.StatusOK)
	})
}

func TestSessionCookieAttributes(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{true, false} {
		t.Run("COOKIE_SECURE="+strconv.FormatBool(secure), func(t *testing.T) {
			t.Parallel()
			svc := newService(t, options{cookieSecure: secure})
			email := "cookie@example.com"
			for _, route := range []struct {
				path   string
				status int
			}{{"/api/users/signup", 201}, {"/api/users/signin", 200}} {
				before := time.Now().Unix()
				res := testkit.Call(t, svc.handler, http.MethodPost, route.path, credentials(email, "secret")).Want(t, route.status)
				if n := len(res.Header.Values("Set-Cookie")); n != 1 {
					t.Fatalf("%s: %d Set-Cookie headers, want 1", route.path, n)
				}
				c := sessionCookie(t, res)
				if c.Path != "/" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure {
					t.Fatalf("%s: cookie %q: want Path=/, HttpOnly, SameSite=Lax, Secure=%v",
						route.path, res.Header.Get("Set-Cookie"), secure)
				}
				if c.MaxAge != 0 || !c.Expires.IsZero() {
					t.Fatalf("%s: cookie %q is not a session cookie", route.path, res.Header.Get("Set-Cookie"))
				}
				// The value is base64 of {"jwt":"<token>"} (cookie-session's format).
				raw, err := base64.StdEncoding.DecodeString(c.Value)
				if err != nil {
					t.Fatalf("cookie value is not standard base64: %v", err)
				}
				var body map[string]string
				if err := json.Unmarshal(raw, &body); err != nil || len(body) != 1 || body["jwt"] == "" {
					t.Fatalf("cookie holds %s, want {\"jwt\":...}", raw)
				}
				u, err := testkit.Keys().Verify(body["jwt"])
				if err != nil {
					t.Fatal(err)
				}
				if u.Email != email || u.IssuedAt < before || u.ExpiresAt-u.IssuedAt != int64(tokenTTL/time.Second) {
					t.Fatalf("claims %+v: want email %s, iat ≥ %d, exp = iat + %s", u, email, before, tokenTTL)
				}
			}
		})
	}
}

func TestSignout(t *testing.T) {
	t.Parallel()
	svc := newService(t, options{cookieSecure: true})
	valid := testkit.SessionCookie(t, "5f0000000000000000000001", "a@example.com")
	legacy := &http.Cookie{Name: session.LegacyCookieName, Value: valid.Value}

	for _, tc := range []struct {
		name    string
		cookies []*http.Cookie
		cleared []string
	}{
		{"signed in", []*http.Cookie{valid}, []string{session.CookieName}},
		{"anonymous", nil, []string{session.CookieName}},
		{"legacy cookie", []*http.Cookie{legacy}, []string{session.CookieName, session.LegacyCookieName}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := testkit.Call(t, svc.handler, http.MethodPost, "/api/users/signout", nil, tc.cookies...).Want(t, http.StatusOK)
			assertJSON(t, res.Body, `{}`)
			// Parsed by hand: net/http drops cookie names with ':'.
			setCookies := res.Header.Values("Set-Cookie")
			if len(setCookies) != len(tc.cleared) {
				t.Fatalf("Set-Cookie = %q, want %d", setCookies, len(tc.cleared))
			}
			for i, sc := range setCookies {
				attrs := strings.Split(sc, "; ")
				want := []string{tc.cleared[i] + "=", "Path=/", "Expires=Thu, 01 Jan 1970 00:00:00 GMT",
					"Max-Age=0", "HttpOnly", "Secure", "SameSite=Lax"}
				if strings.Join(attrs, "; ") != strings.Join(want, "; ") {
					t.Fatalf("Set-Cookie %q, want %q", sc, strings.Join(want, "; "))
				}
			}
		})
	}
}

// Signing out revokes that session: its cookie, replayed, is anonymous;
// the user's other sessions stay signed in; the revocation and its
// session.revoked event are stored together.
func TestSignoutRevokesTheSession(t *testing.T) {
	t.Parallel()
	svc := newService(t, options{})
	first := svc.signup(t, "revoke@example.com", "secret")
	res := testkit.Call(t, svc.handler, http.MethodPost, "/api/users/signin", credentials("revoke@example.com", "secret")).Want(t, http.StatusOK)
	second := sessionCookie(t, res)
	current := func(c *http.Cookie) string {
		return string(testkit.Call(t, svc.handler, http.MethodGet, "/api/users/currentuser", nil, c).Want(t, http.StatusOK).Body)
	}
	if strings.Contains(current(first), "null") {
		t.Fatal("not signed in before signing out")
	}

	for range 2 { // the second time the cookie is anonymous: nothing more to revoke
		testkit.Call(t, svc.handler, http.MethodPost, "/api/users/signout", nil, first).Want(t, http.StatusOK)
	}
	assertJSON(t, []byte(current(first)), `{"currentUser":null}`)
	if strings.Contains(current(second), "null") {
		t.Fatal("signing out one session signed out the other")
	}

	var docs []struct {
		UserID    string                  `bson:"userId"`
		ExpiresAt time.Time               `bson:"expiresAt"`
		Outbox    map[string]outbox.Entry `bson:"outbox"`
	}
	cur, err := svc.db.Collection(store.RevocationsCollection).Find(testkit.Context(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(testkit.Context(t), &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || len(docs[0].Outbox) != 1 || time.Until(docs[0].ExpiresAt) < tokenTTL-time.Minute {
		t.Fatalf("revocations %+v, want one, expiring with its token, with its event", docs)
	}
	for _, e := range docs[0].Outbox {
		var d events.SessionRevokedData
		if err := json.Unmarshal([]byte(e.Data), &d); err != nil || e.Subject != events.SessionRevoked.Subject ||
			d.UserID != docs[0].UserID || d.SessionID == "" || !d.ExpiresAt.Equal(docs[0].ExpiresAt) {
			t.Fatalf("event %+v (%v), want session.revoked of the revocation", e, err)
		}
	}
}

func TestCurrentUser(t *testing.T) {
	t.Parallel()
	svc := newService(t, options{})
	const id, email = "5f0000000000000000000001", "a@example.com"
	keys := testkit.Keys()

	mint := func(k *session.Keys, ttl time.Duration) string {
		token, err := k.Mint(id, email, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	cookie := func(name, token string) *http.Cookie {
		return &http.Cookie{Name: name, Value: session.EncodeCookie(token)}
	}
	valid := mint(keys, time.Hour)
	parts := strings.Split(valid, ".")
	header, payload, sig := parts[0], parts[1], parts[2]
	tamperedClaims := base64.RawURLEncoding.EncodeToString([]byte(
		`{"id":"5f0000000000000000000002","email":"admin@example.com","iat":1,"exp":` + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + `}`))
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	// Correctly signed with JWT_KEY, but HS512: verifiers pin HS256.
	hs512 := signedWith(`{"alg":"HS512","typ":"JWT"}`, payload, testkit.JWTKey)

	for _, tc := range []struct {
		name    string
		cookies []*http.Cookie
		signed  bool
	}{
		{"no cookie", nil, false},
		{"valid cookie", []*http.Cookie{cookie(session.CookieName, valid)}, true},
		{"testkit cookie", []*http.Cookie{testkit.SessionCookie(t, id, email)}, true},
		{"legacy express:sess cookie", []*http.Cookie{cookie(session.LegacyCookieName, valid)}, true},
		{"unpadded base64", []*http.Cookie{{Name: session.CookieName, Value: strings.TrimRight(session.EncodeCookie(valid), "=")}}, true},
		{"tampered claims", []*http.Cookie{cookie(session.CookieName, header+"."+tamperedClaims+"."+sig)}, false},
		{"tampered signature", []*http.Cookie{cookie(session.CookieName, header+"."+payload+"."+flipFirst(sig))}, false},
		{"expired", []*http.Cookie{cookie(session.CookieName, mint(keys, -time.Minute))}, false},
		{"alg none", []*http.Cookie{cookie(session.CookieName, noneHeader+"."+payload+".")}, false},
		{"other HMAC algorithm", []*http.Cookie{cookie(session.CookieName, hs512)}, false},
		{"wrongly signed", []*http.Cookie{cookie(session.CookieName, mint(session.NewKeys("another-key"), time.Hour))}, false},
		{"not base64", []*http.Cookie{{Name: session.CookieName, Value: "%%%not-base64"}}, false},
		{"no jwt inside", []*http.Cookie{{Name: session.CookieName, Value: base64.StdEncoding.EncodeToString([]byte(`{"foo":"bar"}`))}}, false},
		{"raw token, not wrapped", []*http.Cookie{{Name: session.CookieName, Value: valid}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := testkit.Call(t, svc.handler, http.MethodGet, "/api/users/currentuser", nil, tc.cookies...).Want(t, http.StatusOK)
			if !tc.signed {
				assertJSON(t, res.Body, `{"currentUser":null}`)
				return
			}
			var body struct {
				CurrentUser map[string]any `json:"currentUser"`
			}
			res.Decode(t, &body)
			u := body.CurrentUser
			if len(u) != 4 || u["id"] != id || u["email"] != email || u["iat"] == nil || u["exp"] == nil {
				t.Fatalf("body = %s, want currentUser {id, email, iat, exp}", res.Body)
			}
		})
	}
}

// TestSessionFlow follows a browser's cookie jar through the whole cycle.
func TestSessionFlow(t *testing.T) {
	t.Parallel()
	svc := newService(t, options{})
	srv := httptest.NewServer(svc.handler)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}

	step := func(method, path, body string, status int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if body != "" { // sign-out sends no body, hence no Content-Type
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		if res.StatusCode != status {
			t.Fatalf("%s %s: %d %v, want %d", method, path, res.StatusCode, out, status)
		}
		return out
	}
	signedIn := func() bool { return step("GET", "/api/users/currentuser", "", 200)["currentUser"] != nil }

	if signedIn() {
		t.Fatal("signed in before signing up")
	}
	step("POST", "/api/users/signup", credentials("flow@example.com", "secret"), 201)
	if !signedIn() {
		t.Fatal("not signed in after signup")
	}
	step("POST", "/api/users/signout", "", 200)
	if signedIn() {
		t.Fatal("still signed in after signout")
	}
	step("POST", "/api/users/signin", credentials("flow@example.com", "secret"), 200)
	if !signedIn() {
		t.Fatal("not signed in after signin")
	}
}

// What a browser sends over HTTP: writes need a JSON body (a bodyless
// sign-out needs none) and may not come from another site (httpx's guard,
// which every route shares).
func TestBrowserRequests(t *testing.T) {
	t.Parallel()
	svc := newService(t, options{})
	svc.signup(t, "browser@example.com", "secret")
	srv := httptest.NewServer(svc.handler)
	t.Cleanup(srv.Close)
	self := srv.URL // the Origin of a page of this site
	creds := credentials("browser@example.com", "secret")
	for _, tc := range []struct {
		name, path, contentType, body string
		headers                       map[string]string
		status                        int
		message                       string // of the error
	}{
		{"sign-in from the site", "/api/users/signin", "application/json", creds,
			map[string]string{"Origin": self, "Sec-Fetch-Site": "same-origin"}, 200, ""},
		{"sign-in, charset given", "/api/users/signin", "application/json; charset=UTF-8", creds, nil, 200, ""},
		{"sign-out without a body or Content-Type", "/api/users/signout", "", "",
			map[string]string{"Origin": self, "Sec-Fetch-Site": "same-origin"}, 200, ""},
		{"sign-in posted as a form", "/api/users/signin", "application/x-www-form-urlencoded",
			"email=browser%40example.com&password=secret", nil, 415, "Content-Type must be application/json"},
		{"sign-in as text/plain (a simple cross-origin fetch)", "/api/users/signin", "text/plain", creds, nil, 415, "Content-Type must be application/json"},
		{"sign-in without Content-Type", "/api/users/signin", "", creds, nil, 415, "Content-Type must be application/json"},
		{"sign-in from another site", "/api/users/signin", "application/json", creds,
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403, "Cross-site request refused"},
		{"sign-up from another origin (no Sec-Fetch-Site)", "/api/users/signup", "application/json", credentials("x@example.com", "secret"),
			map[string]string{"Origin": "https://evil.example"}, 403, "Cross-site request refused"},
		{"sign-out from another site", "/api/users/signout", "", "",
			map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "Cross-site request refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			got := testkit.Response{Status: res.StatusCode, Header: res.Header, Body: body}
			if tc.message == "" {
				got.Want(t, tc.status)
				return
			}
			got.WantErrors(t, tc.status, testkit.Msg(tc.message))
			if len(cookies(got)) != 0 {
				t.Fatalf("a refused request set cookies: %v", res.Header.Values("Set-Cookie"))
			}
		})
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	svc := newService(t, options{})
	notFound := errs(testkit.Msg("Not Found"))
	notAllowed := errs(testkit.Msg("Method Not Allowed"))
	for _, tc := range []struct {
		method, path string
		status       int
		wantBody     string              // for success
		wantErrors   []apperr.FieldError // for errors
	}{
		{"GET", "/api/users/nope", 404, "", notFound},
		{"POST", "/api/users", 404, "", notFound},
		{"GET", "/", 404, "", notFound},
		{"GET", "/api/users/signup", 405, "", notAllowed},
		{"PUT", "/api/users/signin", 405, "", notAllowed},
		{"GET", "/api/users/signout", 405, "", notAllowed},
		{"POST", "/api/users/currentuser", 405, "", notAllowed},
		{"GET", "/healthz", 200, `{"status":"ok"}`, nil},
		{"GET", "/readyz", 200, `{"status":"ready"}`, nil},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			res := testkit.Call(t, svc.handler, tc.method, tc.path, nil)
			if tc.status != http.StatusOK {
				res.WantErrors(t, tc.status, tc.wantErrors...)
			} else {
				assertJSON(t, res.Want(t, tc.status).Body, tc.wantBody)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type = %q", ct)
			}
		})
	}
}

func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	svc := newService(t, options{})
	if err := svc.db.Client().Disconnect(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/users/signup", "/api/users/signin"} {
		testkit.Call(t, svc.handler, http.MethodPost, path, credentials("down@example.com", "secret")).
			WantErrors(t, http.StatusServiceUnavailable, testkit.Msg("Service unavailable, try again later"))
	}
	testkit.Call(t, svc.handler, http.MethodGet, "/readyz", nil).Want(t, http.StatusServiceUnavailable)
}

func TestConcurrentSignupsWithOneEmail(t *testing.T) {
	t.Parallel()
	svc := newService(t, options{})
	const n = 20
	answers := make([]testkit.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// The same address, spelled differently.
			email := []string{"race@example.com", " Race@Example.com", "RACE@EXAMPLE.COM "}[i%3]
			answers[i] = testkit.Call(t, svc.handler, http.MethodPost, "/api/users/signup", credentials(email, "secret"))
		})
	}
	wg.Wait()
	created := 0
	statuses := make([]int, n)
	for i, res := range answers {
		statuses[i] = res.Status
		switch res.Status {
		case 201:
			created++
		case 400:
			res.WantErrors(t, http.StatusBadRequest, testkit.Msg("Email in use"))
		default:
			t.Errorf("signup %d: %d %s", i, res.Status, res.Body)
		}
	}
	if created != 1 {
		t.Fatalf("%d signups succeeded, want exactly 1 (statuses %v)", created, statuses)
	}
	if got := svc.countUsers(t); got != 1 {
		t.Fatalf("%d users stored, want 1", got)
	}
}

func mustToken(t testing.TB, c *http.Cookie) string {
	t.Helper()
	token, err := session.DecodeCookie(c.Value)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// flipFirst changes the first character (the last one of a base64 text may
// carry only padding bits, which decoders ignore).
func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// signedWith builds a JWT with the given header, signed with HMAC-SHA512.
func signedWith(header, payload, key string) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(header))
	mac := hmac.New(sha512.New, []byte(key))
	mac.Write([]byte(h + "." + payload))
	return h + "." + payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
