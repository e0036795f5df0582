package cache_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/cache"
)

// callMix plays calls against nodes in turn, as a load balancer spreads them:
// each call routes its dialed number, reads the agent, finds the caller
// (creating an unknown one), reads the profile twice more, and ends with
// FinishCall (which invalidates the customer). Every updateEvery calls an
// agent is edited. It plays calls [from, to) and returns the agent reads and
// how many reached the database.
func callMix(t *testing.T, nodes []*node, f fixture, rng *rand.Rand, from, to, updateEvery int) (reads, dbReads int64) {
	t.Helper()
	ctx := context.Background()
	var before int64
	for _, n := range nodes {
		before += n.db.agentReads.Load()
	}
	for i := from; i < to; i++ {
		n := nodes[i%len(nodes)]
		dialed := f.numbers[rng.IntN(len(f.numbers))]
		a, err := n.AgentForNumber(ctx, dialed)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.GetAgent(ctx, f.org, a.ID); err != nil {
			t.Fatal(err)
		}
		reads += 2

		var caller store.PhoneNumber
		if rng.IntN(10) == 0 { // one caller in ten is new
			caller = store.PhoneNumber(fmt.Sprintf("+1777%07d", i))
		} else {
			caller = f.customers[rng.IntN(len(f.customers))].Phone
		}
		c, err := n.CustomerByPhone(ctx, f.org, caller)
		if errors.Is(err, store.ErrNotFound) {
			c, err = n.CreateCustomer(ctx, store.Customer{OrgID: f.org, Phone: caller})
		}
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := n.GetCustomer(ctx, f.org, c.ID); err != nil {
				t.Fatal(err)
			}
		}
		call, err := n.CreateCall(ctx, store.Call{OrgID: f.org, AgentID: a.ID, CustomerID: c.ID, From: caller, To: dialed})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.FinishCall(ctx, store.CallEnd{OrgID: f.org, CallID: call.ID, EndedAt: time.Now(), Outcome: store.OutcomeResolved}); err != nil {
			t.Fatal(err)
		}

		if updateEvery > 0 && i%updateEvery == updateEvery-1 {
			edit := f.agents[rng.IntN(len(f.agents))]
			edit.Greeting = fmt.Sprintf("Greeting %d", i)
			if _, err := n.UpdateAgent(ctx, edit); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, n := range nodes {
		dbReads += n.db.agentReads.Load()
	}
	return reads, dbReads - before
}

// TestCallMixHitRate measures the agent-read hit rate of 1,000 calls over 20
// agents with 5 numbers each and 500 known callers, an agent edited every 50
// calls: on two nodes sharing Redis, and on one node without Redis, over
// PostgreSQL.
func TestCallMixHitRate(t *testing.T) {
	if testing.Short() {
		t.Skip("a thousand calls")
	}
	const calls, updateEvery = 1000, 50
	for _, tc := range []struct {
		name  string
		nodes int
		redis bool
	}{
		{"two nodes sharing Redis", 2, true},
		{"one node, in-process only", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := newPostgres(context.Background(), t)
			f := seed(t, db, 20, 5, 500)
			var rdb *redis.Client
			cfg := cache.Config{}
			if tc.redis {
				rdb, cfg = testRedis(context.Background(), t)
			}
			nodes := make([]*node, tc.nodes)
			for i := range nodes {
				nodes[i] = newNode(t, db, rdb, cfg, nil)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			// The first half warms the caches (every number is new once);
			// the second half is the steady state.
			r1, db1 := callMix(t, nodes, f, rng, 0, calls/2, updateEvery)
			r2, db2 := callMix(t, nodes, f, rng, calls/2, calls, updateEvery)
			reads, dbReads := r1+r2, db1+db2
			var local, fromRedis float64
			for _, n := range nodes {
				local += n.hits(t, "agent", "local")
				fromRedis += n.hits(t, "agent", "redis")
			}
			t.Logf("%d calls, %d agent reads: hit rate %.1f%% (local %.1f%%, redis %.1f%%), %d database reads; second half alone %.1f%%",
				calls, reads, 100*(1-float64(dbReads)/float64(reads)),
				100*local/float64(reads), 100*fromRedis/float64(reads), dbReads,
				100*(1-float64(db2)/float64(r2)))
			if hit := 1 - float64(dbReads)/float64(reads); hit < 0.9 {
				t.Errorf("agent hit rate %.3f, want at least 0.9", hit)
			}
		})
	}
}

// BenchmarkGetAgent is the cost of an agent read answered by the local layer.
func BenchmarkGetAgent(b *testing.B) {
	ctx := context.Background()
	db := newDB(b)
	f := seed(b, db, 1, 1, 0)
	n := newNode(b, db, nil, cache.Config{}, nil)
	if _, err := n.AgentForNumber(ctx, f.numbers[0]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.AgentForNumber(ctx, f.numbers[0]); err != nil {
			b.Fatal(err)
		}
	}
}
