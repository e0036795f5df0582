package embedded

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/iace/iace/store"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// mapErr classifies a database error as the store's sentinel errors, keeping
// the driver's error in the chain: a unique key taken is ErrConflict, a
// reference to a row that is not there ErrNotFound, a broken CHECK or NOT
// NULL ErrInvalid, a lock not granted in time or an I/O failure
// ErrUnavailable (the write may be retried).
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("embedded: %s: %w", op, store.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("embedded: %s: %w: %w", op, store.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("embedded: %s: %w: %w", op, store.ErrNotFound, err)
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return fmt.Errorf("embedded: %s: %w: %w", op, store.ErrInvalid, err)
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL, sqlite3.SQLITE_PROTOCOL:
			return fmt.Errorf("embedded: %s: %w: %w", op, store.ErrUnavailable, err)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("embedded: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("embedded: %s: %w", op, err)
}

// invalid reports input that breaks a rule of the model.
// checked puts the backend and operation in front of a model check's error.
func checked(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("embedded: %s: %w", op, err)
}

func invalid(op, format string, args ...any) error {
	return fmt.Errorf("embedded: %s: %w: %s", op, store.ErrInvalid, fmt.Sprintf(format, args...))
}

// notFound reports a row that is not in the organization.
func notFound(op string) error {
	return fmt.Errorf("embedded: %s: %w", op, store.ErrNotFound)
}

// affectedOne turns "no row changed" into ErrNotFound.
func affectedOne(op string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}
