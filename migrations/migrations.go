// Package migrations holds IACE's SQL schema, one folder of goose migrations
// per database dialect, embedded in the binary. Up, Down and Status apply them
// to a database through a goose provider (no goose global state).
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Dialect names a database dialect with its own folder of migrations.
type Dialect string

// Dialects.
const (
	Postgres Dialect = "postgres" // migrations/postgres, PostgreSQL 15+ with pgvector and pg_trgm
	SQLite   Dialect = "sqlite"   // migrations/sqlite, the embedded backend
)

//go:embed postgres/*.sql
var postgresFS embed.FS

//go:embed sqlite/*.sql
var sqliteFS embed.FS

// FS returns the migration files of a dialect, at the root of the returned
// file system.
func FS(d Dialect) (fs.FS, error) {
	switch d {
	case Postgres:
		return fs.Sub(postgresFS, "postgres")
	case SQLite:
		return fs.Sub(sqliteFS, "sqlite")
	}
	return nil, fmt.Errorf("migrations: unknown dialect %q", d)
}

// Up applies every pending migration.
func Up(ctx context.Context, db *sql.DB, d Dialect) error {
	p, err := newProvider(ctx, db, d)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %s up: %w", d, err)
	}
	return nil
}

// Down rolls back the most recently applied migration; with none applied it
// does nothing.
func Down(ctx context.Context, db *sql.DB, d Dialect) error {
	p, err := newProvider(ctx, db, d)
	if err != nil {
		return err
	}
	if _, err := p.Down(ctx); err != nil && !errors.Is(err, goose.ErrNoNextVersion) {
		return fmt.Errorf("migrations: %s down: %w", d, err)
	}
	return nil
}

// Status writes one line per migration to w: its version, whether it is
// applied (and when) or pending, and its file.
func Status(ctx context.Context, db *sql.DB, d Dialect, w io.Writer) error {
	p, err := newProvider(ctx, db, d)
	if err != nil {
		return err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %s status: %w", d, err)
	}
	for _, s := range st {
		applied := "pending"
		if s.State == goose.StateApplied {
			applied = "applied " + s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(w, "%05d  %-28s  %s\n", s.Source.Version, applied, s.Source.Path)
	}
	return nil
}

func newProvider(ctx context.Context, db *sql.DB, d Dialect) (*goose.Provider, error) {
	fsys, err := FS(d)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	var gd goose.Dialect
	switch d {
	case Postgres:
		gd = goose.DialectPostgres
		// Many IACE nodes may start at once: one migrates, the others wait
		// (polling each second, for up to 5 minutes). The lock is the
		// schema's, so that migrations of other schemas (the tests') run
		// beside it.
		var schema string
		if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return nil, fmt.Errorf("migrations: current schema: %w", err)
		}
		h := fnv.New64a()
		_, _ = h.Write([]byte("iace migrations " + schema)) // a hash.Hash's Write never fails
		//nolint:gosec // G115: the advisory lock id is the hash's 64 bits reinterpreted as a bigint; wrapping is harmless
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64())), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case SQLite:
		gd = goose.DialectSQLite3
	}
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %s: %w", d, err)
	}
	return p, nil
}
