package outbox

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/events"
)

// Relay publishes the pending events of one collection.
type Relay struct {
	coll  *mongo.Collection
	pub   *events.Publisher
	log   *slog.Logger
	kicks []chan kick // one per worker; a document's id always goes to the same one
	sweep time.Duration

	beforePublish func(docID any) // tests' hook; nil otherwise
}

// Workers is how many documents a relay publishes at once. A document's
// events are always published by the same worker, in order; different
// documents' events are independent, so a publish waiting for JetStream's
// acknowledgement does not hold back the others.
const Workers = 8

// PendingFilter selects the documents with events to publish. It is an
// inequality on the counter, not a range ($gt), so that FerretDB's
// PostgreSQL backend evaluates it in SQL instead of decoding every document.
var PendingFilter = bson.D{{Key: "outboxN", Value: bson.D{{Key: "$ne", Value: 0}}}}

// NewRelay returns a relay for coll. It publishes a document's events right
// away when told with Notify, and sweeps the collection every sweep
// interval for events a crashed writer (or a full queue, or a failed
// publish) left behind: those stored at least one interval before.
func NewRelay(coll *mongo.Collection, pub *events.Publisher, log *slog.Logger, sweep time.Duration) *Relay {
	r := &Relay{
		coll:  coll,
		pub:   pub,
		log:   log.With("component", "outbox", "collection", coll.Name()),
		sweep: sweep,
	}
	for range Workers {
		r.kicks = append(r.kicks, make(chan kick, 256))
	}
	return r
}

// EnsureIndex creates the index the sweep query uses.
func (r *Relay) EnsureIndex(ctx context.Context) error {
	_, err := r.coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "outboxN", Value: 1}}})
	return err
}

// kick asks a worker to publish a document's events.
type kick struct {
	id      any
	pending []Event // all of the document's pending events; nil: read them
}

// Notify asks the relay to publish the events of the document with this _id
// now. It never blocks: when the queue is full the next sweep does the work.
//
// pending, when given, are all of the document's pending events as the
// write that stored the latest of them left them: an insert's events, or
// the outbox of the document an update returned (findAndModify, then
// Fields.Events), older events included, which go first. The relay then
// publishes without reading the document back. Without them (after an
// update that returned no document) it reads the document first.
func (r *Relay) Notify(id any, pending ...Event) {
	select {
	case r.kicks[worker(id)] <- kick{id: id, pending: pending}:
	default:
	}
}

// worker is the worker whose queue Notify uses for the document with this
// _id; a sweep splits its documents among its goroutines the same way.
func worker(id any) int {
	h := fnv.New32a()
	_, _ = fmt.Fprint(h, id)
	return int(h.Sum32() % Workers)
}

// Run sweeps once, then publishes on every Notify (Workers at a time) and
// every sweep interval until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, kick := range r.kicks {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case k := <-kick:
					var err error
					if k.pending != nil {
						err = r.publish(ctx, k.id, k.pending)
					} else {
						err = r.publishDoc(ctx, bson.D{{Key: "_id", Value: k.id}})
					}
					if err != nil && ctx.Err() == nil {
						r.log.Warn("publish pending events failed; will retry on next sweep", "id", k.id, "err", err)
					}
				}
			}
		})
	}
	t := time.NewTicker(r.sweep)
	defer t.Stop()
	// The first sweep takes every pending event: this relay has none of its
	// own in flight yet, and what is there was left by an earlier run.
	r.sweepOnce(ctx, time.Time{})
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.sweepOnce(ctx, time.Now().Add(-r.sweep))
		}
	}
}

// Start runs the relay in the background until the returned stop is called.
// stop ends the loop, then publishes what the last changes left pending (for
// at most five seconds; anything still pending waits for the next start's
// sweep). Call stop after the HTTP server and the listeners have stopped.
func (r *Relay) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	backlog.add(r) // its collection's backlog on /metrics while it runs
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
		backlog.remove(r)
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Flush(fctx); err != nil {
			r.log.Warn("events left pending for the next start", "err", err)
		}
	}
}

// Flush publishes everything pending now; tests and shutdown use it.
func (r *Relay) Flush(ctx context.Context) error { return r.flush(ctx, time.Time{}) }

