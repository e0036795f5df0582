package postgres

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/iace/iace/migrations"
	"github.com/iace/iace/store"
)

// Direction says which way Migrate goes.
type Direction int

// Directions.
const (
	Up   Direction = iota // apply every pending migration
	Down                  // roll back the latest one
)

// Migrate applies (Up) or rolls back (Down) migrations on the database of
// cfg, in cfg.Schema when set (Up creates it). It is `iace migrate up|down`.
func Migrate(ctx context.Context, cfg Config, d Direction) error {
	cc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return fmt.Errorf("postgres: %w: database URL: %w", store.ErrInvalid, err)
	}
	return migrate(ctx, searchPath(cc, cfg.Schema), cfg.Schema, d, nil)
}

// MigrationStatus writes each migration's state to w. It is
// `iace migrate status`.
func MigrationStatus(ctx context.Context, cfg Config, w io.Writer) error {
	cc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return fmt.Errorf("postgres: %w: database URL: %w", store.ErrInvalid, err)
	}
	return migrate(ctx, searchPath(cc, cfg.Schema), "", -1, w)
}

// searchPath puts schema first on the connection's search_path, public
// after it (where the extensions live).
func searchPath(cc *pgx.ConnConfig, schema string) *pgx.ConnConfig {
	if schema != "" {
		cc.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize() + ", public"
	}
	return cc
}

// migrate runs goose over a database/sql handle of its own: Up (creating
// schema first), Down, or the status into w for any other d.
func migrate(ctx context.Context, cc *pgx.ConnConfig, schema string, d Direction, w io.Writer) error {
	cc.Tracer = nil // a test's query count is about the store's queries
	db := stdlib.OpenDB(*cc)
	defer func() { _ = db.Close() }() // nothing is left to flush once goose returned
	var err error
	switch d {
	case Up:
		if schema != "" {
			if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
				return wrap(ctx, "create schema", err)
			}
		}
		err = migrations.Up(ctx, db, migrations.Postgres)
	case Down:
		err = migrations.Down(ctx, db, migrations.Postgres)
	default:
		err = migrations.Status(ctx, db, migrations.Postgres, w)
	}
	return wrap(ctx, "migrate", err)
}
