package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/testkit"
)

// checkOnTime fails unless the order expired at expiresAt, at most a second after.
func checkOnTime(t *testing.T, f firing, expiresAt time.Time) {
	t.Helper()
	late := f.At.Sub(expiresAt)
	t.Logf("order %s expired %s after expiresAt", f.OrderID, late)
	if late < 0 {
		t.Errorf("order %s expired %s before expiresAt", f.OrderID, -late)
	}
	if late > time.Second {
		t.Errorf("order %s expired %s after expiresAt, want within 1s", f.OrderID, late)
	}
}

func TestOrderExpiresOnTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start(t)
	fired := recordFirings(t, h.nats.JS)

	id := newID()
	expiresAt := time.Now().Add(2 * time.Second)
	h.orderCreated(t, id, expiresAt, outbox.ID("order.created", id, 0))

	got := fired.waitFor(t, id, 4*time.Second)
	checkOnTime(t, got, expiresAt)
	if want := "expiration-complete-" + id; got.MsgID != want {
		t.Errorf("Nats-Msg-Id = %q, want %q", got.MsgID, want)
	}
	testkit.Eventually(t, 2*time.Second, func() bool {
		task := h.task(t, id)
		return task != nil && task.State.String() == "completed"
	}, "job not completed")
	if n := len(fired.list()); n != 1 {
		t.Fatalf("%d expiration.complete events, want 1", n)
	}
}

func TestRedeliveredOrderCreatedSchedulesOneJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start(t)
	fired := recordFirings(t, h.nats.JS)

	id := newID()
	expiresAt := time.Now().Add(1500 * time.Millisecond)
	for _, attempt := range []string{"a", "b", "c"} {
		h.orderCreated(t, id, expiresAt, outbox.ID("order.created", id, 0, attempt))
	}
	h.waitHandled(t, events.OrderCreated.Subject)
	scheduled, err := h.inspector.ListScheduledTasks(h.queue)
	if err != nil {
		t.Fatal(err)
	}
	if len(scheduled) != 1 {
		t.Fatalf("%d jobs scheduled for three deliveries, want 1", len(scheduled))
	}

	got := fired.waitFor(t, id, 3*time.Second)
	checkOnTime(t, got, expiresAt)

	// A delivery after the expiration finds the finished job and does nothing.
	h.orderCreated(t, id, expiresAt, outbox.ID("order.created", id, 0, "late"))
	h.waitHandled(t, events.OrderCreated.Subject)
	if task := h.task(t, id); task == nil || task.State.String() != "completed" {
		t.Fatalf("job after a late redelivery = %+v, want the completed one", task)
	}
	h.waitNoRunningJobs(t)
	if n := h.storedExpirations(t); n != 1 {
		t.Fatalf("stream holds %d expiration.complete, want 1", n)
	}
}

func TestCancelledOrderDoesNotExpire(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start(t)
	fired := recordFirings(t, h.nats.JS)

	cancelled, kept := newID(), newID()
	expiresAt := time.Now().Add(1500 * time.Millisecond)
	h.orderCreated(t, cancelled, expiresAt, outbox.ID("order.created", cancelled, 0))
	h.orderCreated(t, kept, expiresAt, outbox.ID("order.created", kept, 0))
	h.waitScheduled(t, cancelled)
	h.orderCancelled(t, cancelled)
	testkit.Eventually(t, 5*time.Second, func() bool { return h.task(t, cancelled) == nil },
		"job of the cancelled order still there")

	// The order that was not cancelled, due at the same moment, shows the
	// worker at work; the cancelled one would have fired alongside it.
	fired.waitFor(t, kept, 3*time.Second)
	h.waitNoRunningJobs(t)
	if n := h.storedExpirations(t); n != 1 {
		t.Fatalf("stream holds %d expiration.complete, want 1 (the order not cancelled): %+v", n, fired.list())
	}
	// Cancelling an order that has no job (never created, or already
	// expired) is acknowledged.
	h.orderCancelled(t, newID())
	h.waitHandled(t, events.OrderCancelled.Subject)
}

func TestScheduleSurvivesWorkerRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	stop := h.start(t)
	fired := recordFirings(t, h.nats.JS)

	id := newID()
	expiresAt := time.Now().Add(1500 * time.Millisecond)
	h.orderCreated(t, id, expiresAt, outbox.ID("order.created", id, 0))
	h.waitScheduled(t, id)
	stop()

	// The service is down when the order is due; nothing can fire.
	time.Sleep(time.Until(expiresAt.Add(300 * time.Millisecond)))
	if got := fired.list(); len(got) != 0 {
		t.Fatalf("expired while the worker was stopped: %+v", got)
	}

	h.start(t)
	got := fired.waitFor(t, id, 3*time.Second)
	if got.At.Before(expiresAt) {
		t.Fatalf("expired %s early", expiresAt.Sub(got.At))
	}
}

func TestFailedPublishIsRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start(t)
	ctx := context.Background()

	id := newID()
	expiresAt := time.Now().Add(time.Second)
	h.orderCreated(t, id, expiresAt, outbox.ID("order.created", id, 0))
	h.waitScheduled(t, id)

	// With expiration.> taken off the stream, JetStream cannot confirm the
	// publish. (Deleting the stream would not do: the listeners recreate it.)
	if _, err := h.nats.JS.UpdateStream(ctx, jetstream.StreamConfig{
		Name:       events.StreamName,
		Subjects:   []string{"ticket.>", "order.>", "payment.>"},
		Storage:    jetstream.FileStorage,
		Duplicates: events.DuplicateWindow,
	}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		task := h.task(t, id)
		return task != nil && task.Retried > 0 && task.LastErr != ""
	}, "publish did not fail")
	if err := events.EnsureStream(ctx, h.nats.JS, 1); err != nil {
		t.Fatal(err)
	}

	fired := recordFirings(t, h.nats.JS)
	got := fired.waitFor(t, id, 5*time.Second)
	if got.At.Before(expiresAt) {
		t.Fatalf("expired %s early", expiresAt.Sub(got.At))
	}
	testkit.Eventually(t, 2*time.Second, func() bool {
		task := h.task(t, id)
		return task != nil && task.State.String() == "completed"
	}, "job not completed after the retry")
}

func TestOrderCreatedWithoutExpiryIsDropped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start(t)
	id := newID()
	err := h.pub.PublishRaw(context.Background(), events.OrderCreated.Subject, outbox.ID("order.created", id, 0),
		[]byte(`{"id":"`+id+`","version":0,"status":"created"}`))
	if err != nil {
		t.Fatal(err)
	}
	h.waitHandled(t, events.OrderCreated.Subject)
	if task := h.task(t, id); task != nil {
		t.Fatalf("job scheduled for an order without expiresAt: %+v", task)
	}
}
