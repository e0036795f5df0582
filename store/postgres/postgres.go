// Package postgres is IACE's production store: PostgreSQL through pgx, with
// pgvector's HNSW index for pattern search. It implements store.Store and is
// the store many IACE nodes share.
package postgres

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/iace/iace/store"
)

// Config says how to reach the database.
type Config struct {
	// URL is a PostgreSQL connection URL or DSN, e.g.
	// postgres://iace@db:5432/iace?sslmode=require.
	URL string
	// MaxConns caps the pool (0: pgxpool's default, max(4, CPUs)).
	MaxConns int32
	// Schema, when set, is put first on the search_path (public stays after
	// it, where the vector and pg_trgm extensions live). Tests use it to
	// work in a fresh schema.
	Schema string
	// Tracer, when set, sees every query (tests count them with it).
	Tracer pgx.QueryTracer
	// Migrate applies pending migrations in Open (creating Schema first).
	Migrate bool
	// MaxPatternsPerOrg caps each organization's patterns (0:
	// store.MaxPatternsPerOrg).
	MaxPatternsPerOrg int
}

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool        *pgxpool.Pool
	maxPatterns int
}

// Open connects (and migrates when cfg.Migrate is set). It fails when the
// database cannot be reached, wrapping store.ErrUnavailable.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w: database URL: %w", store.ErrInvalid, err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	if cfg.Schema != "" {
		pc.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize() + ", public"
	}
	if cfg.Migrate {
		// Over a connection of its own: the pool's connections need the
		// vector type, which the first migration creates.
		if err := migrate(ctx, pc.ConnConfig.Copy(), cfg.Schema, Up, nil); err != nil {
			return nil, err
		}
	}
	if cfg.Tracer != nil {
		pc.ConnConfig.Tracer = cfg.Tracer
	}
	pc.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if err := pgxvec.RegisterTypes(ctx, c); err != nil {
			return fmt.Errorf("register pgvector types (is the schema migrated?): %w", err)
		}
		// Times come back in UTC, as the store promises.
		c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID, Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, wrap(ctx, "open", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, wrap(ctx, "open", err)
	}
	return &Store{pool: pool, maxPatterns: cmp.Or(max(cfg.MaxPatternsPerOrg, 0), store.MaxPatternsPerOrg)}, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return wrap(ctx, "ping", s.pool.Ping(ctx))
}

// Close closes every connection. It is idempotent.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func newID() string { return rand.Text() }

// now is the store's clock, at the precision it keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// norm brings a time to what the database keeps: UTC, microseconds.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := norm(*t)
	return &n
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return norm(t)
}

// nullIfEmpty stores "" as NULL (a call's unknown customer, an org-wide
// pattern's agent).
func nullIfEmpty[T ~string](s T) *string {
	if s == "" {
		return nil
	}
	v := string(s)
	return &v
}

func emptyIfNull[T ~string](s *string) T {
	if s == nil {
		return ""
	}
	return T(*s)
}

// jsonValue encodes v for a jsonb column, keeping nil as JSON null.
func jsonValue(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	return b, nil
}

// jsonScan decodes a jsonb column; SQL NULL and JSON null leave v as it is.
func jsonScan(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, v)
}

// pageLimit applies Page's default and cap.
func pageLimit(p store.Page) int {
	switch {
	case p.Limit <= 0:
		return 50
	case p.Limit > store.MaxPageSize:
		return store.MaxPageSize
	}
	return p.Limit
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		// The rollback's own failure adds nothing: the transaction is void.
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return tx.Commit(ctx)
}

// collect scans every row of a query, wrapping a failure for op.
func collect[T any](ctx context.Context, op string, rows pgx.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	out, err := scanAll(rows, err, scan)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// scanAll scans every row of a query.
func scanAll[T any](rows pgx.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func itoa(i int) string { return strconv.Itoa(i) }
