package store

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// listCache keeps the pages of unreserved tickets this process read
// recently, so that the busiest route (the site's home page) does not ask
// the store for the same page many times a second.
//
// A page is served from the cache only while it is younger than ttl and no
// ticket was written by this process since it was read: a replica's own
// writes (a sale, an edit, a reservation or release by its listeners) show
// at once, another replica's within ttl. The list is eventually consistent
// anyway: reservations reach tickets as events. Concurrent misses of one
// page make one query.
type listCache struct {
	ttl   time.Duration
	gen   atomic.Uint64 // bumped after every ticket write of this process
	group singleflight.Group

	mu    sync.Mutex
	pages map[string]cachedPage
}

type cachedPage struct {
	gen     uint64
	at      time.Time
	tickets []Ticket
	more    bool
}

// maxCachedPages bounds the cache: paging deep into a long list must not
// grow it without end. Past it, the whole cache is dropped (pages are cheap
// to read again).
const maxCachedPages = 1024

func newListCache(ttl time.Duration) *listCache {
	return &listCache{ttl: ttl, pages: map[string]cachedPage{}}
}

// changed records a write: every page read before it is stale.
func (c *listCache) changed() {
	if c != nil {
		c.gen.Add(1)
	}
}

// get returns the page from the cache, or reads it with read.
// key names the page (its query).
func (c *listCache) get(ctx context.Context, key string,
	read func(context.Context) ([]Ticket, bool, error)) ([]Ticket, bool, error) {
	gen := c.gen.Load()
	c.mu.Lock()
	p, ok := c.pages[key]
	c.mu.Unlock()
	if ok && p.gen == gen && time.Since(p.at) < c.ttl {
		return p.tickets, p.more, nil
	}
	// One read per page and generation at a time; its callers share it.
	v, err, _ := c.group.Do(key+"@"+strconv.FormatUint(gen, 10), func() (any, error) {
		at := time.Now()
		tickets, more, err := read(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		p := cachedPage{gen: gen, at: at, tickets: tickets, more: more}
		c.mu.Lock()
		if len(c.pages) >= maxCachedPages {
			clear(c.pages)
		}
		c.pages[key] = p
		c.mu.Unlock()
		return p, nil
	})
	if err != nil {
		return nil, false, err
	}
	p = v.(cachedPage)
	return p.tickets, p.more, nil
}
