package main

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/expiration/internal/redistest"
	"ticketing.dev/expiration/listeners"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

// harness is a real Redis and an embedded JetStream, with a queue of its own.
type harness struct {
	nats      *natskit.NATS
	rdb       *redis.Client
	queue     string
	inspector *asynq.Inspector
	pub       *events.Publisher
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	n := natskit.StartNATS(t)
	rdb, queue := redistest.Queue(t)
	return &harness{
		nats:      n,
		rdb:       rdb,
		queue:     queue,
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		pub:       events.NewPublisher(n.JS),
	}
}

// start runs the service's work (worker and listeners) as run does; the
// returned stop may be called early and is also called when the test ends.
func (h *harness) start(t testing.TB) (stop func()) {
	t.Helper()
	svc, err := startExpirations(testkit.Context(t), testkit.Logger(t), h.nats.As(t, "expiration"), h.rdb, h.queue)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(svc.stop) }
	t.Cleanup(stop)
	return stop
}

// orderCreated publishes order.created; a distinct msgID makes JetStream
// deliver a repeat instead of dropping it, as a redelivery would.
func (h *harness) orderCreated(t testing.TB, id string, expiresAt time.Time, msgID string) {
	t.Helper()
	err := events.Publish(context.Background(), h.pub, events.OrderCreated, msgID, events.OrderCreatedData{
		ID: id, Version: 0, Status: events.StatusCreated, UserID: "u1", ExpiresAt: expiresAt,
		Ticket: events.OrderTicket{ID: newID(), Price: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (h *harness) orderCancelled(t testing.TB, id string) {
	t.Helper()
	err := events.Publish(context.Background(), h.pub, events.OrderCancelled, outbox.ID("order.cancelled", id, 1),
		events.OrderCancelledData{ID: id, Version: 1, Ticket: events.TicketRef{ID: newID()}})
	if err != nil {
		t.Fatal(err)
	}
}

// task returns the order's job, or nil when there is none.
func (h *harness) task(t testing.TB, orderID string) *asynq.TaskInfo {
	t.Helper()
	info, err := h.inspector.GetTaskInfo(h.queue, orderID)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func (h *harness) waitScheduled(t testing.TB, orderID string) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, func() bool { return h.task(t, orderID) != nil },
		"order %s not scheduled", orderID)
}

// waitHandled waits until the service's consumer of subject has answered
// every event published on it.
func (h *harness) waitHandled(t testing.TB, subject string) {
	t.Helper()
	natskit.Handled(t, h.nats.JS, events.Durable(listeners.QueueGroup, subject))
}

// waitNoRunningJobs waits until no job is due or running: every job that was
// going to publish has published.
func (h *harness) waitNoRunningJobs(t testing.TB) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, func() bool {
		q, err := h.inspector.GetQueueInfo(h.queue)
		return err == nil && q.Active == 0 && q.Pending == 0 && q.Scheduled == 0 && q.Retry == 0
	}, "jobs still due or running in %s", h.queue)
}

// storedExpirations counts the expiration.complete events in the stream.
func (h *harness) storedExpirations(t testing.TB) uint64 {
	t.Helper()
	ctx := context.Background()
	stream, err := h.nats.JS.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(events.ExpirationComplete.Subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[events.ExpirationComplete.Subject]
}

// firing is an expiration.complete as stored by JetStream.
type firing struct {
	OrderID string
	MsgID   string
	At      time.Time // when the stream stored it
}

type firings struct {
	rec *natskit.Recorder[events.ExpirationCompleteData]
}

// recordFirings records every expiration.complete with its stored time.
func recordFirings(t testing.TB, js jetstream.JetStream) *firings {
	t.Helper()
	return &firings{rec: natskit.Record(t, js, events.ExpirationComplete)}
}

func (f *firings) list() []firing {
	var out []firing
	for _, m := range f.rec.All() {
		out = append(out, firing{OrderID: m.Data.OrderID, MsgID: m.ID, At: m.Published})
	}
	return out
}

func (f *firings) of(orderID string) []firing {
	var out []firing
	for _, e := range f.list() {
		if e.OrderID == orderID {
			out = append(out, e)
		}
	}
	return out
}

func (f *firings) waitFor(t testing.TB, orderID string, timeout time.Duration) firing {
	t.Helper()
	testkit.Eventually(t, timeout, func() bool { return len(f.of(orderID)) > 0 }, "order %s did not expire", orderID)
	return f.of(orderID)[0]
}

// newID returns a 24-hex id like a MongoDB ObjectId.
func newID() string { return testkit.RandomName("") + testkit.RandomName("") }
