package webhook

import (
	"context"
	"fmt"
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

// Mark sets the id's key if it is absent.
func (d *RedisDeduper) Mark(ctx context.Context, eventID string) (bool, error) {
	fresh, err := d.rdb.SetNX(ctx, redisKeyPrefix+eventID, 1, d.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("webhook dedupe (redis): %w", err)
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
