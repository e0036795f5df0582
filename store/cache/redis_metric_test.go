package cache_test

import (
	"context"
	"testing"

	"github.com/iace/iace/store/cache"
)

// TestRedisReadsAreTimed: the Redis latency panel reads
// iace_cache_redis_get_seconds; every read that asks Redis is one
// observation, a local hit none, and a cache without Redis exports it
// empty.
func TestRedisReadsAreTimed(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	f := seed(t, db, 1, 0, 1)
	rdb, cfg := testRedis(ctx, t)
	a := newNode(t, db, rdb, cfg, nil)
	for range 2 { // a Redis miss, then a local hit
		if _, err := a.GetAgent(ctx, f.org, f.agents[0].ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := redisGets(t, a); n != 1 {
		t.Errorf("%d timed Redis reads, want 1 (the miss; the local hit asks no Redis)", n)
	}
	local := newNode(t, db, nil, cache.Config{}, nil)
	if _, err := local.GetAgent(ctx, f.org, f.agents[0].ID); err != nil {
		t.Fatal(err)
	}
	if n := redisGets(t, local); n != 0 {
		t.Errorf("%d timed Redis reads without Redis, want 0", n)
	}
}

func redisGets(t *testing.T, n *node) uint64 {
	t.Helper()
	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "iace_cache_redis_get_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("iace_cache_redis_get_seconds is not exported")
	return 0
}