// sweepOnce publishes the documents with an event stored before cutoff:
// after the first sweep, at least one sweep interval ago. Younger ones are
// the writers' to publish (Notify does within milliseconds): a sweep that
// took them too would publish and clear each a second time while they are
// in flight (measured under create-ticket -c 16: a ninth of tickets' CPU,
// and one more read and update per document at the store).
func (r *Relay) sweepOnce(ctx context.Context, cutoff time.Time) {
	if err := r.flush(ctx, cutoff); err != nil && ctx.Err() == nil {
		r.log.Warn("outbox sweep incomplete; will retry", "err", err)
	}
}

// flush publishes the pending documents with an event stored before
// cutoff (the zero time: every pending document), each read once by the
// query that finds it. They are published Workers at a time (split as
// Notify splits them), since each waits for JetStream's acknowledgement and
// its clear: one at a time, the backlog that writers under create-ticket -c
// 16 had left to the sweeps after 20 s (5,524 documents) took 27 s to drain
// once the load stopped; Workers at a time 11 s (3,982), while more was
// published during the load.
func (r *Relay) flush(ctx context.Context, cutoff time.Time) error {
	cur, err := r.coll.Find(ctx, PendingFilter, options.Find().SetProjection(bson.D{{Key: "outbox", Value: 1}}))
	if err != nil {
		return err
	}
	var docs []pendingDoc
	if err := cur.All(ctx, &docs); err != nil {
		return err
	}
	type swept struct {
		id   any
		evts []Event
	}
	var shares [Workers][]swept
	n := 0
	for _, d := range docs {
		evts := Fields{Outbox: d.Outbox}.Events()
		if !cutoff.IsZero() && !storedBefore(evts, cutoff) {
			continue
		}
		n++
		w := worker(d.ID)
		shares[w] = append(shares[w], swept{d.ID, evts})
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
		first  error
	)
	for _, share := range shares {
		wg.Go(func() {
			for _, d := range share {
				if err := r.publish(ctx, d.id, d.evts); err != nil {
					mu.Lock()
					if failed++; first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("%d of %d documents still pending, first error: %w", failed, n, first)
	}
	return nil
}

// storedBefore reports whether one of evts was stored before cutoff.
func storedBefore(evts []Event, cutoff time.Time) bool {
	for _, e := range evts {
		if e.Entry.At.Before(cutoff) {
			return true
		}
	}
	return false
}

type pendingDoc struct {
	ID     any              `bson:"_id"`
	Outbox map[string]Entry `bson:"outbox"`
}

// publishDoc reads the document's pending events and publishes them (a
// Notify without them).
func (r *Relay) publishDoc(ctx context.Context, filter bson.D) error {
	var doc pendingDoc
	err := r.coll.FindOne(ctx, filter, options.FindOne().SetProjection(bson.D{{Key: "outbox", Value: 1}})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return err
	}
	return r.publish(ctx, doc.ID, Fields{Outbox: doc.Outbox}.Events())
}

// publish publishes a document's events in seq order, removing each one
// from the document once JetStream has confirmed it. It stops at the first
// failure so that the order is kept.
func (r *Relay) publish(ctx context.Context, docID any, evts []Event) error {
	if r.beforePublish != nil {
		r.beforePublish(docID)
	}
	sort.Slice(evts, func(i, j int) bool {
		a, b := evts[i].Entry, evts[j].Entry
		if a.Seq != b.Seq {
			return a.Seq < b.Seq
		}
		return a.At.Before(b.At)
	})
	for _, evt := range evts {
		id, e := evt.ID, evt.Entry
		if err := r.pub.PublishRaw(e.traceContext(ctx), e.Subject, id, []byte(e.Data)); err != nil {
			return err
		}
		// The $exists guard makes the decrement happen once even when two
		// relays (replicas) publish the same event.
		_, err := r.coll.UpdateOne(ctx,
			bson.D{{Key: "_id", Value: docID}, {Key: "outbox." + id, Value: bson.D{{Key: "$exists", Value: true}}}},
			bson.D{
				{Key: "$unset", Value: bson.D{{Key: "outbox." + id, Value: ""}}},
				{Key: "$inc", Value: bson.D{{Key: "outboxN", Value: -1}}},
			})
		if err != nil {
			return err
		}
		r.log.Debug("event published", "subject", e.Subject, "msg_id", id)
	}
	return nil
}
