package cache_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iace/iace/store/cache"
)

// fakeClock is the time of the local layer, moved by the test.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	f := seed(t, db, 1, 1, 1)
	agent, cust := f.agents[0], f.customers[0]
	read := func(n *node) {
		t.Helper()
		if _, err := n.GetAgent(ctx, f.org, agent.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := n.GetCustomer(ctx, f.org, cust.ID); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("in-process entries expire after their TTL", func(t *testing.T) {
		clock := newFakeClock()
		n := newNode(t, db, nil, cache.Config{}, clock.Now)
		read(n)
		clock.Advance(cache.DefaultCustomerTTL - time.Second)
		read(n)
		if a, c := n.db.agentReads.Load(), n.db.customerReads.Load(); a != 1 || c != 1 {
			t.Fatalf("before the customer TTL: database reads agent %d customer %d, want 1 and 1", a, c)
		}
		clock.Advance(2 * time.Second) // past the customer TTL only
		read(n)
		if a, c := n.db.agentReads.Load(), n.db.customerReads.Load(); a != 1 || c != 2 {
			t.Fatalf("past the customer TTL: database reads agent %d customer %d, want 1 and 2", a, c)
		}
		clock.Advance(cache.DefaultAgentTTL) // past the agent TTL
		read(n)
		if a := n.db.agentReads.Load(); a != 2 {
			t.Fatalf("past the agent TTL: database agent reads %d, want 2", a)
		}
	})

	t.Run("Redis keys carry the TTL of their kind", func(t *testing.T) {
		clock := newFakeClock()
		rdb, cfg := testRedis(ctx, t)
		n := newNode(t, db, rdb, cfg, clock.Now)
		read(n)
		for key, ttl := range map[string]time.Duration{
			cache.AgentKey(f.org, agent.ID):   cache.DefaultAgentTTL,
			cache.CustomerKey(f.org, cust.ID): cache.DefaultCustomerTTL,
		} {
			got, err := rdb.PTTL(ctx, cfg.KeyPrefix+key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if got <= ttl-time.Minute || got > ttl {
				t.Errorf("%s: TTL %v, want about %v", key, got, ttl)
			}
		}
		// Past the local TTL the entry comes back from Redis, whose copy
		// (by Redis's own clock) is still fresh.
		clock.Advance(cache.DefaultAgentTTL + time.Second)
		read(n)
		if a, c := n.db.agentReads.Load(), n.db.customerReads.Load(); a != 1 || c != 1 {
			t.Fatalf("database reads agent %d customer %d, want 1 and 1", a, c)
		}
		if got := n.hits(t, "agent", "redis"); got != 1 {
			t.Errorf("agent redis hits = %v, want 1", got)
		}
	})

	t.Run("configured TTLs apply", func(t *testing.T) {
		clock := newFakeClock()
		n := newNode(t, db, nil, cache.Config{AgentTTL: time.Minute, CustomerTTL: 10 * time.Second}, clock.Now)
		read(n)
		clock.Advance(11 * time.Second)
		read(n)
		if a, c := n.db.agentReads.Load(), n.db.customerReads.Load(); a != 1 || c != 2 {
			t.Fatalf("database reads agent %d customer %d, want 1 and 2", a, c)
		}
	})
}
