package auth_test

import (
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
	"github.com/iace/iace/store/postgres"
	"github.com/iace/iace/store/storetest"
)

// fastArgon2 keeps the tests quick; TestDefaultArgon2 checks the real cost.
var fastArgon2 = auth.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}

const password = "correct horse battery staple"

// backends open a fresh, migrated store of each kind.
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"postgres", func(t *testing.T) store.Store {
		db, err := postgres.Open(t.Context(), postgres.Config{URL: storetest.PostgresURL(), Schema: storetest.FreshSchema(t), Migrate: true, MaxConns: 4})
		if err != nil {
			t.Fatalf("open %s: %v", storetest.PostgresURL(), err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}},
	{"embedded", func(t *testing.T) store.Store {
		db, err := embedded.Open(t.Context(), embedded.Config{Path: filepath.Join(t.TempDir(), "iace.db"), Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}},
}

// eachBackend runs test on every backend, in parallel.
func eachBackend(t *testing.T, test func(t *testing.T, st store.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, b.open(t))
		})
	}
}

// clock is a settable time source, shared by the services of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testKey is a fixed signing key of the tests.
var testKey = []byte("0123456789abcdef0123456789abcdef")

func baseConfig(clk *clock) auth.Config {
	return auth.Config{SigningKey: testKey, Argon2: fastArgon2, Now: clk.Now}
}

// node is one IACE node's Service, with its metrics registry.
type node struct {
	*auth.Service
	reg *prometheus.Registry
}

func newNode(t *testing.T, cfg auth.Config, st store.Store) node {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := auth.NewService(cfg, st, auth.Throttles{}, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return node{s, reg}
}

// world is an organization with one admin, served by a node.
type world struct {
	st    store.Store
	clk   *clock
	node  node
	org   store.Organization
	admin store.User
}

func newWorld(t *testing.T, st store.Store) world {
	t.Helper()
	clk := newClock()
	w := world{st: st, clk: clk, node: newNode(t, baseConfig(clk), st)}
	var err error
	if w.org, err = st.CreateOrg(t.Context(), store.Organization{Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if w.admin, err = w.node.CreateUser(t.Context(), w.org.ID, " Ada@Example.com ", password, store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	return w
}

var client = netip.MustParseAddr("198.51.100.7")

func (w world) login(t *testing.T) auth.Tokens {
	t.Helper()
	tok, err := w.node.Login(t.Context(), "ada@example.com", password, client)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return tok
}

// value is the sum of a metric's series on n's registry.
func value(t *testing.T, n node, name string) float64 {
	t.Helper()
	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestMain checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
