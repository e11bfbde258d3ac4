package events_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

// A follower started before its broker is up follows once it is; a follower
// started on a stream that holds revocations says it is loaded only after it
// has applied all of them: no moment exists when Loaded is nil and an
// earlier revocation is unknown.
func TestFollowLoadsTheWholeStreamFirst(t *testing.T) {
	ctx := testkit.Context(t)
	port := testkit.FreePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	connect := func() jetstream.JetStream {
		nc, js, err := events.Connect(ctx, url, "follower", 1, testkit.Logger(t),
			events.UserOptions(events.AdminUser, natskit.Password(events.AdminUser))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return js
	}
	follow := func(js jetstream.JetStream, loadedEarly func(applied int64) bool) (*events.Follower, *atomic.Int64, *atomic.Bool) {
		var applied atomic.Int64
		var early atomic.Bool
		var follower atomic.Pointer[events.Follower] // set once Follow returns; the handler may run before
		f := events.Follow(js, testkit.Logger(t), events.SessionRevoked, func(events.SessionRevokedData) {
			if f := follower.Load(); f != nil && f.Loaded(ctx) == nil && loadedEarly(applied.Load()) {
				early.Store(true)
			}
			applied.Add(1)
		})
		follower.Store(f)
		t.Cleanup(f.Stop)
		return f, &applied, &early
	}

	first, applied, _ := follow(connect(), func(int64) bool { return false })
	if first.Loaded(ctx) == nil {
		t.Fatal("loaded without a broker")
	}
	natskit.StartServer(t, port)
	testkit.Eventually(t, 30*time.Second, func() bool { return first.Loaded(ctx) == nil }, "never loaded the empty stream")

	_, admin := natskit.Connect(t, url)
	pub := events.NewPublisher(admin)
	const stored = 50
	for i := range stored {
		id := fmt.Sprint("revoked-", i)
		if err := events.Publish(ctx, pub, events.SessionRevoked, id, events.SessionRevokedData{SessionID: id}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 20*time.Second, func() bool { return applied.Load() == stored },
		"the first follower applied %d of %d", applied.Load(), stored)

	second, applied2, early := follow(connect(), func(n int64) bool { return n < stored })
	testkit.Eventually(t, 30*time.Second, func() bool { return second.Loaded(ctx) == nil }, "the second never loaded")
	if n := applied2.Load(); n < stored {
		t.Fatalf("loaded after %d of %d revocations", n, stored)
	}
	if early.Load() {
		t.Fatal("Loaded was nil before the stored revocations were applied")
	}
}
