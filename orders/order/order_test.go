package order_test

import (
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/orders/order"
)

func newOrder(t *testing.T, status string, expiresIn time.Duration) order.Order {
	t.Helper()
	now := time.Now()
	o, _, err := order.New("u1", order.Ticket{ID: bson.NewObjectID(), Title: "t", Price: 100}, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	o.Status = status
	o.ExpiresAt = now.Add(expiresIn)
	return o
}

func TestNew(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.FixedZone("X", 3600))
	o, evt, err := order.New("u1", order.Ticket{ID: bson.NewObjectID(), Price: 1999}, now, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 1, 2, 2, 19, 5, 678_000_000, time.UTC)
	if !o.ExpiresAt.Equal(want) || o.ExpiresAt.Location() != time.UTC {
		t.Fatalf("expiresAt = %s, want %s (UTC, milliseconds)", o.ExpiresAt, want)
	}
	if o.Status != events.StatusCreated || o.Version != 0 {
		t.Fatalf("order = %+v", o)
	}
	if evt.ID != "order-created-"+o.ID.Hex()+"-0" || evt.Entry.Subject != "order.created" || evt.Entry.Seq != 0 {
		t.Fatalf("event = %+v", evt)
	}
}

func TestTransitions(t *testing.T) {
	type result struct {
		status  string
		version int64
		subject string // "" when no event
		err     error
		reason  string // CancelReason afterwards
	}
	cancel := func(o *order.Order) (string, error) { return eventSubject(o.Cancel()) }
	expire := func(o *order.Order) (string, error) { return eventSubject(o.Expire(time.Now(), 0)) }
	complete := func(o *order.Order) (string, error) { return eventSubject(o.Complete()) }
	tests := []struct {
		name      string
		status    string
		expiresIn time.Duration
		do        func(o *order.Order) (string, error)
		want      result
	}{
		{"cancel created", events.StatusCreated, time.Minute, cancel, result{events.StatusCancelled, 1, "order.cancelled", nil, order.ByBuyer}},
		{"cancel awaiting payment", events.StatusAwaitingPayment, time.Minute, cancel, result{events.StatusCancelled, 1, "order.cancelled", nil, order.ByBuyer}},
		{"cancel cancelled is a no-op", events.StatusCancelled, time.Minute, cancel, result{events.StatusCancelled, 0, "", nil, ""}},
		{"cancel complete is refused", events.StatusComplete, time.Minute, cancel, result{events.StatusComplete, 0, "", order.ErrCompleted, ""}},
		{"expire past due", events.StatusCreated, -time.Second, expire, result{events.StatusCancelled, 1, "order.cancelled", nil, order.Expired}},
		{"expire awaiting payment past due", events.StatusAwaitingPayment, -time.Second, expire, result{events.StatusCancelled, 1, "order.cancelled", nil, order.Expired}},
		{"expire complete", events.StatusComplete, -time.Second, expire, result{events.StatusComplete, 0, "", nil, ""}},
		{"expire cancelled", events.StatusCancelled, -time.Second, expire, result{events.StatusCancelled, 0, "", nil, ""}},
		{"complete created", events.StatusCreated, time.Minute, complete, result{events.StatusComplete, 1, "order.completed", nil, ""}},
		{"complete complete", events.StatusComplete, time.Minute, complete, result{events.StatusComplete, 0, "", nil, ""}},
		{"complete cancelled", events.StatusCancelled, time.Minute, complete, result{events.StatusCancelled, 0, "", nil, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrder(t, tt.status, tt.expiresIn)
			subject, err := tt.do(&o)
			got := result{o.Status, o.Version, subject, err, o.CancelReason}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestExpireEarly(t *testing.T) {
	o := newOrder(t, events.StatusCreated, 0)
	now := time.Now()
	o.ExpiresAt = now.Add(1500 * time.Millisecond)
	evt, err := o.Expire(now, 0)
	var early *order.NotYetExpired
	if evt != nil || !errors.As(err, &early) || early.Left != 1500*time.Millisecond {
		t.Fatalf("Expire early = %v, %v; want NotYetExpired{1.5s}", evt, err)
	}
	if o.Status != events.StatusCreated || o.Version != 0 {
		t.Fatalf("order changed: %+v", o)
	}
}

// An unpaid order is expired only once the grace after its window has
// passed; until then Expire says how long is left.
func TestExpireAfterGrace(t *testing.T) {
	const grace = time.Minute
	expiresAt := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	tests := []struct {
		name     string
		status   string
		now      time.Time
		wantLeft time.Duration // 0: expired (if unpaid) now
		wantSubj string
	}{
		{"before the window ends", events.StatusCreated, expiresAt.Add(-time.Second), grace + time.Second, ""},
		{"at expiresAt", events.StatusCreated, expiresAt, grace, ""},
		{"awaiting payment at expiresAt", events.StatusAwaitingPayment, expiresAt, grace, ""},
		{"a millisecond before the grace ends", events.StatusCreated, expiresAt.Add(grace - time.Millisecond), time.Millisecond, ""},
		{"when the grace ends", events.StatusCreated, expiresAt.Add(grace), 0, "order.cancelled"},
		{"awaiting payment after the grace", events.StatusAwaitingPayment, expiresAt.Add(grace + time.Hour), 0, "order.cancelled"},
		{"complete within the grace", events.StatusComplete, expiresAt.Add(time.Second), 0, ""},
		{"complete after the grace", events.StatusComplete, expiresAt.Add(2 * grace), 0, ""},
		{"cancelled after the grace", events.StatusCancelled, expiresAt.Add(2 * grace), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrder(t, tt.status, 0)
			o.ExpiresAt = expiresAt
			subject, err := eventSubject(o.Expire(tt.now, grace))
			var early *order.NotYetExpired
			switch {
			case tt.wantLeft > 0:
				if !errors.As(err, &early) || early.Left != tt.wantLeft || subject != "" {
					t.Fatalf("Expire = %q, %v; want NotYetExpired{%s}", subject, err, tt.wantLeft)
				}
				if o.Status != tt.status || o.Version != 0 {
					t.Fatalf("order changed while not yet expired: %+v", o)
				}
			case err != nil || subject != tt.wantSubj:
				t.Fatalf("Expire = %q, %v; want %q", subject, err, tt.wantSubj)
			case tt.wantSubj != "" && (o.Status != events.StatusCancelled || o.Version != 1):
				t.Fatalf("expired order = %+v, want cancelled at version 1", o)
			case tt.wantSubj == "" && (o.Status != tt.status || o.Version != 0):
				t.Fatalf("finished order changed: %+v", o)
			}
		})
	}
}

func eventSubject(evt *outbox.Event, err error) (string, error) {
	if evt == nil {
		return "", err
	}
	return evt.Entry.Subject, err
}

func TestMayOrder(t *testing.T) {
	tests := []struct {
		active int64
		limit  int
		ok     bool
	}{
		{0, 1, true},
		{0, 10, true},
		{9, 10, true},
		{10, 10, false},
		{11, 10, false}, // over already (concurrent orders)
		{1, 1, false},
	}
	for _, tt := range tests {
		err := order.MayOrder(tt.active, tt.limit)
		var tooMany *order.TooManyActive
		if tt.ok != (err == nil) || !tt.ok && (!errors.As(err, &tooMany) || tooMany.Limit != tt.limit) {
			t.Errorf("MayOrder(%d, %d) = %v, want ok=%v", tt.active, tt.limit, err, tt.ok)
		}
	}
}
