package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

// A malformed event published into the stream shows up in the listing and
// is replayed by the command.
func TestListAndReplay(t *testing.T) {
	n := natskit.StartNATS(t)
	t.Setenv("NATS_USER", events.AdminUser)
	t.Setenv("NATS_PASSWORD", natskit.Password(events.AdminUser))
	ctx := testkit.Context(t)
	handled := make(chan string, 4)
	l, err := events.Listen(ctx, n.JS, testkit.Logger(t), events.TicketCreated, "cmd-test",
		func(_ context.Context, m events.Msg[events.TicketCreatedData]) error {
			handled <- m.ID
			return nil
		}, events.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if err := events.NewPublisher(n.JS).PublishRaw(ctx, "ticket.created", "bad-1", []byte(`{"id": 12`)); err != nil {
		t.Fatal(err)
	}
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"-nats", n.URL}, args...), &out)
		return out.String(), err
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		out, err := cmd("list")
		return err == nil && strings.Contains(out, "1 dead letter(s)")
	}, "malformed event not listed")
	out, err := cmd("list", "-json")
	if err != nil || !strings.Contains(out, `"subject":"ticket.created"`) || !strings.Contains(out, `"durable":"cmd-test"`) ||
		!strings.Contains(out, `"msgId":"bad-1"`) || !strings.Contains(out, "malformed payload") {
		t.Fatalf("list -json: %v\n%s", err, out)
	}
	if _, err := cmd("replay"); err == nil {
		t.Fatal("replay without sequences accepted")
	}
	out, err = cmd("replay", "-all", "-durable", "cmd-test")
	if err != nil || !strings.Contains(out, "1 of 1 replayed") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	// Replayed, it is still malformed: it comes back as a new dead letter
	// (with its replay id), proving it went through the listener again.
	testkit.Eventually(t, 5*time.Second, func() bool {
		out, err := cmd("list")
		return err == nil && strings.Contains(out, "bad-1-replay-1")
	}, "replayed event did not reach the listener")
	select {
	case id := <-handled:
		t.Fatalf("a malformed event reached the handler: %s", id)
	default:
	}
}
