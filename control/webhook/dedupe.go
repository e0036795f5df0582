package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Deduper remembers webhook event ids. Mark reports true the first time it
// sees an id and false for a redelivery; it is only called once the event
// has a place in the queue, so an event refused with 503 is not marked and
// Telnyx's retry is processed.
type Deduper interface {
	Mark(ctx context.Context, eventID string) (bool, error)
}

// ErrSharedDedupeDown is wrapped by a Deduper's error when the ids it
// shares with the other nodes cannot be reached, though processing an
// event does not need them: the Handler then dedupes on this node alone
// instead of refusing the event. RedisDeduper's errors wrap it.
// StoreDeduper's do not: its database is the one processing writes the
// call to, so an event it cannot mark is refused with 503, and Telnyx
// retries it once the database is back.
var ErrSharedDedupeDown = errors.New("webhook dedupe: the shared event ids cannot be reached")

// RedisSetNX is the part of a go-redis client RedisDeduper uses.
type RedisSetNX interface {
	SetNX(ctx context.Context, key string, value any, expiration time.Duration) *redis.BoolCmd
}

// RedisDeduper keeps event ids in Redis with SET NX and a TTL, shared by
// every node.
type RedisDeduper struct {
	rdb RedisSetNX
	ttl time.Duration
}

// redisKeyPrefix namespaces the keys of webhook event ids.
const redisKeyPrefix = "iace:webhook:event:"

// NewRedisDeduper remembers ids for ttl (0: 24 h, far beyond Telnyx's
// retries of at most a minute).
func NewRedisDeduper(rdb RedisSetNX, ttl time.Duration) *RedisDeduper {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return &RedisDeduper{rdb: rdb, ttl: ttl}
}

// Mark sets the id's key if it is absent. Its errors wrap
// ErrSharedDedupeDown.
func (d *RedisDeduper) Mark(ctx context.Context, eventID string) (bool, error) {
	fresh, err := d.rdb.SetNX(ctx, redisKeyPrefix+eventID, 1, d.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("%w (redis): %w", ErrSharedDedupeDown, err)
	}
	return fresh, nil
}

// EventMarker is the part of a store.Store StoreDeduper uses.
type EventMarker interface {
	MarkEventProcessed(ctx context.Context, eventID string) (bool, error)
}

// StoreDeduper keeps event ids in the database: for deployments without
// Redis (the embedded quick-start, or one Postgres shared by the nodes).
type StoreDeduper struct{ st EventMarker }

// NewStoreDeduper dedupes through st.
func NewStoreDeduper(st EventMarker) *StoreDeduper { return &StoreDeduper{st: st} }

// Mark records the id in the store.
func (d *StoreDeduper) Mark(ctx context.Context, eventID string) (bool, error) {
	fresh, err := d.st.MarkEventProcessed(ctx, eventID)
	if err != nil {
		return false, fmt.Errorf("webhook dedupe (store): %w", err)
	}
	return fresh, nil
}

// This node's memory of event ids. Telnyx redelivers a webhook for about a
// minute (its schedule is not documented: docs/protocols/telnyx.md), so ten
// minutes is well past it. 100,000 ids (about 15 MiB, measured) is ten
// minutes of some 160 webhooks a second; past it the oldest are forgotten
// first, and a late redelivery of one is processed again, to no effect.
const (
	localDedupeTTL = 10 * time.Minute
	localDedupeMax = 100_000
)

// localDeduper remembers the event ids this process marked within its ttl,
// at most max of them, forgetting the oldest first. The Handler marks every
// event in it, so that neither an outage of the shared ids nor their
// return lets this node take an event it has already taken.
type localDeduper struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	// until is when each remembered id is forgotten.
	until map[string]time.Time
	// order holds the marks oldest first: with one ttl for every id, the
	// order in which they expire. An entry whose time no longer matches
	// until's is stale (its id was forgotten and marked again) and skipped.
	order []localMark
}

type localMark struct {
	id    string
	until time.Time
}

func newLocalDeduper(ttl time.Duration, maxIDs int) *localDeduper {
	return &localDeduper{ttl: ttl, max: maxIDs, until: map[string]time.Time{}}
}

// mark remembers id from now and reports whether it was not remembered
// already.
func (d *localDeduper) mark(id string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.order) > 0 && !now.Before(d.order[0].until) {
		d.forgetOldest()
	}
	if until, ok := d.until[id]; ok && now.Before(until) {
		return false
	}
	for len(d.order) >= d.max {
		d.forgetOldest()
	}
	until := now.Add(d.ttl)
	d.until[id] = until
	d.order = append(d.order, localMark{id: id, until: until})
	return true
}

// forgetOldest drops the oldest mark. append copies only the live part of
// order when it grows, so the slice's array stays within twice the marks.
func (d *localDeduper) forgetOldest() {
	m := d.order[0]
	d.order[0] = localMark{}
	d.order = d.order[1:]
	if d.until[m.id].Equal(m.until) {
		delete(d.until, m.id)
	}
}
