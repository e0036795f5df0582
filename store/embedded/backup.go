package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/iace/iace/migrations"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors of Backup, Check and Restore.
var (
	// ErrIntegrity: the file is not a SQLite database, or SQLite's
	// integrity check finds it damaged.
	ErrIntegrity = errors.New("the database fails its integrity check")
	// ErrSchemaVersion: the file has no IACE migrations, or newer ones than
	// this build knows (a backup of a later release).
	ErrSchemaVersion = errors.New("the database's schema version does not fit this build")
	// ErrInUse: another connection, in this process or another (a running
	// iace serve), has the database open.
	ErrInUse = errors.New("the database is open elsewhere")
)

// CheckResult is what Check found in a database file.
type CheckResult struct {
	// Integrity is what PRAGMA integrity_check reported: "ok" for a sound
	// file, else its first problems.
	Integrity []string
	// Version is the newest migration applied to the file (0: none).
	Version int64
	// Latest is the newest migration of this build; a file behind it is
	// brought up to date when the store opens it with Config.Migrate.
	Latest int64
}

// OK reports whether the file passed the integrity check.
func (r CheckResult) OK() bool { return len(r.Integrity) == 1 && r.Integrity[0] == "ok" }

// BackupResult is what Backup wrote.
type BackupResult struct {
	// Bytes is the size of the backup file.
	Bytes int64
	// Check is what Check found in it.
	Check CheckResult
}

// RestoreResult is what Restore did.
type RestoreResult struct {
	Check CheckResult
	// Replaced is where the database that was at the path went ("" when
	// there was none).
	Replaced string
}

// maxProblems bounds the rows PRAGMA integrity_check reports.
const maxProblems = 20

