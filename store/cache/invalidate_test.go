package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/cache"
)

func TestInvalidationAcrossNodes(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	f := seed(t, db, 1, 1, 1)
	rdb, cfg := testRedis(ctx, t)
	a := newNode(t, db, rdb, cfg, nil)
	b := newNode(t, db, rdb, cfg, nil)
	agent := f.agents[0]
	cust := f.customers[0]

	// Both nodes hold the agent and the customer locally.
	for _, n := range []*node{a, b} {
		if _, err := n.AgentForNumber(ctx, f.numbers[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := n.CustomerByPhone(ctx, f.org, cust.Phone); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("an agent updated on one node is read anew on the other", func(t *testing.T) {
		before := b.metric(t, "iace_cache_invalidations_total", "origin", "remote")
		agent.Greeting = "Updated on A"
		if _, err := a.UpdateAgent(ctx, agent); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "node B to receive the invalidation", func() bool {
			return b.metric(t, "iace_cache_invalidations_total", "origin", "remote") > before
		})
		for _, read := range []func() (store.Agent, error){
			func() (store.Agent, error) { return b.GetAgent(ctx, f.org, agent.ID) },
			func() (store.Agent, error) { return b.AgentForNumber(ctx, f.numbers[0]) },
		} {
			got, err := read()
			if err != nil || got.Greeting != "Updated on A" {
				t.Fatalf("node B reads %q, %v; want the update", got.Greeting, err)
			}
		}
		// A's own next read is fresh too.
		got, err := a.GetAgent(ctx, f.org, agent.ID)
		if err != nil || got.Greeting != "Updated on A" {
			t.Fatalf("node A reads %q, %v; want the update", got.Greeting, err)
		}
	})

	t.Run("a finished call refreshes the customer's statistics on every node", func(t *testing.T) {
		call, err := a.CreateCall(ctx, store.Call{
			OrgID: f.org, AgentID: agent.ID, CustomerID: cust.ID,
			Direction: "incoming", From: cust.Phone, To: f.numbers[0],
		})
		if err != nil {
			t.Fatal(err)
		}
		before := b.metric(t, "iace_cache_invalidations_total", "origin", "remote")
		if _, err := a.FinishCall(ctx, store.CallEnd{
			OrgID: f.org, CallID: call.ID, EndedAt: time.Now(), Outcome: store.OutcomeResolved,
		}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "node B to receive the invalidation", func() bool {
			return b.metric(t, "iace_cache_invalidations_total", "origin", "remote") > before
		})
		got, err := b.CustomerByPhone(ctx, f.org, cust.Phone)
		if err != nil || got.CallCount != 1 || got.LastCallAt == nil {
			t.Fatalf("node B reads call count %d, last call %v, %v; want 1 and a time", got.CallCount, got.LastCallAt, err)
		}
	})

	t.Run("a customer's new phone is found by it and not by the old one", func(t *testing.T) {
		c, err := b.GetCustomer(ctx, f.org, cust.ID)
		if err != nil {
			t.Fatal(err)
		}
		old := c.Phone
		c.Phone = "+16660009999"
		before := b.metric(t, "iace_cache_invalidations_total", "origin", "remote")
		if _, err := a.UpdateCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "node B to receive the invalidation", func() bool {
			return b.metric(t, "iace_cache_invalidations_total", "origin", "remote") > before
		})
		// The message names the customer and its new phone, not the old
		// phone: B's old route is caught by the phone check.
		if _, err := b.CustomerByPhone(ctx, f.org, old); err == nil {
			t.Fatal("the old phone still finds the customer")
		}
		got, err := b.CustomerByPhone(ctx, f.org, c.Phone)
		if err != nil || got.ID != c.ID {
			t.Fatalf("new phone: %+v, %v", got, err)
		}
	})

	t.Run("a customer's memory set on one node is read anew on the other", func(t *testing.T) {
		// B holds the customer by id and by phone.
		c, err := b.GetCustomer(ctx, f.org, cust.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.CustomerByPhone(ctx, f.org, c.Phone); err != nil {
			t.Fatal(err)
		}
		before := b.metric(t, "iace_cache_invalidations_total", "origin", "remote")
		if _, err := a.SetCustomerMemory(ctx, f.org, cust.ID, "  Remembered on A.  "); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "node B to receive the invalidation", func() bool {
			return b.metric(t, "iace_cache_invalidations_total", "origin", "remote") > before
		})
		for _, read := range []func() (store.Customer, error){
			func() (store.Customer, error) { return b.GetCustomer(ctx, f.org, cust.ID) },
			func() (store.Customer, error) { return b.CustomerByPhone(ctx, f.org, c.Phone) },
			func() (store.Customer, error) { return a.GetCustomer(ctx, f.org, cust.ID) },
		} {
			got, err := read()
			if err != nil || got.MemorySummary != "Remembered on A." || got.Name != c.Name {
				t.Fatalf("a node reads memory %q name %q, %v; want the new memory and the name as it was", got.MemorySummary, got.Name, err)
			}
		}
	})

	t.Run("a moved number routes to its new agent", func(t *testing.T) {
		other, err := db.CreateAgent(ctx, store.Agent{OrgID: f.org, Name: "other", Greeting: "Hi", Fallback: "?"})
		if err != nil {
			t.Fatal(err)
		}
		before := b.metric(t, "iace_cache_invalidations_total", "origin", "remote")
		if err := a.RemoveNumber(ctx, f.org, f.numbers[0]); err != nil {
			t.Fatal(err)
		}
		if err := a.AssignNumber(ctx, store.Number{OrgID: f.org, E164: f.numbers[0], AgentID: other.ID}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "node B to receive both invalidations", func() bool {
			return b.metric(t, "iace_cache_invalidations_total", "origin", "remote") >= before+2
		})
		got, err := b.AgentForNumber(ctx, f.numbers[0])
		if err != nil || got.ID != other.ID {
			t.Fatalf("node B routes to %q, %v; want %q", got.ID, err, other.ID)
		}
	})

	t.Run("a deleted agent's numbers stop routing", func(t *testing.T) {
		victim, err := db.CreateAgent(ctx, store.Agent{OrgID: f.org, Name: "victim", Greeting: "Hi", Fallback: "?"})
		if err != nil {
			t.Fatal(err)
		}
		num := store.PhoneNumber("+15550000777")
		if err := db.AllotNumber(ctx, f.org, num); err != nil {
			t.Fatal(err)
		}
		if err := a.AssignNumber(ctx, store.Number{OrgID: f.org, E164: num, AgentID: victim.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.AgentForNumber(ctx, num); err != nil {
			t.Fatal(err)
		}
		before := b.metric(t, "iace_cache_invalidations_total", "origin", "remote")
		if err := a.DeleteAgent(ctx, f.org, victim.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "node B to receive the invalidation", func() bool {
			return b.metric(t, "iace_cache_invalidations_total", "origin", "remote") > before
		})
		for _, n := range []*node{a, b} {
			if _, err := n.AgentForNumber(ctx, num); err == nil {
				t.Fatal("a deleted agent's number still routes")
			}
		}
	})

	t.Run("Redis holds a tombstone, not the old value, after a write", func(t *testing.T) {
		v, err := rdb.Get(ctx, cfg.KeyPrefix+cache.AgentKey(f.org, agent.ID)).Result()
		if err != nil {
			t.Fatal(err)
		}
		// The reads above came after the tombstone: they went to the
		// database and left it (SET NX), so the key holds the tombstone
		// until it expires.
		if v != cache.Tombstone {
			t.Fatalf("redis holds %.40q, want the tombstone", v)
		}
	})
}
