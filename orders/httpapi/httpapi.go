// Package httpapi serves the orders API: /api/orders and the health probes.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/money"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/server"
	"ticketing.dev/common/session"
	"ticketing.dev/orders/order"
	"ticketing.dev/orders/store"
)

// Deps are what the API needs.
type Deps struct {
	Log     *slog.Logger
	Keys    *session.Keys
	Orders  *store.Orders
	Tickets *store.Tickets
	// Window is how long a new order holds its ticket before it expires.
	Window time.Duration
	// ActiveLimit is how many active orders (see order.MayOrder) a user may
	// hold; a new one beyond is refused. 0: no limit.
	ActiveLimit int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Checks are the readiness checks behind /readyz.
	Checks map[string]server.Check
}

// New returns the service's whole HTTP handler.
func New(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	h := handlers{Deps: d}
	handle := httpx.Boundary(d.Log, errorFor)
	r := httpx.NewRouter(d.Log, d.Keys)
	server.Health(r, d.Log, d.Checks)
	r.Route("/api/orders", func(r chi.Router) {
		r.Use(httpx.RequireAuth(d.Log))
		r.Post("/", handle(h.create))
		r.Get("/", handle(h.list))
		r.Get("/{id}", handle(h.show))
		r.Delete("/{id}", handle(h.cancel))
		r.Patch("/{id}", handle(h.cancel))
	})
	return r
}

type handlers struct{ Deps }

// createRequest is the body of POST /api/orders. The ticket's id follows
// the one rule of ids (mongodb.ParseID: 24 hex digits, either case).
type createRequest struct {
	TicketID string `json:"ticketId" validate:"required,objectid" msg:"TicketId must be provided"`
}

func (h handlers) create(w http.ResponseWriter, r *http.Request) error {
	user, _ := httpx.UserFrom(r.Context())
	var req createRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		return err
	}
	ticketID, _ := mongodb.ParseID(req.TicketID) // validated above
	t, err := h.Tickets.Get(r.Context(), ticketID)
	if err != nil {
		return err
	}
	now := h.Now()
	if err := h.mayOrder(r.Context(), user.ID, now); err != nil {
		return err
	}
	o, created, err := order.New(user.ID, order.Ticket{ID: t.ID, Title: t.Title, Price: t.Price, Version: t.Version},
		now, h.Window)
	if err != nil {
		return apperr.Internal(err)
	}
	if err := h.Orders.Create(r.Context(), o, created); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, toJSON(o))
	return nil
}

// mayOrder applies the limit of active orders per user. The count and the
// insert are two steps, so concurrent orders of one user can each see room
// and land together: the user ends up over the limit by at most the orders
// in flight at that moment, each for a distinct free ticket and expiring
// with its window. That is fine for a limit against hoarding; making it
// exact would need a per-user counter kept in step with the orders, which a
// store without transactions cannot do simply.
func (h handlers) mayOrder(ctx context.Context, userID string, now time.Time) error {
	if h.ActiveLimit <= 0 {
		return nil
	}
	n, err := h.Orders.CountActive(ctx, userID, now)
	if err != nil {
		return err
	}
	return order.MayOrder(n, h.ActiveLimit)
}

// list answers the caller's orders: without parameters every one, oldest
// first, as the original did; with limit a page, the URLs of the previous
// and next pages in the Link header (httpx.SetPageLinks; see parseList).
func (h handlers) list(w http.ResponseWriter, r *http.Request) error {
	user, _ := httpx.UserFrom(r.Context())
	p, err := parseList(r.URL.RawQuery)
	if err != nil {
		return err
	}
	p.UserID = user.ID
	orders, more, err := h.Orders.List(r.Context(), p.ListQuery)
	if err != nil {
		return err
	}
	if p.Limit > 0 {
		page := httpx.Page{Back: p.Backward, Cursor: p.After != nil, More: more, N: len(orders)}
		var prev, next url.Values
		if page.HasPrev() {
			prev = p.link(store.PositionOf(orders[0]), true)
		}
		if page.HasNext() {
			next = p.link(store.PositionOf(orders[len(orders)-1]), false)
		}
		httpx.SetPageLinks(w, r.URL.Path, prev, next)
	}
	out := make([]orderJSON, len(orders))
	for i, o := range orders {
		out[i] = toJSON(o)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h handlers) show(w http.ResponseWriter, r *http.Request) error {
	user, _ := httpx.UserFrom(r.Context())
	id, err := orderID(r)
	if err != nil {
		return err
	}
	o, err := h.Orders.Get(r.Context(), id)
	if err != nil {
		return err
	}
	if o.UserID != user.ID {
		return apperr.NotAuthorized()
	}
	httpx.WriteJSON(w, http.StatusOK, toJSON(o))
	return nil
}

func (h handlers) cancel(w http.ResponseWriter, r *http.Request) error {
	user, _ := httpx.UserFrom(r.Context())
	id, err := orderID(r)
	if err != nil {
		return err
	}
	_, err = h.Orders.Update(r.Context(), id, func(o *order.Order) (*outbox.Event, error) {
		if o.UserID != user.ID {
			return nil, apperr.NotAuthorized()
		}
		return o.Cancel()
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func orderID(r *http.Request) (bson.ObjectID, error) {
	id, ok := mongodb.ParseID(chi.URLParam(r, "id"))
	if !ok {
		return id, apperr.BadRequest("Order id must be a valid id")
	}
	return id, nil
}

// orderJSON is an order as the API answers it: the original's fields, then
// createdAt, and cancelReason ("buyer" or "expired") on a cancelled order
// that knows why.
type orderJSON struct {
	ID           string     `json:"id"`
	UserID       string     `json:"userId"`
	Status       string     `json:"status"`
	ExpiresAt    string     `json:"expiresAt"`
	Version      int64      `json:"version"`
	Ticket       ticketJSON `json:"ticket"`
	CreatedAt    string     `json:"createdAt"`
	CancelReason string     `json:"cancelReason,omitempty"`
}

type ticketJSON struct {
	ID      string      `json:"id"`
	Title   string      `json:"title"`
	Price   money.Cents `json:"price"`
	Version int64       `json:"version"`
}

// isoMillis is JavaScript's Date.toISOString layout, which clients expect.
const isoMillis = "2006-01-02T15:04:05.000Z"

func toJSON(o order.Order) orderJSON {
	return orderJSON{
		ID:           o.ID.Hex(),
		UserID:       o.UserID,
		Status:       o.Status,
		ExpiresAt:    o.ExpiresAt.UTC().Format(isoMillis),
		Version:      o.Version,
		Ticket:       ticketJSON{ID: o.Ticket.ID.Hex(), Title: o.Ticket.Title, Price: o.Ticket.Price, Version: o.Ticket.Version},
		CreatedAt:    o.CreatedAt.UTC().Format(isoMillis),
		CancelReason: o.CancelReason,
	}
}
