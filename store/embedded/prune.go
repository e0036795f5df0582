package embedded

import (
	"context"
	"time"
)

// PruneRefreshTokens deletes the refresh tokens of every organization that
// expired before before, and returns how many.
func (s *Store) PruneRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	const op = "prune refresh tokens"
	res, err := s.w.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE expires_at < ?`, micros(norm(before)))
	if err != nil {
		return 0, mapErr(op, err)
	}
	n, err := res.RowsAffected()
	return n, mapErr(op, err)
}

// PruneWebhookEvents deletes the webhook event ids recorded before before,
// and returns how many. The table has no index on the time: it holds a
// day or so of events, and this runs rarely.
func (s *Store) PruneWebhookEvents(ctx context.Context, before time.Time) (int64, error) {
	const op = "prune webhook events"
	res, err := s.w.ExecContext(ctx, `DELETE FROM processed_events WHERE processed_at < ?`, micros(norm(before)))
	if err != nil {
		return 0, mapErr(op, err)
	}
	n, err := res.RowsAffected()
	return n, mapErr(op, err)
}
