// Package httpapi serves the payments API.
package httpapi

import (
	"log/slog"
	"net/http"
	"strings"

	"ticketing.dev/common/httpx"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/server"
	"ticketing.dev/common/session"
	"ticketing.dev/payments/checkout"
)

// Deps are what the API needs.
type Deps struct {
	Log      *slog.Logger
	Keys     *session.Keys
	Checkout *checkout.Service
	Checks   map[string]server.Check // readiness checks for /readyz
}

// New builds the whole HTTP handler: shared middleware, health, routes.
func New(d Deps) http.Handler {
	handle := httpx.Boundary(d.Log, errorFor)
	r := httpx.NewRouter(d.Log, d.Keys)
	server.Health(r, d.Log, d.Checks)
	a := api{checkout: d.Checkout}
	r.With(httpx.RequireAuth(d.Log)).Post("/api/payments", handle(a.create))
	return r
}

type api struct {
	checkout *checkout.Service
}

// createRequest is the body of POST /api/payments. The order's id follows
// the one rule of ids (mongodb.ParseID: 24 hex digits, either case, nothing
// around them), as in every path.
type createRequest struct {
	Token   string `json:"token" validate:"notblank" msg:"Token must be provided"`
	OrderID string `json:"orderId" validate:"required,objectid" msg:"OrderId must be provided"`
}

func (r *createRequest) Normalize() {
	r.Token = strings.TrimSpace(r.Token)
}

func (a api) create(w http.ResponseWriter, r *http.Request) error {
	user, _ := httpx.UserFrom(r.Context())
	var req createRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		return err
	}
	orderID, _ := mongodb.ParseID(req.OrderID) // validated above
	receipt, err := a.checkout.Pay(r.Context(), user.ID, orderID, req.Token)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, receipt)
	return nil
}
