package cache_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/cache"
	"github.com/iace/iace/store/embedded"
)

var _ store.Store = (*cache.Store)(nil)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// redisURL is the machine's Redis; tests use their own key prefix and
// channel, and delete only their own keys.
func redisURL() string {
	if u := os.Getenv("IACE_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// testRedis returns a client of the real Redis and a Config whose prefix and
// channel belong to this test alone; the test's keys are deleted after it.
func testRedis(ctx context.Context, t *testing.T) (*redis.Client, cache.Config) {
	t.Helper()
	rdb := newClient(t, "")
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s: %v", redisURL(), err)
	}
	prefix := fmt.Sprintf("iace:test:%s:%s:", strings.ReplaceAll(t.Name(), "/", "."), rand.Text()[:8])
	ctx = context.WithoutCancel(ctx) // the cleanup runs after the test's context ends
	t.Cleanup(func() {
		keys, err := rdb.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			_ = rdb.Del(ctx, keys...).Err()
		}
	})
	return rdb, cache.Config{KeyPrefix: prefix, Channel: prefix + "invalidate"}
}

// newClient is a client of the real Redis, or with addr set, of that address
// (a proxy in front of it), built as production builds it.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	u := redisURL()
	if addr != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		u = fmt.Sprintf("redis://%s/%d", addr, opt.DB)
	}
	rdb, err := cache.NewRedisClient(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// counting counts the reads that reach the database; the nodes of a test
// share one database, which the test closes.
type counting struct {
	store.Store
	agentReads    atomic.Int64
	customerReads atomic.Int64
}

func (c *counting) GetAgent(ctx context.Context, org store.OrgID, id store.AgentID) (store.Agent, error) {
	c.agentReads.Add(1)
	return c.Store.GetAgent(ctx, org, id)
}

func (c *counting) AgentForNumber(ctx context.Context, e164 store.PhoneNumber) (store.Agent, error) {
	c.agentReads.Add(1)
	return c.Store.AgentForNumber(ctx, e164)
}

func (c *counting) GetCustomer(ctx context.Context, org store.OrgID, id store.CustomerID) (store.Customer, error) {
	c.customerReads.Add(1)
	return c.Store.GetCustomer(ctx, org, id)
}

func (c *counting) CustomerByPhone(ctx context.Context, org store.OrgID, phone store.PhoneNumber) (store.Customer, error) {
	c.customerReads.Add(1)
	return c.Store.CustomerByPhone(ctx, org, phone)
}

func (c *counting) Close() error { return nil }

// newDB opens a fresh embedded database for the test.
func newDB(t testing.TB) *embedded.Store {
	t.Helper()
	db, err := embedded.Open(context.Background(), embedded.Config{
		Path:    filepath.Join(t.TempDir(), "iace.db"),
		Migrate: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// node is one IACE node's cache over the shared database.
type node struct {
	*cache.Store
	db  *counting
	reg *prometheus.Registry
}

func newNode(t testing.TB, db store.Store, rdb *redis.Client, cfg cache.Config, clock func() time.Time) *node {
	t.Helper()
	n := &node{db: &counting{Store: db}, reg: prometheus.NewRegistry()}
	var r redis.UniversalClient
	if rdb != nil { // a nil *redis.Client is not a nil interface
		r = rdb
	}
	n.Store = cache.New(n.db, cfg, cache.Deps{
		Redis:      r,
		Registerer: n.reg,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
		Clock:      clock,
	})
	t.Cleanup(func() { _ = n.Close() })
	if r != nil {
		// Subscribing drops the local layer (messages may have been
		// missed before): let it happen before the test reads.
		n.waitSubscribed(t)
	}
	return n
}

// metric reads one sample of the node's registry; 0 when absent.
func (n *node) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func (n *node) hits(t testing.TB, c, layer string) float64 {
	return n.metric(t, "iace_cache_hits_total", "cache", c, "layer", layer)
}

func (n *node) misses(t testing.TB, c, layer string) float64 {
	return n.metric(t, "iace_cache_misses_total", "cache", c, "layer", layer)
}

// waitFor polls cond until it holds; the events it waits for (a pub/sub
// message, a resubscription) come within milliseconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitSubscribed waits until the node listens to invalidations.
func (n *node) waitSubscribed(t testing.TB) {
	t.Helper()
	waitFor(t, "the invalidation subscription", func() bool {
		return n.metric(t, "iace_cache_redis_subscribed") == 1
	})
}

// fixture is an organization with agents, numbers and customers.
type fixture struct {
	org       store.OrgID
	agents    []store.Agent
	numbers   []store.PhoneNumber // numbers[i] routes to agents[i%len(agents)]
	customers []store.Customer
}

func seed(t testing.TB, db store.Store, nAgents, numbersPerAgent, nCustomers int) fixture {
	t.Helper()
	ctx := context.Background()
	o, err := db.CreateOrg(ctx, store.Organization{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{org: o.ID}
	for i := range nAgents {
		a, err := db.CreateAgent(ctx, store.Agent{
			OrgID:    o.ID,
			Name:     fmt.Sprintf("agent %d", i),
			Greeting: "Hello",
			Fallback: "Sorry?",
			Intents: []store.Intent{
				{Name: "hours", Keywords: []string{"hours", "open"}, Reply: "Nine to five."},
			},
			Tools:      []string{"end_call"},
			Escalation: store.EscalationRules{Keywords: []string{"manager"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		f.agents = append(f.agents, a)
	}
	for i := range nAgents * numbersPerAgent {
		e164 := store.PhoneNumber(fmt.Sprintf("+1555%07d", i))
		if err := db.AllotNumber(ctx, o.ID, e164); err != nil {
			t.Fatal(err)
		}
		if err := db.AssignNumber(ctx, store.Number{OrgID: o.ID, E164: e164, AgentID: f.agents[i%nAgents].ID}); err != nil {
			t.Fatal(err)
		}
		f.numbers = append(f.numbers, e164)
	}
	for i := range nCustomers {
		c, err := db.CreateCustomer(ctx, store.Customer{
			OrgID:      o.ID,
			Phone:      store.PhoneNumber(fmt.Sprintf("+1666%07d", i)),
			Name:       fmt.Sprintf("Customer %d", i),
			Attributes: map[string]string{"tier": "gold"},
		})
		if err != nil {
			t.Fatal(err)
		}
		f.customers = append(f.customers, c)
	}
	return f
}

func TestLayers(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	f := seed(t, db, 2, 1, 2)
	rdb, cfg := testRedis(ctx, t)
	a := newNode(t, db, rdb, cfg, nil)
	agent := f.agents[0]

	t.Run("a first read goes to the database and fills both layers", func(t *testing.T) {
		got, err := a.GetAgent(ctx, f.org, agent.ID)
		if err != nil || got.Name != agent.Name {
			t.Fatalf("GetAgent = %+v, %v", got, err)
		}
		if n := a.db.agentReads.Load(); n != 1 {
			t.Fatalf("database agent reads = %d, want 1", n)
		}
		if got := a.misses(t, "agent", "local"); got != 1 {
			t.Errorf("local misses = %v, want 1", got)
		}
		if got := a.misses(t, "agent", "redis"); got != 1 {
			t.Errorf("redis misses = %v, want 1", got)
		}
	})
	t.Run("the second read is a local hit", func(t *testing.T) {
		if _, err := a.GetAgent(ctx, f.org, agent.ID); err != nil {
			t.Fatal(err)
		}
		if n := a.db.agentReads.Load(); n != 1 {
			t.Fatalf("database agent reads = %d, want 1", n)
		}
		if got := a.hits(t, "agent", "local"); got != 1 {
			t.Errorf("local hits = %v, want 1", got)
		}
	})
	t.Run("another node reads it from Redis", func(t *testing.T) {
		b := newNode(t, db, rdb, cfg, nil)
		got, err := b.GetAgent(ctx, f.org, agent.ID)
		if err != nil || got.Name != agent.Name || len(got.Intents) != 1 {
			t.Fatalf("GetAgent = %+v, %v", got, err)
		}
		if n := b.db.agentReads.Load(); n != 0 {
			t.Fatalf("database agent reads = %d, want 0", n)
		}
		if got := b.hits(t, "agent", "redis"); got != 1 {
			t.Errorf("redis hits = %v, want 1", got)
		}
		if _, err := b.GetAgent(ctx, f.org, agent.ID); err != nil {
			t.Fatal(err)
		}
		if got := b.hits(t, "agent", "local"); got != 1 {
			t.Errorf("local hits after the redis hit = %v, want 1", got)
		}
	})
	t.Run("a number lookup primes the agent by id", func(t *testing.T) {
		other := f.agents[1]
		got, err := a.AgentForNumber(ctx, f.numbers[1])
		if err != nil || got.ID != other.ID {
			t.Fatalf("AgentForNumber = %+v, %v", got, err)
		}
		before := a.db.agentReads.Load()
		if _, err := a.GetAgent(ctx, f.org, other.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.AgentForNumber(ctx, f.numbers[1]); err != nil {
			t.Fatal(err)
		}
		if n := a.db.agentReads.Load(); n != before {
			t.Fatalf("database agent reads went from %d to %d, want no change", before, n)
		}
	})
	t.Run("a phone lookup primes the customer by id", func(t *testing.T) {
		c := f.customers[0]
		got, err := a.CustomerByPhone(ctx, f.org, c.Phone)
		if err != nil || got.ID != c.ID || got.Attributes["tier"] != "gold" {
			t.Fatalf("CustomerByPhone = %+v, %v", got, err)
		}
		if _, err := a.GetCustomer(ctx, f.org, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.CustomerByPhone(ctx, f.org, c.Phone); err != nil {
			t.Fatal(err)
		}
		if n := a.db.customerReads.Load(); n != 1 {
			t.Fatalf("database customer reads = %d, want 1", n)
		}
		if got := a.hits(t, "customer", "local"); got != 2 {
			t.Errorf("customer local hits = %v, want 2", got)
		}
	})
	t.Run("another organization's id is not found", func(t *testing.T) {
		o2, err := db.CreateOrg(ctx, store.Organization{Name: "Other"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.GetAgent(ctx, o2.ID, agent.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetAgent across organizations: %v, want ErrNotFound", err)
		}
		if _, err := a.CustomerByPhone(ctx, o2.ID, f.customers[0].Phone); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("CustomerByPhone across organizations: %v, want ErrNotFound", err)
		}
	})
}

func TestInProcessOnly(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	f := seed(t, db, 1, 1, 1)
	n := newNode(t, db, nil, cache.Config{}, nil)
	for range 3 {
		if _, err := n.AgentForNumber(ctx, f.numbers[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := n.GetAgent(ctx, f.org, f.agents[0].ID); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.db.agentReads.Load(); got != 1 {
		t.Fatalf("database agent reads = %d, want 1", got)
	}
	if got := n.hits(t, "agent", "local"); got != 5 {
		t.Errorf("local hits = %v, want 5", got)
	}
	if got := n.misses(t, "agent", "redis"); got != 0 {
		t.Errorf("redis misses = %v without Redis, want 0", got)
	}

	// A write invalidates the local layer.
	a := f.agents[0]
	a.Greeting = "Good morning"
	if _, err := n.UpdateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := n.AgentForNumber(ctx, f.numbers[0])
	if err != nil || got.Greeting != "Good morning" {
		t.Fatalf("after the update: %+v, %v", got, err)
	}
}

func TestUnknownCallersAreNotCached(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	f := seed(t, db, 1, 1, 0)
	rdb, cfg := testRedis(ctx, t)
	n := newNode(t, db, rdb, cfg, nil)
	phone := store.PhoneNumber("+15550009999")
	if _, err := n.CustomerByPhone(ctx, f.org, phone); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown caller: %v, want ErrNotFound", err)
	}
	created, err := n.CreateCustomer(ctx, store.Customer{OrgID: f.org, Phone: phone, Name: "New"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := n.CustomerByPhone(ctx, f.org, phone)
	if err != nil || got.ID != created.ID {
		t.Fatalf("after create: %+v, %v", got, err)
	}
	if _, err := n.AgentForNumber(ctx, "+19990000000"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unrouted number: %v, want ErrNotFound", err)
	}
}

func TestReturnedValuesAreCopies(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	f := seed(t, db, 1, 1, 1)
	n := newNode(t, db, nil, cache.Config{}, nil)
	read := func() (store.Agent, store.Customer) {
		a, err := n.GetAgent(ctx, f.org, f.agents[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		c, err := n.GetCustomer(ctx, f.org, f.customers[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		return a, c
	}
	a, c := read()
	a.Intents[0].Keywords[0] = "changed"
	a.Intents[0].Reply = "changed"
	a.Tools[0] = "changed"
	a.Escalation.Keywords[0] = "changed"
	c.Attributes["tier"] = "changed"
	a2, c2 := read()
	if a2.Intents[0].Keywords[0] != "hours" || a2.Intents[0].Reply != "Nine to five." ||
		a2.Tools[0] != "end_call" || a2.Escalation.Keywords[0] != "manager" {
		t.Errorf("a caller's change to a returned agent reached the cache: %+v", a2)
	}
	if c2.Attributes["tier"] != "gold" {
		t.Errorf("a caller's change to a returned customer reached the cache: %+v", c2)
	}
	if n.db.agentReads.Load() != 1 || n.db.customerReads.Load() != 1 {
		t.Fatalf("the second read was not a cache hit")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (cache.Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	err := cache.Config{AgentTTL: -1, CustomerTTL: -1, MaxLocalEntries: -1}.Validate()
	if err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Fatalf("Validate = %v, want three problems", err)
	}
}
