// Package embedded is the store backend that needs no server: one SQLite file
// through the pure-Go modernc.org/sqlite driver. It is IACE's zero-setup
// default, and searches pattern embeddings exactly, in memory.
package embedded

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/iace/iace/migrations"
	"github.com/iace/iace/store"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Config says where the database file is and whether Open migrates it.
type Config struct {
	// Path is the database file; its directory is created when missing
	// (mode 0700). The file and its -wal and -shm files are kept 0600.
	Path string
	// Migrate applies the pending migrations of migrations/sqlite on Open.
	Migrate bool
	// MaxPatternsPerOrg caps each organization's patterns (0:
	// store.MaxPatternsPerOrg).
	MaxPatternsPerOrg int
}

// busyTimeout is how long a connection waits for another process's lock
// (an `iace migrate` next to a running server) before SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// Store is the embedded implementation of store.Store. It is safe for
// concurrent use.
//
// Writes go through one connection (SQLite allows one writer at a time; a
// pool of one makes writers queue in database/sql, honouring their contexts,
// instead of spinning on SQLITE_BUSY), and every write transaction takes the
// write lock when it begins (BEGIN IMMEDIATE) so a read-then-write transaction
// never fails to upgrade. Reads go through a separate pool of read-only
// connections that, in WAL mode, run beside the writer and each other.
type Store struct {
	w   *sql.DB // the single writer
	r   *sql.DB // readers
	vec *vectorIndex
	// patternWrites serializes pattern writes with the updates of the
	// in-memory vector index, so the index sees them in commit order.
	patternWrites chan struct{}
	rstmts        stmtCache    // prepared on r
	wstmts        stmtCache    // prepared on w
	queries       atomic.Int64 // read queries run, for the tests that count them
	now           func() time.Time
	maxPatterns   int
}

// connParams are the SQLite settings of every connection.
var connParams = fmt.Sprintf("_busy_timeout=%d&_foreign_keys=1&_journal_mode=WAL&_synchronous=NORMAL",
	busyTimeout.Milliseconds())

// OpenDB opens the database file at path as the single-writer handle the
// store itself uses (busy timeout, foreign keys, WAL), for `iace migrate`.
func OpenDB(ctx context.Context, path string) (*sql.DB, error) {
	return openWriter(ctx, path)
}

func openWriter(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("embedded: open: %w: a database file path is required", store.ErrInvalid)
	}
	// Without the file: prefix the driver cuts the DSN at the first '?' and
	// passes the rest to SQLite as a plain file name.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("embedded: open: %w: the path %q contains '?'", store.ErrInvalid, path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("embedded: open: %w", err)
		}
	}
	if err := ownerOnly(path); err != nil {
		return nil, fmt.Errorf("embedded: open: %w", err)
	}
	w, err := sql.Open("sqlite", path+"?"+connParams+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("embedded: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, mapErr("open", err)
	}
	return w, nil
}

// ownerOnly makes the database at path readable by its owner only: it
// creates a missing file with mode 0600, and takes the group and other bits
// off an existing one and off its WAL and shared-memory files (an earlier
// version left them 0644). SQLite creates the -wal and -shm files with the
// permissions of the database file (os_unix.c, findCreateFileMode), so
// they follow it; its own default for a new file is 0644.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // G304: the database file the operator configured (--data-dir)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&^0o077); err != nil {
				return err
			}
		}
	}
	return nil
}

// Open opens (creating when missing) the database file at cfg.Path and, when
// cfg.Migrate is set, brings its schema up to date.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	w, err := openWriter(ctx, cfg.Path)
	if err != nil {
		return nil, err
	}
	if cfg.Migrate {
		if err := migrations.Up(ctx, w, migrations.SQLite); err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("embedded: migrate: %w", err)
		}
	}

	r, err := sql.Open("sqlite", cfg.Path+"?"+connParams+"&_query_only=1")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("embedded: open: %w", err)
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxIdleTime(5 * time.Minute)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, mapErr("open", err)
	}
	return &Store{
		w:             w,
		r:             r,
		vec:           newVectorIndex(),
		patternWrites: make(chan struct{}, 1),
		rstmts:        stmtCache{db: r},
		wstmts:        stmtCache{db: w},
		now:           time.Now,
		maxPatterns:   cmp.Or(max(cfg.MaxPatternsPerOrg, 0), store.MaxPatternsPerOrg),
	}, nil
}

// Ping checks that the database file can be read (SELECT 1 would not touch
// it).
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return mapErr("ping", err)
	}
	return nil
}

// Close closes both pools. It is safe to call more than once.
func (s *Store) Close() error {
	return errors.Join(s.rstmts.close(), s.wstmts.close(), s.r.Close(), s.w.Close())
}

// nowUTC is the store's clock at the precision it keeps.
func (s *Store) nowUTC() time.Time { return norm(s.now()) }

// withTx runs fn in a write transaction and commits it; any error rolls back.
func (s *Store) withTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return mapErr(op, err)
	}
	return nil
}

// newID is a fresh random identifier: 26 base32 characters, 128 bits.
func newID() string { return rand.Text() }

// norm is t as the store keeps it: UTC, microseconds, no monotonic reading.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// micros is t as an INTEGER column.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros reads an INTEGER time column.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullMicros stores an optional time: NULL for nil.
func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

// timePtr reads an optional time column.
func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// normPtr normalizes an optional time.
func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := norm(*t)
	return &n
}

// nullString stores "" as NULL.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// qualify prefixes each column of a comma-separated list with a table alias.
func qualify(cols, alias string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// orZero is qualify for the right side of a LEFT JOIN, whose row may be
// absent: each column scans as its zero value rather than NULL, 0 for the
// columns named in ints and the empty string for the others, except those
// named in nullable, which stay as they are (their scan takes NULL).
func orZero(cols, alias string, ints, nullable []string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		c = strings.TrimSpace(c)
		q := alias + "." + c
		switch {
		case slices.Contains(nullable, c):
		case slices.Contains(ints, c):
			q = "coalesce(" + q + ", 0)"
		default:
			q = "coalesce(" + q + ", '')"
		}
		parts[i] = q
	}
	return strings.Join(parts, ", ")
}

// collect reads every row of a query with scan, and closes the rows.
func collect[T any](op string, rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, mapErr(op, err)
	}
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			_ = rows.Close()
			return nil, mapErr(op, err)
		}
		out = append(out, v)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, mapErr(op, err)
	}
	return out, nil
}
