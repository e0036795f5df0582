package cache_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/cache"
	"github.com/iace/iace/store/storetest"
)

// latencies times read over customers, one read each: local misses, so each
// read goes to Redis or the database.
func latencies(ctx context.Context, t *testing.T, n *node, org store.OrgID, custs []store.Customer) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, len(custs))
	for _, c := range custs {
		start := time.Now()
		got, err := n.GetCustomer(ctx, org, c.ID)
		out = append(out, time.Since(start))
		if err != nil || got.ID != c.ID {
			t.Fatalf("GetCustomer(%s) = %+v, %v", c.ID, got, err)
		}
	}
	return out
}

// summary is "p50 ... p99 ... max ..." of ds.
func summary(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	p := func(q float64) time.Duration { return s[int(q*float64(len(s)-1))] }
	return fmt.Sprintf("p50 %v, p99 %v, max %v (%d reads)", p(0.5), p(0.99), s[len(s)-1], len(s))
}

// redisErrors sums the node's Redis errors over every operation.
func (n *node) redisErrors(t testing.TB) float64 {
	var sum float64
	for _, op := range []string{"get", "set", "invalidate", "subscribe", "decode"} {
		sum += n.metric(t, "iace_cache_redis_errors_total", "op", op)
	}
	return sum
}

func TestRedisCut(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	f := seed(t, db, 1, 1, 400)
	real, cfg := testRedis(ctx, t)
	cfg.RedisBackoff = 300 * time.Millisecond
	px := storetest.NewProxy(t, real.Options().Addr)
	rdb := newClient(t, px.Addr())
	n := newNode(t, db, rdb, cfg, nil)
	filler := newNode(t, db, real, cfg, nil) // another node, fills Redis
	batch := func(i int) []store.Customer { return f.customers[i*50 : (i+1)*50] }

	// Baseline: the database alone, and Redis answering a local miss.
	dbOnly := newNode(t, db, nil, cache.Config{}, nil)
	t.Logf("database read, no Redis:          %s", summary(latencies(ctx, t, dbOnly, f.org, batch(0))))
	latencies(ctx, t, filler, f.org, batch(1))
	t.Logf("local miss, Redis hit:            %s", summary(latencies(ctx, t, n, f.org, batch(1))))
	if got := n.hits(t, "customer", "redis"); got != 50 {
		t.Fatalf("redis hits = %v, want 50", got)
	}
	if _, err := n.GetAgent(ctx, f.org, f.agents[0].ID); err != nil {
		t.Fatal(err)
	}

	t.Run("with Redis cut, reads come from the database", func(t *testing.T) {
		px.Cut()
		dbBefore := n.db.customerReads.Load()
		lat := latencies(ctx, t, n, f.org, batch(2))
		t.Logf("Redis cut (refused), first read:  %v", lat[0])
		t.Logf("Redis cut (refused), all reads:   %s", summary(lat))
		if got := n.db.customerReads.Load() - dbBefore; got != 50 {
			t.Fatalf("database reads = %d, want 50", got)
		}
		// The subscriber or the first read saw Redis go: the reads after
		// it do not ask Redis until the back-off is over.
		if got := n.redisErrors(t); got < 1 {
			t.Fatalf("redis errors = %v, want at least 1", got)
		}
		// What the local layer holds is still served from it.
		before := n.hits(t, "customer", "local")
		latencies(ctx, t, n, f.org, batch(1))
		if got := n.hits(t, "customer", "local") - before; got != 50 {
			t.Fatalf("local hits with Redis cut = %v, want 50", got)
		}
		// After the back-off Redis is tried again, fails fast, and the
		// read still succeeds.
		time.Sleep(cfg.RedisBackoff)
		lat = latencies(ctx, t, n, f.org, batch(3)[:1])
		t.Logf("Redis cut, read after the back-off: %v", lat[0])
	})

	t.Run("a write with Redis cut succeeds and reaches Redis when it is back", func(t *testing.T) {
		a := f.agents[0]
		a.Greeting = "Written while Redis was away"
		if _, err := n.UpdateAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, err := n.GetAgent(ctx, f.org, a.ID)
		if err != nil || got.Greeting != a.Greeting {
			t.Fatalf("GetAgent = %q, %v", got.Greeting, err)
		}
	})

	t.Run("with Redis not answering, a read waits at most the Redis timeout", func(t *testing.T) {
		// A node started now: its pool holds only live connections.
		px.Restore()
		n := newNode(t, db, newClient(t, px.Addr()), cfg, nil)
		px.Stall()
		start := time.Now()
		lat := latencies(ctx, t, n, f.org, batch(4))
		elapsed := time.Since(start)
		t.Logf("Redis stalled, first read:        %v", lat[0])
		t.Logf("Redis stalled, all reads:         %s", summary(lat))
		if lat[0] < cache.DefaultRedisTimeout || lat[0] > cache.DefaultRedisTimeout+time.Second {
			t.Errorf("first read took %v, want about the Redis timeout (%v)", lat[0], cache.DefaultRedisTimeout)
		}
		// One read per back-off period waits on Redis, the others skip it.
		slow := 0
		for _, d := range lat {
			if d >= cache.DefaultRedisTimeout {
				slow++
			}
		}
		if want := 1 + int(elapsed/cfg.RedisBackoff); slow > want {
			t.Errorf("%d reads waited on Redis in %v, want at most %d (one per back-off)", slow, elapsed, want)
		}
		// The subscription's connection is open but silent: the PING it
		// sends after a quiet interval goes unanswered, and it is dropped.
		start = time.Now()
		waitFor(t, "the subscriber to notice", func() bool {
			return n.metric(t, "iace_cache_redis_subscribed") == 0
		})
		t.Logf("a silent subscription was dropped after %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("when Redis is back, missed invalidations are delivered", func(t *testing.T) {
		px.Restore()
		n.waitSubscribed(t)
		key := cfg.KeyPrefix + cache.AgentKey(f.org, f.agents[0].ID)
		waitFor(t, "the pending invalidation to reach Redis", func() bool {
			v, err := real.Get(ctx, key).Result()
			return err == nil && v == cache.Tombstone
		})
		// And reads use Redis again once the back-off is over.
		i := 0
		waitFor(t, "reads to use Redis again", func() bool {
			c := batch(5)[i%50 : i%50+1]
			i++
			latencies(ctx, t, filler, f.org, c) // the other node puts it in Redis
			before := n.hits(t, "customer", "redis")
			latencies(ctx, t, n, f.org, c)
			return n.hits(t, "customer", "redis") > before
		})
	})
}
