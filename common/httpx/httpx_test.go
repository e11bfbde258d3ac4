package httpx_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/session"
	"ticketing.dev/testkit"
)

type signupRequest struct {
	Email    string `json:"email" validate:"required,email" msg:"Email must be valid"`
	Password string `json:"password" validate:"min=4,max=20" msg:"Password must be between 4 and 20 characters"`
	Title    string `json:"title" validate:"omitempty,notblank,max=5" msg:"Title is required" msg_max:"Title is too long"`
	RefID    string `json:"refId" validate:"omitempty,objectid" msg:"RefId must be an id"`
}

func (r *signupRequest) Normalize() {
	r.Email = strings.ToLower(strings.TrimSpace(r.Email))
	r.Password = strings.TrimSpace(r.Password)
}

type envelope struct {
	Errors []apperr.FieldError `json:"errors"`
}

func newServer(t *testing.T) http.Handler {
	log := testkit.Logger(t)
	r := httpx.NewRouter(log, testkit.Keys())
	handle := httpx.Boundary(log, func(err error) error { return err })
	r.Post("/signup", handle(func(w http.ResponseWriter, r *http.Request) error {
		var req signupRequest
		if err := httpx.Decode(w, r, &req); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusCreated, req)
		return nil
	}))
	r.Get("/panic", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
	r.With(httpx.RequireAuth(log)).Get("/me", func(w http.ResponseWriter, r *http.Request) {
		u, _ := httpx.UserFrom(r.Context())
		httpx.WriteJSON(w, 200, u)
	})
	return r
}

