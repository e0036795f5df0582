package embedded

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/iace/iace/store"
)

//nolint:gosec // G101: column names of the refresh token table, no credential
const tokenCols = `id, org_id, user_id, family, hash, expires_at, created_at, rotated_at, revoked_at, replaced_by`

func scanToken(sc scanner) (store.RefreshToken, error) {
	var (
		t                store.RefreshToken
		expires, created int64
		rotated, revoked sql.NullInt64
	)
	if err := sc.Scan(&t.ID, &t.OrgID, &t.UserID, &t.Family, &t.Hash, &expires, &created,
		&rotated, &revoked, &t.ReplacedBy); err != nil {
		return store.RefreshToken{}, err
	}
	t.ExpiresAt = fromMicros(expires)
	t.CreatedAt = fromMicros(created)
	t.RotatedAt = timePtr(rotated)
	t.RevokedAt = timePtr(revoked)
	return t, nil
}

// prepareToken checks a new token and fills its defaults.
func (s *Store) prepareToken(op string, t *store.RefreshToken) error {
	if err := t.Check(); err != nil {
		return checked(op, err)
	}
	if t.ID == "" {
		t.ID = store.RefreshTokID(newID())
	}
	if t.Family == "" {
		t.Family = newID()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	t.CreatedAt, t.ExpiresAt = norm(t.CreatedAt), norm(t.ExpiresAt)
	t.RotatedAt, t.RevokedAt = normPtr(t.RotatedAt), normPtr(t.RevokedAt)
	return nil
}

func insertToken(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, t *store.RefreshToken,
) error {
	_, err := db.ExecContext(ctx, `INSERT INTO refresh_tokens (`+tokenCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.OrgID, t.UserID, t.Family, t.Hash, micros(t.ExpiresAt), micros(t.CreatedAt),
		nullMicros(t.RotatedAt), nullMicros(t.RevokedAt), t.ReplacedBy)
	return err
}

// CreateRefreshToken keeps a new refresh token (its hash). An empty Family
// starts a new one.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) (store.RefreshToken, error) {
	const op = "create refresh token"
	if err := s.prepareToken(op, &t); err != nil {
		return store.RefreshToken{}, err
	}
	if err := insertToken(ctx, s.w, &t); err != nil {
		return store.RefreshToken{}, mapErr(op, err)
	}
	return t, nil
}

// RefreshTokenByHash finds a token, in any organization, by its hash,
// whatever its state: the caller checks expiry, rotation and revocation.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (store.RefreshToken, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx,
		`SELECT `+tokenCols+` FROM refresh_tokens WHERE hash = ?`, hash))
	if err != nil {
		return store.RefreshToken{}, mapErr("refresh token by hash", err)
	}
	return t, nil
}

// RotateRefreshToken exchanges old for next in one transaction: old is
// marked rotated and replaced by next, which joins old's organization, user
// and family. Presenting a token already rotated or revoked revokes its
// whole family (a stolen token is being replayed) and returns
// ErrTokenReused; an expired token is ErrNotFound.
func (s *Store) RotateRefreshToken(ctx context.Context, old store.RefreshTokID, next store.RefreshToken) (store.RefreshToken, error) {
	const op = "rotate refresh token"
	now := s.nowUTC()
	var (
		out    store.RefreshToken
		reused bool // the family was revoked: commit that, then report it
	)
	err := s.withTx(ctx, op, func(tx *sql.Tx) error {
		o, err := scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM refresh_tokens WHERE id = ?`, old))
		if err != nil {
			return mapErr(op, err)
		}
		if o.RotatedAt != nil || o.RevokedAt != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
				WHERE org_id = ? AND family = ? AND revoked_at IS NULL`, micros(now), o.OrgID, o.Family); err != nil {
				return mapErr(op, err)
			}
			reused = true
			return nil
		}
		if !o.ExpiresAt.After(now) {
			return fmt.Errorf("embedded: %s: %w: the token has expired", op, store.ErrNotFound)
		}
		next.OrgID, next.UserID, next.Family = o.OrgID, o.UserID, o.Family
		next.RotatedAt, next.RevokedAt, next.ReplacedBy = nil, nil, ""
		if err := s.prepareToken(op, &next); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET rotated_at = ?, replaced_by = ? WHERE id = ?`,
			micros(now), next.ID, o.ID); err != nil {
			return mapErr(op, err)
		}
		if err := insertToken(ctx, tx, &next); err != nil {
			return mapErr(op, err)
		}
		out = next
		return nil
	})
	switch {
	case err != nil:
		return store.RefreshToken{}, err
	case reused:
		return store.RefreshToken{}, fmt.Errorf("embedded: %s: %w", op, store.ErrTokenReused)
	}
	return out, nil
}

// RevokeTokenFamily revokes every token of a login session of the
// organization (a logout). Revoking a family twice is no error; a family the
// organization does not have is ErrNotFound.
func (s *Store) RevokeTokenFamily(ctx context.Context, org store.OrgID, family string) error {
	const op = "revoke token family"
	return s.withTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
			WHERE org_id = ? AND family = ? AND revoked_at IS NULL`, micros(s.nowUTC()), org, family)
		if err != nil {
			return mapErr(op, err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return mapErr(op, err)
		}
		return exists(ctx, tx, op, `SELECT 1 FROM refresh_tokens WHERE org_id = ? AND family = ? LIMIT 1`, org, family)
	})
}

// RevokeUserTokens revokes every token of a user of the organization (a
// password change, a disabled user). A user the organization does not have
// is ErrNotFound.
func (s *Store) RevokeUserTokens(ctx context.Context, org store.OrgID, user store.UserID) error {
	const op = "revoke user tokens"
	return s.withTx(ctx, op, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, op, `SELECT 1 FROM users WHERE org_id = ? AND id = ?`, org, user); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
			WHERE org_id = ? AND user_id = ? AND revoked_at IS NULL`, micros(s.nowUTC()), org, user)
		return mapErr(op, err)
	})
}

// exists runs a query for one row: none is ErrNotFound.
func exists(ctx context.Context, tx *sql.Tx, op, q string, args ...any) error {
	var one int
	return mapErr(op, tx.QueryRowContext(ctx, q, args...).Scan(&one))
}

// MarkEventProcessed records a webhook event id; it reports false when the
// id was seen before (a redelivery).
func (s *Store) MarkEventProcessed(ctx context.Context, eventID string) (bool, error) {
	const op = "mark event processed"
	if eventID == "" {
		return false, invalid(op, "event id is empty")
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO processed_events (event_id, processed_at) VALUES (?, ?)
		ON CONFLICT (event_id) DO NOTHING`, eventID, micros(s.nowUTC()))
	if err != nil {
		return false, mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, mapErr(op, err)
	}
	return n == 1, nil
}
