package storetest

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresURL is the PostgreSQL the tests use: IACE_TEST_DATABASE_URL, or
// the machine's server (trust auth, database test). It needs pgvector:
// deploy/pgvector.sh installs it and .ci/run starts the server.
func PostgresURL() string {
	if u := os.Getenv("IACE_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// extensions installs vector and pg_trgm in public once per test process,
// before any schema's migration would: an extension created while a test
// schema is first on the search_path would land there and go with it.
var extensions = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return execSQL(ctx, `CREATE EXTENSION IF NOT EXISTS vector SCHEMA public;
		CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public`)
})

// FreshSchema creates an empty schema on PostgresURL, dropped with all it
// holds when the test ends, and returns its name. A test without the
// database fails with a message saying what it needs: CI has it.
func FreshSchema(t testing.TB) string {
	t.Helper()
	if err := extensions(); err != nil {
		t.Fatalf("PostgreSQL with pgvector is needed at %s (IACE_TEST_DATABASE_URL; run deploy/pgvector.sh): %v", PostgresURL(), err)
	}
	schema := "iace_test_" + strings.ToLower(rand.Text()[:12])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := execSQL(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := execSQL(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

func execSQL(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, PostgresURL())
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, sql)
	return err
}