func TestRequests(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		signedIn   bool
		wantStatus int
		wantErrors []apperr.FieldError
	}{
		{"valid and normalised", "POST", "/signup", `{"email":" A@B.co ","password":"  pass  "}`, false, 201, nil},
		{"every failing field", "POST", "/signup", `{"email":"nope","password":"abc"}`, false, 400, []apperr.FieldError{
			{Message: "Email must be valid", Field: "email"},
			{Message: "Password must be between 4 and 20 characters", Field: "password"},
		}},
		{"empty body is an empty object", "POST", "/signup", ``, false, 400, []apperr.FieldError{
			{Message: "Email must be valid", Field: "email"},
			{Message: "Password must be between 4 and 20 characters", Field: "password"},
		}},
		{"password counted after trimming", "POST", "/signup", `{"email":"a@b.co","password":"  ab   "}`, false, 400, []apperr.FieldError{
			{Message: "Password must be between 4 and 20 characters", Field: "password"},
		}},
		{"per-rule message", "POST", "/signup", `{"email":"a@b.co","password":"pass","title":"toolong"}`, false, 400, []apperr.FieldError{
			{Message: "Title is too long", Field: "title"},
		}},
		{"blank title", "POST", "/signup", `{"email":"a@b.co","password":"pass","title":"   "}`, false, 400, []apperr.FieldError{
			{Message: "Title is required", Field: "title"},
		}},
		{"wrong JSON type names the field", "POST", "/signup", `{"email":5,"password":"pass"}`, false, 400, []apperr.FieldError{
			{Message: "Email must be valid", Field: "email"},
		}},
		{"id in lower case", "POST", "/signup", `{"email":"a@b.co","password":"pass","refId":"64b0000000000000000000ab"}`, false, 201, nil},
		{"id in upper case", "POST", "/signup", `{"email":"a@b.co","password":"pass","refId":"64B0000000000000000000AB"}`, false, 201, nil},
		{"id too short", "POST", "/signup", `{"email":"a@b.co","password":"pass","refId":"64b00000000000000000ab"}`, false, 400, []apperr.FieldError{
			{Message: "RefId must be an id", Field: "refId"},
		}},
		{"id not hex", "POST", "/signup", `{"email":"a@b.co","password":"pass","refId":"64b0000000000000000000zz"}`, false, 400, []apperr.FieldError{
			{Message: "RefId must be an id", Field: "refId"},
		}},
		{"malformed JSON", "POST", "/signup", `{"email":`, false, 400, []apperr.FieldError{{Message: "Invalid JSON body"}}},
		{"trailing garbage", "POST", "/signup", `{"email":"a@b.co","password":"pass"}garbage`, false, 400, []apperr.FieldError{{Message: "Invalid JSON body"}}},
		{"two JSON values", "POST", "/signup", `{"email":"a@b.co","password":"pass"} {}`, false, 400, []apperr.FieldError{{Message: "Invalid JSON body"}}},
		{"trailing white space is fine", "POST", "/signup", "{\"email\":\"a@b.co\",\"password\":\"pass\"}\n ", false, 201, nil},
		{"mistyped field does not hide the others", "POST", "/signup", `{"email":123,"password":"ab"}`, false, 400, []apperr.FieldError{
			{Message: "Email must be valid", Field: "email"},
			{Message: "Password must be between 4 and 20 characters", Field: "password"},
		}},
		{"two mistyped fields", "POST", "/signup", `{"email":["a@b.co"],"password":{"a":1}}`, false, 400, []apperr.FieldError{
			{Message: "Email must be valid", Field: "email"},
			{Message: "Password must be between 4 and 20 characters", Field: "password"},
		}},
		{"oversized body", "POST", "/signup", `{"email":"` + strings.Repeat("a", httpx.MaxBodyBytes) + `"}`, false, 413, []apperr.FieldError{{Message: "Request body too large"}}},
		{"unknown route", "GET", "/nowhere", ``, false, 404, []apperr.FieldError{{Message: "Not Found"}}},
		{"wrong method", "GET", "/signup", ``, false, 405, []apperr.FieldError{{Message: "Method Not Allowed"}}},
		{"HEAD where GET is served", "HEAD", "/me", ``, true, 200, nil},
		{"panic becomes 500", "GET", "/panic", ``, false, 500, []apperr.FieldError{{Message: "Something went wrong"}}},
		{"anonymous on protected route", "GET", "/me", ``, false, 401, []apperr.FieldError{{Message: "Not authorized"}}},
		{"signed in on protected route", "GET", "/me", ``, true, 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if tt.signedIn {
				req.AddCookie(testkit.SessionCookie(t, "u1", "a@b.co"))
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if rec.Header().Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			if rec.Code == 405 && rec.Header().Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", rec.Header().Get("Allow"))
			}
			if tt.wantErrors == nil {
				return
			}
			var env envelope
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
				t.Fatalf("body is not the envelope: %s", rec.Body)
			}
			if len(env.Errors) != len(tt.wantErrors) {
				t.Fatalf("errors %+v, want %+v", env.Errors, tt.wantErrors)
			}
			for i := range env.Errors {
				if env.Errors[i] != tt.wantErrors[i] {
					t.Fatalf("errors %+v, want %+v", env.Errors, tt.wantErrors)
				}
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	rec := httptest.NewRecorder()
	httpx.WriteError(testkit.Logger(t), rec, httptest.NewRequest("GET", "/", nil), apperr.TooManyRequests(1500_000_000))
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("status %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestNilKeysMeanAnonymous(t *testing.T) {
	log := testkit.Logger(t)
	r := httpx.NewRouter(log, nil)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		_, ok := httpx.UserFrom(r.Context())
		httpx.WriteJSON(w, 200, ok)
	})
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(testkit.SessionCookie(t, "u1", "a@b.co"))
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "false" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// A caller's X-Request-Id is kept only when it is a plausible id; anything
// else (log injection, a huge value) is replaced by a fresh one.
func TestRequestIDFromOutside(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		in   string
		keep bool
	}{
		{"", false},
		{"3f2a9c-req.1", true},
		{"ingress/abc:42", true},
		{"line\nbreak", false},
		{`{"level":"ERROR"}`, false},
		{strings.Repeat("a", 65), false},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/nowhere", nil)
		if tt.in != "" {
			req.Header["X-Request-Id"] = []string{tt.in}
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-Id")
		if tt.keep && got != tt.in || !tt.keep && (got == tt.in || len(got) != 24) {
			t.Errorf("X-Request-Id %q answered as %q (keep=%v)", tt.in, got, tt.keep)
		}
	}
}

// Writes take only JSON bodies and refuse cross-site browser requests;
// reads, bodyless writes and non-browser clients are not concerned.
func TestGuardWrites(t *testing.T) {
	log := testkit.Logger(t)
	r := httpx.NewRouter(log, testkit.Keys())
	ok := func(w http.ResponseWriter, _ *http.Request) { httpx.WriteJSON(w, http.StatusOK, struct{}{}) }
	r.Get("/x", ok)
	r.Post("/x", ok)
	r.Put("/x", ok)
	r.Patch("/x", ok)
	r.Delete("/x", ok)

	const jsonType, body = "application/json", `{"a":1}`
	notJSON := []apperr.FieldError{{Message: httpx.MsgNotJSON}}
	crossSite := []apperr.FieldError{{Message: httpx.MsgCrossSite}}
	tests := []struct {
		name        string
		method      string
		host        string // default example.com
		contentType string
		body        string
		chunked     bool // no Content-Length
		headers     map[string]string
		wantStatus  int
		wantErrors  []apperr.FieldError
	}{
		// Content-Type
		{name: "JSON", method: "POST", contentType: jsonType, body: body, wantStatus: 200},
		{name: "JSON with charset", method: "POST", contentType: "application/json; charset=utf-8", body: body, wantStatus: 200},
		{name: "JSON in capitals", method: "PUT", contentType: "Application/JSON", body: body, wantStatus: 200},
		{name: "form", method: "POST", contentType: "application/x-www-form-urlencoded", body: "a=1", wantStatus: 415, wantErrors: notJSON},
		{name: "multipart", method: "POST", contentType: "multipart/form-data; boundary=x", body: body, wantStatus: 415, wantErrors: notJSON},
		{name: "text/plain carrying JSON", method: "POST", contentType: "text/plain", body: body, wantStatus: 415, wantErrors: notJSON},
		{name: "no Content-Type with a body", method: "POST", body: body, wantStatus: 415, wantErrors: notJSON},
		{name: "a JSON look-alike", method: "PATCH", contentType: "application/json-patch+json", body: body, wantStatus: 415, wantErrors: notJSON},
		{name: "malformed Content-Type", method: "PUT", contentType: "application/json; =", body: body, wantStatus: 415, wantErrors: notJSON},
		{name: "chunked body without Content-Type", method: "POST", body: body, chunked: true, wantStatus: 415, wantErrors: notJSON},
		{name: "chunked JSON", method: "POST", contentType: jsonType, body: body, chunked: true, wantStatus: 200},
		{name: "bodyless POST without Content-Type (sign-out)", method: "POST", wantStatus: 200},
		{name: "bodyless DELETE without Content-Type (cancel)", method: "DELETE", wantStatus: 200},
		{name: "bodyless PATCH with another Content-Type", method: "PATCH", contentType: "text/plain", wantStatus: 200},
		{name: "GET is never refused", method: "GET", contentType: "text/plain", body: "x", wantStatus: 200},
		{name: "HEAD is never refused", method: "HEAD", headers: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantStatus: 200},

		// Where the request comes from
		{name: "same origin (Sec-Fetch-Site)", method: "POST", contentType: jsonType, body: body,
			headers: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}, wantStatus: 200},
		{name: "same site (Sec-Fetch-Site), another subdomain", method: "POST", contentType: jsonType, body: body,
			headers: map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://www.example.com"}, wantStatus: 200},
		{name: "typed by the user (Sec-Fetch-Site none)", method: "POST", contentType: jsonType, body: body,
			headers: map[string]string{"Sec-Fetch-Site": "none"}, wantStatus: 200},
		{name: "cross-site (Sec-Fetch-Site)", method: "POST", contentType: jsonType, body: body,
			headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, wantStatus: 403, wantErrors: crossSite},
		{name: "cross-site wins even with a same-host Origin", method: "DELETE",
			headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://example.com"}, wantStatus: 403, wantErrors: crossSite},
		{name: "cross-site form", method: "POST", contentType: "application/x-www-form-urlencoded", body: "a=1",
			headers: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantStatus: 403, wantErrors: crossSite},
		{name: "cross-site bodyless sign-out", method: "POST",
			headers: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantStatus: 403, wantErrors: crossSite},
		{name: "Origin of the Host (no Sec-Fetch-Site)", method: "POST", contentType: jsonType, body: body,
			headers: map[string]string{"Origin": "http://example.com"}, wantStatus: 200},
		{name: "Origin with the Host's port", method: "POST", host: "localhost:8080", contentType: jsonType, body: body,
			headers: map[string]string{"Origin": "http://localhost:8080"}, wantStatus: 200},
		{name: "Origin's default port", method: "POST", host: "ticketing.dev:443", contentType: jsonType, body: body,
			headers: map[string]string{"Origin": "https://ticketing.dev"}, wantStatus: 200},
		{name: "Origin of another host", method: "POST", contentType: jsonType, body: body,
			headers: map[string]string{"Origin": "https://evil.example"}, wantStatus: 403, wantErrors: crossSite},
		{name: "Origin of another port", method: "PUT", host: "localhost:8080", contentType: jsonType, body: body,
			headers: map[string]string{"Origin": "http://localhost:3000"}, wantStatus: 403, wantErrors: crossSite},
		{name: "Origin of a subdomain", method: "DELETE",
			headers: map[string]string{"Origin": "http://evil.example.com"}, wantStatus: 403, wantErrors: crossSite},
		{name: "opaque Origin null", method: "POST", contentType: jsonType, body: body,
			headers: map[string]string{"Origin": "null"}, wantStatus: 403, wantErrors: crossSite},
		{name: "non-browser client (neither header)", method: "PUT", contentType: jsonType, body: body, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rd io.Reader = strings.NewReader(tt.body) // its length is the Content-Length
			if tt.chunked {
				rd = io.MultiReader(rd) // a length unknown: ContentLength -1, as for a chunked body
			}
			req := httptest.NewRequest(tt.method, "/x", rd)
			req.Host = "example.com"
			if tt.host != "" {
				req.Host = tt.host
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantErrors == nil {
				return
			}
			var env envelope
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || !slices.Equal(env.Errors, tt.wantErrors) {
				t.Fatalf("body %s, want errors %+v", rec.Body, tt.wantErrors)
			}
		})
	}
}

// The current user is the first `session` cookie that verifies, not merely
// the first one sent.
func TestCurrentUserTriesEverySessionCookie(t *testing.T) {
	srv := newServer(t)
	valid := testkit.SessionCookie(t, "u1", "a@b.co")
	tests := []struct {
		name    string
		cookies []*http.Cookie
		status  int
	}{
		{"valid only", []*http.Cookie{valid}, 200},
		{"stale first", []*http.Cookie{{Name: "session", Value: "bm90LWEtc2Vzc2lvbg=="}, valid}, 200},
		{"valid first", []*http.Cookie{valid, {Name: "session", Value: "x"}}, 200},
		{"none valid", []*http.Cookie{{Name: "session", Value: "x"}, {Name: "session", Value: "y"}}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/me", nil)
			for _, c := range tt.cookies {
				req.AddCookie(c)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			var u session.User
			if tt.status == 200 && (json.Unmarshal(rec.Body.Bytes(), &u) != nil || u.ID != "u1") {
				t.Fatalf("user %s, want u1", rec.Body)
			}
		})
	}
}
