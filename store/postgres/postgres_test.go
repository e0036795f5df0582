package postgres_test

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/iace/iace/migrations"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/postgres"
	"github.com/iace/iace/store/storetest"
)

var _ store.Store = (*postgres.Store)(nil)

func testURL() string { return storetest.PostgresURL() }

func freshSchema(t *testing.T) string { return storetest.FreshSchema(t) }

// openTest opens a migrated store in cfg.Schema, or a fresh schema.
func openTest(t *testing.T, cfg postgres.Config) *postgres.Store {
	t.Helper()
	cfg.URL, cfg.Migrate = testURL(), true
	if cfg.Schema == "" {
		cfg.Schema = freshSchema(t)
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 4
	}
	s, err := postgres.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("open %s: %v", testURL(), err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, postgres.Config{}) })
}

// TestLimits runs the rules of the caps, on stores with small ones.
func TestLimits(t *testing.T) {
	storetest.RunLimits(t, func(t *testing.T, maxPatterns int) store.Store {
		return openTest(t, postgres.Config{MaxPatternsPerOrg: maxPatterns, MaxConns: 8})
	})
}

// queryCounter counts the queries a store sends.
type queryCounter struct {
	mu sync.Mutex
	n  int
	qs []string
}

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.qs = append(c.qs, strings.Join(strings.Fields(d.SQL), " "))
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *queryCounter) reset() ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	qs, n := c.qs, c.n
	c.qs, c.n = nil, 0
	return qs, n
}

func TestListCallsQueryCountDoesNotGrowWithThePage(t *testing.T) {
	qc := &queryCounter{}
	s := openTest(t, postgres.Config{Tracer: qc, MaxConns: 1})
	ctx := t.Context()
	org, err := s.CreateOrg(ctx, store.Organization{Name: "Busy"})
	if err != nil {
		t.Fatal(err)
	}
	var agents []store.Agent
	for i := range 5 {
		a, err := s.CreateAgent(ctx, store.Agent{OrgID: org.ID, Name: fmt.Sprintf("agent %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		agents = append(agents, a)
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 250 {
		c, err := s.CreateCustomer(ctx, store.Customer{OrgID: org.ID, Phone: store.PhoneNumber(fmt.Sprintf("+1555%07d", i)), Name: "c"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateCall(ctx, store.Call{OrgID: org.ID, AgentID: agents[i%5].ID, CustomerID: c.ID,
			Status: store.CallEnded, StartedAt: base.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}

	count := func(limit int) int {
		t.Helper()
		qc.reset()
		items, next, err := s.ListCalls(ctx, org.ID, store.CallFilter{}, store.Page{Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		qs, n := qc.reset()
		if len(items) != limit || next == "" {
			t.Fatalf("a page of %d: %d calls, next %q", limit, len(items), next)
		}
		for _, it := range items {
			if it.Agent == nil || it.Customer == nil {
				t.Fatalf("call %s listed without its agent or customer", it.Call.ID)
			}
		}
		t.Logf("a page of %d: %d queries: %q", limit, n, qs)
		return n
	}
	count(10) // warm: the connection is made and the statement prepared
	n10, n200 := count(10), count(200)
	if n10 != n200 || n10 > 3 {
		t.Errorf("ListCalls sent %d queries for 10 calls and %d for 200; want the same small number", n10, n200)
	}
}

// migrationFiles lists PostgreSQL's migrations.
func migrationFiles(t *testing.T) []string {
	t.Helper()
	fsys, err := migrations.FS(migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations %v: %v", files, err)
	}
	return files
}

func TestMigrateUpDownUp(t *testing.T) {
	schema := freshSchema(t)
	ctx := t.Context()
	cfg := postgres.Config{URL: testURL(), Schema: schema}

	tables := func() int {
		t.Helper()
		conn, err := pgx.Connect(ctx, testURL())
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close(ctx) }()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename <> 'goose_db_version'`, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	status := func() string {
		t.Helper()
		var b strings.Builder
		if err := postgres.MigrationStatus(ctx, cfg, &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}

	for round := 1; round <= 2; round++ {
		if err := postgres.Migrate(ctx, cfg, postgres.Up); err != nil {
			t.Fatalf("round %d: up: %v", round, err)
		}
		if n := tables(); n != 12 {
			t.Errorf("round %d: %d tables after up, want 12", round, n)
		}
		if st := status(); !strings.Contains(st, "applied") || strings.Contains(st, "pending") {
			t.Errorf("round %d: status after up:\n%s", round, st)
		}
		s, err := postgres.Open(ctx, postgres.Config{URL: testURL(), Schema: schema, Migrate: true})
		if err != nil {
			t.Fatalf("round %d: open a migrated schema: %v", round, err)
		}
		if _, err := s.CreateOrg(ctx, store.Organization{Name: "works"}); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		_ = s.Close()
		for range migrationFiles(t) { // Down rolls back one migration
			if err := postgres.Migrate(ctx, cfg, postgres.Down); err != nil {
				t.Fatalf("round %d: down: %v", round, err)
			}
		}
		if n := tables(); n != 0 {
			t.Errorf("round %d: %d tables after down, want 0", round, n)
		}
		if st := status(); !strings.Contains(st, "pending") {
			t.Errorf("round %d: status after down:\n%s", round, st)
		}
	}
}
