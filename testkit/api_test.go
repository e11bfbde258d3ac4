package testkit_test

import (
	"errors"
	"net/http"
	"testing"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/httpx"
	"ticketing.dev/testkit"
)

func TestCallAndWantErrors(t *testing.T) {
	log := testkit.Logger(t)
	h := httpx.Boundary(log, func(err error) error { return err })(func(w http.ResponseWriter, r *http.Request) error {
		if _, err := r.Cookie("session"); err != nil {
			return apperr.Validation(apperr.FieldError{Field: "a", Message: "A is bad"}, apperr.FieldError{Message: "And so is the rest"})
		}
		if r.Method == http.MethodPut {
			return errors.New("boom")
		}
		httpx.WriteJSON(w, http.StatusCreated, map[string]string{"ok": "yes"})
		return nil
	})
	testkit.Call(t, h, http.MethodPost, "/", map[string]int{"a": 1}).
		WantErrors(t, http.StatusBadRequest, testkit.FieldMsg("a", "A is bad"), testkit.Msg("And so is the rest"))
	cookie := testkit.SessionCookie(t, "5f0000000000000000000a11", "a@test.dev")
	testkit.Call(t, h, http.MethodPut, "/", nil, cookie).WantErrors(t, http.StatusInternalServerError, testkit.Msg("Something went wrong"))
	var got map[string]string
	testkit.Call(t, h, http.MethodPost, "/", `{}`, cookie).Want(t, http.StatusCreated).Decode(t, &got)
	if got["ok"] != "yes" {
		t.Fatalf("body %v", got)
	}
}
