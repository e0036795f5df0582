package postgres

import (
	"context"
	"time"
)

// PruneRefreshTokens deletes the refresh tokens of every organization that
// expired before before, and returns how many.
func (s *Store) PruneRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at < $1`, norm(before))
	if err != nil {
		return 0, wrap(ctx, "prune refresh tokens", err)
	}
	return tag.RowsAffected(), nil
}

// PruneWebhookEvents deletes the webhook event ids recorded before before
// (by the webhook_events_received index), and returns how many.
func (s *Store) PruneWebhookEvents(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_events WHERE received_at < $1`, norm(before))
	if err != nil {
		return 0, wrap(ctx, "prune webhook events", err)
	}
	return tag.RowsAffected(), nil
}