// Backup writes a consistent copy of the database file at path to dst while
// other connections, of this process or another (a running iace serve),
// go on reading and writing it. VACUUM INTO copies what a single read
// transaction sees, committed WAL frames included, into a fresh, compacted
// file, and in WAL mode a reader does not block the writer
// (https://sqlite.org/lang_vacuum.html, VACUUM INTO; https://sqlite.org/wal.html,
// Concurrency). SQLite does not sync that file (same page), so Backup syncs
// it, checks it (Check), and only then gives it its name: dst is never a
// partial copy. An existing dst is an error
// wrapping fs.ErrExist unless overwrite is set. The copy is readable by its
// owner only, like the database.
func Backup(ctx context.Context, path, dst string, overwrite bool) (BackupResult, error) {
	var res BackupResult
	if err := isFile(path); err != nil {
		return res, fmt.Errorf("embedded: backup: %w", err)
	}
	if di, err := os.Stat(dst); err == nil {
		if !overwrite {
			return res, fmt.Errorf("embedded: backup: %s: %w", dst, fs.ErrExist)
		}
		// --force onto the live database would replace the file a running
		// server has open, and lose everything it writes after.
		if si, err := os.Stat(path); err == nil && os.SameFile(si, di) {
			return res, fmt.Errorf("embedded: backup: %s is the database itself", dst)
		}
	} else if _, err := os.Lstat(dst); err == nil && !overwrite {
		return res, fmt.Errorf("embedded: backup: %s: %w", dst, fs.ErrExist)
	}
	tmp, err := tempBeside(dst)
	if err != nil {
		return res, fmt.Errorf("embedded: backup: %w", err)
	}
	defer func() { _ = os.Remove(tmp) }() // gone once placed
	src, err := sql.Open("sqlite", fileURI(path, "mode=rw&_busy_timeout="+fmt.Sprint(busyTimeout.Milliseconds())))
	if err != nil {
		return res, fmt.Errorf("embedded: backup: %w", err)
	}
	// An empty file is a valid target of VACUUM INTO: tempBeside made it,
	// with the owner-only mode SQLite keeps.
	_, err = src.ExecContext(ctx, "VACUUM INTO ?", tmp)
	if err = errors.Join(err, src.Close()); err != nil {
		return res, mapErr("backup", err)
	}
	if res.Check, err = check(ctx, tmp); err != nil {
		return res, fmt.Errorf("embedded: backup: the copy of %s: %w", path, err)
	}
	if err := syncFile(tmp); err != nil {
		return res, fmt.Errorf("embedded: backup: %w", err)
	}
	if err := place(tmp, dst, overwrite); err != nil {
		return res, fmt.Errorf("embedded: backup: %w", err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return res, fmt.Errorf("embedded: backup: %w", err)
	}
	res.Bytes = fi.Size()
	return res, nil
}

// Check opens the database file at path read-only and reports its
// integrity (PRAGMA integrity_check, https://sqlite.org/pragma.html#pragma_integrity_check)
// and its schema version against this build's migrations. The error wraps
// ErrIntegrity for a file that is not a sound SQLite database and
// ErrSchemaVersion for one without IACE's migrations or with newer ones
// than this build's; a version behind this build's is no error.
func Check(ctx context.Context, path string) (CheckResult, error) {
	res, err := check(ctx, path)
	if err != nil {
		return res, fmt.Errorf("embedded: check %s: %w", path, err)
	}
	return res, nil
}

func check(ctx context.Context, path string) (CheckResult, error) {
	var res CheckResult
	var err error
	if res.Latest, err = latestMigration(); err != nil {
		return res, err
	}
	if err := isFile(path); err != nil {
		return res, err
	}
	db, err := sql.Open("sqlite", fileURI(path, "mode=ro"))
	if err != nil {
		return res, err
	}
	defer func() { _ = db.Close() }()
	rows, err := db.QueryContext(ctx, fmt.Sprintf("PRAGMA integrity_check(%d)", maxProblems))
	if err != nil {
		return res, checkErr(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			_ = rows.Close()
			return res, checkErr(err)
		}
		res.Integrity = append(res.Integrity, line)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return res, checkErr(err)
	}
	if !res.OK() {
		return res, fmt.Errorf("%w: %s", ErrIntegrity, strings.Join(res.Integrity, "; "))
	}
	var tables int
	if err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'goose_db_version'`).Scan(&tables); err != nil {
		return res, checkErr(err)
	}
	if tables == 0 {
		return res, fmt.Errorf("%w: no migrations table: not an IACE database", ErrSchemaVersion)
	}
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version`).Scan(&res.Version); err != nil {
		return res, checkErr(err)
	}
	if res.Version > res.Latest {
		return res, fmt.Errorf("%w: version %d, this build's newest is %d: restore it with the release that wrote it",
			ErrSchemaVersion, res.Version, res.Latest)
	}
	return res, nil
}

