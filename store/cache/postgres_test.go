package cache_test

import (
	"context"
	"testing"

	"github.com/iace/iace/store/postgres"
	"github.com/iace/iace/store/storetest"
)

// newPostgres opens a migrated store in a fresh schema, dropped after the
// test.
func newPostgres(ctx context.Context, t testing.TB) *postgres.Store {
	t.Helper()
	db, err := postgres.Open(ctx, postgres.Config{URL: storetest.PostgresURL(), Schema: storetest.FreshSchema(t), Migrate: true, MaxConns: 4})
	if err != nil {
		t.Fatalf("open %s: %v", storetest.PostgresURL(), err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
