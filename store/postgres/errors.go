package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/iace/iace/store"
)

// opError is a failed store operation: the store's sentinel kind
// (store.ErrNotFound...) and the driver's error, both visible to errors.Is
// and errors.As.
type opError struct {
	op   string
	kind error // a store.Err* sentinel, or nil
	err  error // the cause
}

func (e *opError) Error() string {
	if e.kind == nil {
		return "postgres: " + e.op + ": " + e.err.Error()
	}
	return "postgres: " + e.op + ": " + e.kind.Error() + ": " + e.err.Error()
}

func (e *opError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// invalid reports input that breaks a rule of the model.
// checked puts the backend and operation in front of a model check's error.
func checked(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func invalid(op, format string, args ...any) error {
	return fmt.Errorf("postgres: %s: %w: %s", op, store.ErrInvalid, fmt.Sprintf(format, args...))
}

// notFound reports a row that is not there, or not in this organization.
func notFound(op string) error {
	return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
}

// wrap classifies a driver error into the store's sentinel errors, keeping the
// cause. ctx is the operation's context: a cancellation by the caller is not
// the database's unavailability.
func wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// The caller gave up: no fault of the database, and no kind.
		return &opError{op: op, err: err}
	}
	return &opError{op: op, kind: classify(ctx, err), err: err}
}

func classify(ctx context.Context, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505": // unique_violation
			return store.ErrConflict
		case pgErr.Code == "23503": // foreign_key_violation: the row referred to is not there (in this org)
			return store.ErrNotFound
		case pgErr.Code == "23514", pgErr.Code == "23502", pgErr.Code == "22001", pgErr.Code == "22P02", pgErr.Code == "22000",
			pgErr.Code == "22021", pgErr.Code == "22P05":
			// check, not-null, too long, bad text representation, data exception (e.g. vector dims),
			// a byte sequence not in the encoding (a NUL in text), an untranslatable character (\u0000 in jsonb)
			return store.ErrInvalid
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"),                                 // insufficient resources (too many connections...)
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // shutdown, cannot connect now
			pgErr.Code == "57014": // query_canceled (statement_timeout)
			if pgErr.Code == "57014" && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil // the caller cancelled
			}
			return store.ErrUnavailable
		}
		return nil
	}
	// A deadline, whether the caller's or the driver's own (connect_timeout),
	// is a timeout: the write may be retried.
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return store.ErrUnavailable
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	if errors.As(err, &netErr) || errors.As(err, &connErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return store.ErrUnavailable
	}
	// pgconn reports a connection lost mid-query as a plain error once the
	// connection is closed.
	msg := err.Error()
	if strings.Contains(msg, "conn closed") {
		return store.ErrUnavailable
	}
	return nil
}
