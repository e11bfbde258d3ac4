// Package httpapi serves the tickets REST API.
package httpapi

import (
	"log/slog"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/money"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/server"
	"ticketing.dev/common/session"
	"ticketing.dev/tickets/store"
)

// Deps are what the API needs.
type Deps struct {
	Log    *slog.Logger
	Keys   *session.Keys
	Store  *store.Store
	Checks map[string]server.Check // readiness checks
}

type api struct {
	log   *slog.Logger
	store *store.Store
}

// New returns the service's whole HTTP handler: health probes and the
// /api/tickets routes behind the shared middleware.
func New(d Deps) http.Handler {
	a := &api{log: d.Log, store: d.Store}
	handle := httpx.Boundary(d.Log, errorFor)
	r := httpx.NewRouter(d.Log, d.Keys)
	server.Health(r, d.Log, d.Checks)
	r.Route("/api/tickets", func(r chi.Router) {
		r.Get("/", handle(a.list))
		r.Get("/{id}", handle(a.show))
		r.With(httpx.RequireAuth(d.Log)).Post("/", handle(a.create))
		r.With(httpx.RequireAuth(d.Log)).Put("/{id}", handle(a.edit))
	})
	return r
}

// ticketJSON is a ticket as clients see it.
type ticketJSON struct {
	ID      string      `json:"id"`
	Title   string      `json:"title"`
	Price   money.Cents `json:"price"`
	UserID  string      `json:"userId"`
	Version int64       `json:"version"`
	OrderID string      `json:"orderId,omitempty"`
}

// ownTicketJSON is a ticket as its seller lists it: with its state
// (store.StateForSale, StateReserved, StateSold).
type ownTicketJSON struct {
	ticketJSON
	State string `json:"state"`
}

func toJSON(t store.Ticket) ticketJSON {
	return ticketJSON{ID: t.ID.Hex(), Title: t.Title, Price: t.Price, UserID: t.UserID, Version: t.Version, OrderID: t.OrderID}
}

func (a *api) create(w http.ResponseWriter, r *http.Request) error {
	user, _ := httpx.UserFrom(r.Context())
	var req ticketRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		return err
	}
	in, err := req.validate(priceMessageCreate)
	if err != nil {
		return err
	}
	t, err := a.store.Create(r.Context(), in.Title, in.Price, user.ID)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, toJSON(t))
	return nil
}

func (a *api) show(w http.ResponseWriter, r *http.Request) error {
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	t, err := a.store.Get(r.Context(), id)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toJSON(t))
	return nil
}

func (a *api) edit(w http.ResponseWriter, r *http.Request) error {
	user, _ := httpx.UserFrom(r.Context())
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	var req ticketRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		return err
	}
	in, err := req.validate(priceMessageEdit)
	if err != nil {
		return err
	}
	t, err := a.store.Update(r.Context(), id, func(t *store.Ticket) (bool, error) {
		return true, t.Edit(user.ID, in.Title, in.Price)
	})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toJSON(t))
	return nil
}

// list answers a page of tickets: by default the unreserved ones, oldest
// first, as the original did; with mine=true every ticket of the caller
// with its state. The URLs of the previous and next pages are in the Link
// header (httpx.SetPageLinks), with opaque cursors (httpx.EncodeCursor).
func (a *api) list(w http.ResponseWriter, r *http.Request) error {
	p, err := parseList(r.URL.RawQuery)
	if p.mine {
		user, ok := httpx.UserFrom(r.Context())
		if !ok {
			return apperr.NotAuthorized()
		}
		p.Seller = user.ID
	}
	if err != nil {
		return err
	}
	tickets, more, err := a.store.List(r.Context(), p.ListQuery)
	if err != nil {
		return err
	}
	page := httpx.Page{Back: p.Backward, Cursor: p.cursor, More: more, N: len(tickets)}
	var prev, next url.Values
	if page.HasPrev() {
		prev = p.link(tickets[0].ID, true)
	}
	if page.HasNext() {
		next = p.link(tickets[len(tickets)-1].ID, false)
	}
	httpx.SetPageLinks(w, r.URL.Path, prev, next)
	if p.mine {
		out := make([]ownTicketJSON, len(tickets))
		for i, t := range tickets {
			out[i] = ownTicketJSON{ticketJSON: toJSON(t), State: t.State()}
		}
		httpx.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	out := make([]ticketJSON, len(tickets))
	for i, t := range tickets {
		out[i] = toJSON(t)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func ticketID(r *http.Request) (bson.ObjectID, error) {
	id, ok := mongodb.ParseID(chi.URLParam(r, "id"))
	if !ok {
		return id, apperr.BadRequest("Ticket id must be a 24-character hex ObjectId")
	}
	return id, nil
}