// Restore puts the backup file at backup in place of the database at path,
// after Check passes it. An existing database is an error wrapping
// fs.ErrExist unless overwrite is set; then it must not be open anywhere
// (ErrInUse: stop iace serve first), its WAL is checkpointed into it, and it
// is kept beside, renamed with the time of the restore. The -wal and -shm
// files left at path are removed: a WAL carries pages, not the identity of
// its database, and SQLite reads the one beside a file into it
// (https://sqlite.org/wal.html, The WAL File; the test restores beside
// another database's WAL). The restored file is copied beside and synced
// first, so that nothing is moved until it is whole; should putting it in
// place fail, the database it replaced goes back.
func Restore(ctx context.Context, backup, path string, overwrite bool) (RestoreResult, error) {
	var res RestoreResult
	var err error
	if res.Check, err = Check(ctx, backup); err != nil {
		return res, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return res, fmt.Errorf("embedded: restore: %w", err)
	}
	if _, err := os.Lstat(path); err == nil && !overwrite {
		return res, fmt.Errorf("embedded: restore: %s: %w", path, fs.ErrExist)
	}
	tmp, err := tempBeside(path)
	if err != nil {
		return res, fmt.Errorf("embedded: restore: %w", err)
	}
	defer func() { _ = os.Remove(tmp) }()
	if err := copyFile(tmp, backup); err != nil {
		return res, fmt.Errorf("embedded: restore: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if !overwrite {
			return res, fmt.Errorf("embedded: restore: %s: %w", path, fs.ErrExist)
		}
		if err := quiesce(ctx, path); err != nil {
			return res, fmt.Errorf("embedded: restore: %s: %w", path, err)
		}
		res.Replaced = path + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(path, res.Replaced); err != nil {
			return res, fmt.Errorf("embedded: restore: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("embedded: restore: %w", err)
	}
	err = nil
	for _, p := range []string{path + "-wal", path + "-shm"} {
		if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
			break
		}
	}
	if err == nil {
		err = place(tmp, path, false)
	}
	if err != nil {
		if res.Replaced != "" {
			// Nothing restored: the database that was there goes back.
			if berr := os.Rename(res.Replaced, path); berr != nil {
				return res, fmt.Errorf("embedded: restore: %w; and putting %s back as %s failed: %w", err, res.Replaced, path, berr)
			}
			res.Replaced = ""
		}
		return res, fmt.Errorf("embedded: restore: %w", err)
	}
	return res, nil
}

// quiesce makes sure no connection has the database at path open, and
// folds its WAL into it. A connection in exclusive locking mode takes an
// exclusive lock on the file at its first read
// (https://sqlite.org/pragma.html#pragma_locking_mode; https://sqlite.org/wal.html,
// Use of WAL Without Shared-Memory), which it cannot have while another
// connection, of any process, has the database open: tried beside an idle
// iace serve, and in the tests beside an open Store, the read fails at once
// with SQLITE_BUSY (no busy timeout).
func quiesce(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", fileURI(path, "mode=rw&_busy_timeout=0&_pragma=locking_mode(EXCLUSIVE)"))
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		var se *sqlite.Error
		if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY {
			return ErrInUse
		}
		return mapErr("restore", err)
	}
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return mapErr("restore", err)
	}
	return db.Close()
}

// checkErr is an error of Check reading the file: a file that is not a
// database, or a damaged one, fails its integrity check.
func checkErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("%w: %w", ErrIntegrity, err)
		}
	}
	return err
}

// latestMigration is the version of this build's newest SQLite migration.
func latestMigration() (int64, error) {
	fsys, err := migrations.FS(migrations.SQLite)
	if err != nil {
		return 0, err
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return 0, fmt.Errorf("embedded: migrations: %w", err)
	}
	var latest int64
	for _, e := range entries {
		if v, err := goose.NumericComponent(e.Name()); err == nil {
			latest = max(latest, v)
		}
	}
	return latest, nil
}

// fileURI is path as an SQLite URI filename with query parameters: the
// path absolute and escaped (a '?' or '#' in it is then part of the name;
// https://sqlite.org/uri.html). mode=ro and mode=rw open an existing file
// and never create one.
func fileURI(path, query string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: filepath.ToSlash(path), RawQuery: query}
	return u.String()
}

// isFile reports a missing path, or one that is not a regular file, as an
// error.
func isFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return nil
}

// tempBeside creates an empty, owner-only file in the directory of path,
// for a file that is renamed to path once complete.
func tempBeside(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// place renames the complete file tmp to path and syncs the directory. Not
// overwriting, it links instead, which fails when path exists (a file made
// since Backup or Restore looked).
func place(tmp, path string, overwrite bool) error {
	if overwrite {
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	} else if err := os.Link(tmp, path); err != nil {
		return err
	}
	return syncFile(filepath.Dir(path))
}

// copyFile copies src into the existing file dst and syncs it.
func copyFile(dst, src string) error {
	in, err := os.Open(src) //nolint:gosec // G304: the backup file the operator named
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0o600) //nolint:gosec // G304: a temporary file this package made
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return errors.Join(out.Sync(), out.Close())
}

// syncFile flushes a file, or a directory's entries, to stable storage.
func syncFile(path string) error {
	f, err := os.Open(path) //nolint:gosec // G304: a file or directory this package wrote
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
