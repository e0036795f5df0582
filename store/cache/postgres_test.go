package cache_test

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/iace/iace/store/postgres"
)

// databaseURL is the machine's PostgreSQL; a test works in a fresh schema.
func databaseURL() string {
	if u := os.Getenv("IACE_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// extensions installs vector and pg_trgm in public once per process, before
// a test schema first on the search_path could receive them (as
// store/postgres's tests do).
var extensions = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, databaseURL())
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS vector SCHEMA public;
		CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public`)
	return err
})

// newPostgres opens a migrated store in a fresh schema, dropped after the
// test.
func newPostgres(ctx context.Context, t testing.TB) *postgres.Store {
	t.Helper()
	if err := extensions(); err != nil {
		t.Fatalf("PostgreSQL with pgvector is needed at %s (IACE_TEST_DATABASE_URL): %v", databaseURL(), err)
	}
	schema := "iace_test_cache_" + strings.ToLower(rand.Text()[:12])
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, databaseURL())
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(ctx) }()
		_, err = conn.Exec(ctx, sql)
		return err
	}
	cleanupCtx := context.WithoutCancel(ctx)
	t.Cleanup(func() {
		if err := exec(cleanupCtx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	db, err := postgres.Open(ctx, postgres.Config{URL: databaseURL(), Schema: schema, Migrate: true, MaxConns: 4})
	if err != nil {
		t.Fatalf("open %s: %v", databaseURL(), err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
