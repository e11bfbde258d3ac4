package httpx_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/httpx"
	"ticketing.dev/testkit"
)

type signupRequest struct {
	Email    string `json:"email" validate:"required,email" msg:"Email must be valid"`
	Password string `json:"password" validate:"min=4,max=20" msg:"Password must be between 4 and 20 characters"`
	Title    string `json:"title" validate:"omitempty,notblank,max=5" msg:"Title is required" msg_max:"Title is too long"`
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
