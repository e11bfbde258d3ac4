package testkit

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"ticketing.dev/common/apperr"
)

// Response is an HTTP answer as API tests see it.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Call sends one request to the handler and returns its answer. body is
// sent as JSON (a string or []byte as it is; nil: no body); cookies are the
// caller's (none: anonymous).
func Call(t testing.TB, h http.Handler, method, path string, body any, cookies ...*http.Cookie) Response {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// Decode decodes the JSON body into v, failing the test if it is not JSON.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
}

// Want fails the test unless the status is status; it returns r.
func (r Response) Want(t testing.TB, status int) Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	return r
}

// Msg is an envelope error without a field.
func Msg(message string) apperr.FieldError { return apperr.FieldError{Message: message} }

// FieldMsg is an envelope error about a field.
func FieldMsg(field, message string) apperr.FieldError {
	return apperr.FieldError{Field: field, Message: message}
}

// WantErrors fails the test unless the answer has the status and exactly
// the error envelope {"errors": want}, in that order.
func (r Response) WantErrors(t testing.TB, status int, want ...apperr.FieldError) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	var env struct {
		Errors []apperr.FieldError `json:"errors"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatalf("body %q is not the error envelope: %v", r.Body, err)
	}
	if want == nil {
		want = []apperr.FieldError{}
	}
	if env.Errors == nil {
		env.Errors = []apperr.FieldError{}
	}
	if !reflect.DeepEqual(env.Errors, want) {
		t.Fatalf("errors %+v, want %+v", env.Errors, want)
	}
}

// linkValue is one link of a Link header: <target>; rel="name".
var linkValue = regexp.MustCompile(`^<([^>]*)>; rel="([a-z]+)"$`)

// Links reads the answer's Link header (as httpx.SetPageLinks writes it)
// into its targets by rel; none is an empty map. A header of any other
// shape, or a rel given twice, fails the test.
func (r Response) Links(t testing.TB) map[string]string {
	t.Helper()
	links := map[string]string{}
	header := r.Header.Get("Link")
	if header == "" {
		return links
	}
	for part := range strings.SplitSeq(header, ", ") {
		m := linkValue.FindStringSubmatch(part)
		if m == nil {
			t.Fatalf("Link %q: %q is not <target>; rel=\"name\"", header, part)
		}
		if _, dup := links[m[2]]; dup {
			t.Fatalf("Link %q: rel %q twice", header, m[2])
		}
		links[m[2]] = m[1]
	}
	return links
}
