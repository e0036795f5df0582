package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/iace/iace/store"
)

//nolint:gosec // G101: column names of the refresh token table, no credential
const tokenCols = `id, org_id, user_id, family, hash, expires_at, created_at, rotated_at, revoked_at, replaced_by`

func scanToken(r scanner) (store.RefreshToken, error) {
	var t store.RefreshToken
	err := r.Scan(&t.ID, &t.OrgID, &t.UserID, &t.Family, &t.Hash, &t.ExpiresAt, &t.CreatedAt, &t.RotatedAt, &t.RevokedAt, &t.ReplacedBy)
	return t, err
}

// checkToken validates a new token; an empty family starts one (a login).
func checkToken(op string, t *store.RefreshToken) error {
	if err := t.Check(); err != nil {
		return checked(op, err)
	}
	if t.ID == "" {
		t.ID = store.RefreshTokID(newID())
	}
	if t.Family == "" {
		t.Family = newID()
	}
	t.ExpiresAt = norm(t.ExpiresAt)
	t.CreatedAt = orNow(t.CreatedAt)
	t.RotatedAt, t.RevokedAt = normPtr(t.RotatedAt), normPtr(t.RevokedAt)
	return nil
}

func insertToken(ctx context.Context, q querier, t store.RefreshToken) error {
	var id string
	return q.QueryRow(ctx, `INSERT INTO refresh_tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		t.ID, t.OrgID, t.UserID, t.Family, t.Hash, t.ExpiresAt, t.CreatedAt, t.RotatedAt, t.RevokedAt, t.ReplacedBy).Scan(&id)
}

// CreateRefreshToken stores a refresh token of a user of the organization
// (store.ErrNotFound for a user that is not the organization's).
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) (store.RefreshToken, error) {
	const op = "create refresh token"
	if err := checkToken(op, &t); err != nil {
		return store.RefreshToken{}, err
	}
	t.Hash = append([]byte(nil), t.Hash...)
	if err := insertToken(ctx, s.pool, t); err != nil {
		return store.RefreshToken{}, wrap(ctx, op, err)
	}
	return t, nil
}

// RefreshTokenByHash finds a token by its hash, in any organization and in
// any state: the caller checks expiry, rotation and revocation.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (store.RefreshToken, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM refresh_tokens WHERE hash = $1`, hash))
	if err != nil {
		return store.RefreshToken{}, wrap(ctx, "refresh token by hash", err)
	}
	return t, nil
}

// RotateRefreshToken exchanges old for next in one transaction, old's row
// locked (SELECT ... FOR UPDATE) so two concurrent rotations of one token
// cannot both succeed. A token already rotated or revoked revokes its whole
// family (someone replayed a stolen token) and returns store.ErrTokenReused;
// an expired one is store.ErrNotFound.
func (s *Store) RotateRefreshToken(ctx context.Context, old store.RefreshTokID, next store.RefreshToken) (store.RefreshToken, error) {
	const op = "rotate refresh token"
	var (
		out    store.RefreshToken
		reused bool
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := scanToken(tx.QueryRow(ctx, `SELECT `+tokenCols+` FROM refresh_tokens WHERE id = $1 FOR UPDATE`, old))
		if err != nil {
			return err
		}
		at := now()
		if cur.RotatedAt != nil || cur.RevokedAt != nil {
			if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $3
				WHERE org_id = $1 AND family = $2 AND revoked_at IS NULL`, cur.OrgID, cur.Family, at); err != nil {
				return err
			}
			reused = true // and commit the revocation
			return nil
		}
		if !cur.ExpiresAt.After(at) {
			return pgx.ErrNoRows
		}
		next.OrgID, next.UserID, next.Family = cur.OrgID, cur.UserID, cur.Family
		next.RotatedAt, next.RevokedAt, next.ReplacedBy, next.CreatedAt = nil, nil, "", at
		if err := checkToken(op, &next); err != nil {
			return err
		}
		next.Hash = append([]byte(nil), next.Hash...)
		if err := insertToken(ctx, tx, next); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE refresh_tokens SET rotated_at = $2, replaced_by = $3 WHERE id = $1`, old, at, next.ID)
		out = next
		return err
	})
	switch {
	case errors.Is(err, store.ErrInvalid):
		return store.RefreshToken{}, err
	case err != nil:
		return store.RefreshToken{}, wrap(ctx, op, err)
	case reused:
		return store.RefreshToken{}, fmt.Errorf("postgres: %s: %w", op, store.ErrTokenReused)
	}
	return out, nil
}

// RevokeTokenFamily revokes every token of a family of the organization
// (a logout). Revoking a revoked family again is not an error; a family the
// organization does not have is store.ErrNotFound.
func (s *Store) RevokeTokenFamily(ctx context.Context, org store.OrgID, family string) error {
	const op = "revoke token family"
	var found bool
	err := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE refresh_tokens SET revoked_at = $3 WHERE org_id = $1 AND family = $2 AND revoked_at IS NULL)
		SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE org_id = $1 AND family = $2)`, org, family, now()).Scan(&found)
	if err != nil {
		return wrap(ctx, op, err)
	}
	if !found {
		return notFound(op)
	}
	return nil
}

// RevokeUserTokens revokes every token of a user of the organization (a
// password change, a disabled user). A user the organization does not have
// is store.ErrNotFound.
func (s *Store) RevokeUserTokens(ctx context.Context, org store.OrgID, user store.UserID) error {
	const op = "revoke user tokens"
	var found bool
	err := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE refresh_tokens SET revoked_at = $3 WHERE org_id = $1 AND user_id = $2 AND revoked_at IS NULL)
		SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1 AND id = $2)`, org, user, now()).Scan(&found)
	if err != nil {
		return wrap(ctx, op, err)
	}
	if !found {
		return notFound(op)
	}
	return nil
}

// MarkEventProcessed records a webhook event id; false means it was seen
// before (a redelivery).
func (s *Store) MarkEventProcessed(ctx context.Context, eventID string) (bool, error) {
	const op = "mark event processed"
	if eventID == "" {
		return false, invalid(op, "event id is empty")
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO webhook_events (id, received_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, eventID, now())
	if err != nil {
		return false, wrap(ctx, op, err)
	}
	return tag.RowsAffected() == 1, nil
}
