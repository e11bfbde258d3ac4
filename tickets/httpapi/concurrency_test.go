package httpapi_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

// Twenty owners' edits race on one ticket: each success is applied to the
// version before it and bumps it by exactly one, and each is published.
func TestConcurrentEdits(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	updated := natskit.Record(t, a.NATS.JS, events.TicketUpdated)
	tk := a.create(t, alice, "concert", "10")

	const editors = 20
	var wg sync.WaitGroup
	results := make([]ticket, editors)
	codes := make([]int, editors)
	for i := range editors {
		wg.Go(func() {
			res := testkit.Call(t, a.h, http.MethodPut, "/api/tickets/"+tk.ID, fmt.Sprintf(`{"title":"edit %d","price":%d}`, i, 10+i), as(t, alice)...)
			codes[i] = res.Status
			if res.Status == http.StatusOK {
				results[i] = decode[ticket](t, res)
			}
		})
	}
	wg.Wait()

	succeeded := map[int64]ticket{} // by the version each success produced
	for i, code := range codes {
		switch code {
		case http.StatusOK:
			v := results[i].Version
			if prev, dup := succeeded[v]; dup {
				t.Fatalf("two edits produced version %d: %+v and %+v", v, prev, results[i])
			}
			succeeded[v] = results[i]
		case http.StatusConflict: // allowed: reported, not lost
		default:
			t.Fatalf("edit %d: status %d", i, code)
		}
	}
	t.Logf("%d of %d edits succeeded", len(succeeded), editors)
	if len(succeeded) == 0 {
		t.Fatal("no edit succeeded")
	}

	final := decode[ticket](t, testkit.Call(t, a.h, http.MethodGet, "/api/tickets/"+tk.ID, nil))
	if final.Version != int64(len(succeeded)) {
		t.Fatalf("version %d after %d successful edits", final.Version, len(succeeded))
	}
	if last := succeeded[final.Version]; final.Title != last.Title || final.Price != last.Price {
		t.Fatalf("stored %+v, but the last success was %+v", final, last)
	}

	got := updated.WaitFor(t, len(succeeded), 10*time.Second)
	if len(got) != len(succeeded) {
		t.Fatalf("%d ticket.updated events for %d successes", len(got), len(succeeded))
	}
	for _, e := range got {
		s, ok := succeeded[e.Data.Version]
		if !ok || e.Data.Title != s.Title || e.Data.Price != s.Price {
			t.Fatalf("event %+v does not match the success %+v", e.Data, s)
		}
	}
}
