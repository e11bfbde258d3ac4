// Package outbox keeps the events a document change implies inside the
// changed document itself, written by the same single-document update, and
// relays them to JetStream until each publish is confirmed. A crash between
// the write and the publish loses nothing: the relay finds the event on its
// next sweep, and Nats-Msg-Id makes a second publish harmless.
//
// A document holds its pending events in a map keyed by event id, with a
// counter so that pending documents can be found with an indexable query:
//
//	{ ..., "outbox": {"<id>": {subject, data, seq, at}}, "outboxN": 1 }
package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"ticketing.dev/common/events"
)

// Entry is a pending event as stored in a document.
type Entry struct {
	Subject string    `bson:"subject"`
	Data    string    `bson:"data"`
	Seq     int64     `bson:"seq"`
	At      time.Time `bson:"at"`
	// Trace is the W3C traceparent of the write that stored the event: the
	// relay's publish continues that trace, so a request and the events it
	// sets off are one trace.
	Trace string `bson:"trace,omitempty"`
}

// traced returns e with the trace context of ctx (none: e as it is).
func traced(ctx context.Context, e Entry) Entry {
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	e.Trace = carrier.Get("traceparent")
	return e
}

// traceContext is ctx continuing the trace the entry was stored in.
func (e Entry) traceContext(ctx context.Context) context.Context {
	if e.Trace == "" {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier{"traceparent": e.Trace})
}

// Fields are embedded (bson:",inline") in every document that has an outbox.
type Fields struct {
	Outbox  map[string]Entry `bson:"outbox,omitempty"`
	OutboxN int              `bson:"outboxN"`
}

// Event is an event ready to be stored.
type Event struct {
	ID    string
	Entry Entry
}

// New encodes an event. id must be stable for the change it reports (the
// same change always yields the same id) and is used as Nats-Msg-Id; seq
// orders the events of one document (use the document's version).
func New[T any](topic events.Topic[T], id string, seq int64, data T) (Event, error) {
	if id == "" || strings.ContainsAny(id, ".$") {
		return Event{}, fmt.Errorf("outbox: event id %q must be non-empty without '.' or '$'", id)
	}
	b, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("outbox: encode %s: %w", topic.Subject, err)
	}
	return Event{ID: id, Entry: Entry{Subject: topic.Subject, Data: string(b), Seq: seq, At: time.Now().UTC()}}, nil
}

// ID builds a stable event id from its parts: ID("ticket.updated", id, 3)
// gives "ticket-updated-<id>-3".
func ID(subject string, parts ...any) string {
	s := strings.ReplaceAll(subject, ".", "-")
	for _, p := range parts {
		s += "-" + strings.ReplaceAll(fmt.Sprint(p), ".", "-")
	}
	return s
}

// Add puts events into a document that is about to be inserted by a write
// in ctx (whose trace they keep). Notify the relay with the document's
// Events, which carry it.
func (f *Fields) Add(ctx context.Context, evts ...Event) {
	if f.Outbox == nil {
		f.Outbox = make(map[string]Entry, len(evts))
	}
	for _, e := range evts {
		if _, dup := f.Outbox[e.ID]; !dup {
			f.OutboxN++
		}
		f.Outbox[e.ID] = traced(ctx, e.Entry)
	}
}

// Events returns the pending events of a document as read or as a write
// returned it (to pass them to Relay.Notify).
func (f Fields) Events() []Event {
	evts := make([]Event, 0, len(f.Outbox))
	for id, e := range f.Outbox {
		evts = append(evts, Event{ID: id, Entry: e})
	}
	return evts
}

// Update returns update with the events added to its $set and the pending
// counter to its $inc, so they are written by the same atomic update, in
// ctx (whose trace they keep). update's $set and $inc, when present, must
// be bson.D.
func Update(ctx context.Context, update bson.D, evts ...Event) bson.D {
	if len(evts) == 0 {
		return update
	}
	set := bson.D{}
	for _, e := range evts {
		set = append(set, bson.E{Key: "outbox." + e.ID, Value: traced(ctx, e.Entry)})
	}
	inc := bson.D{{Key: "outboxN", Value: len(evts)}}
	out := make(bson.D, 0, len(update)+2)
	var haveSet, haveInc bool
	for _, op := range update {
		switch op.Key {
		case "$set":
			op.Value = append(append(bson.D{}, op.Value.(bson.D)...), set...)
			haveSet = true
		case "$inc":
			op.Value = append(append(bson.D{}, op.Value.(bson.D)...), inc...)
			haveInc = true
		}
		out = append(out, op)
	}
	if !haveSet {
		out = append(out, bson.E{Key: "$set", Value: set})
	}
	if !haveInc {
		out = append(out, bson.E{Key: "$inc", Value: inc})
	}
	return out
}
