package cache

import (
	"context"

	"github.com/iace/iace/store"
)

// CallStats is the wrapped store's, uncached: statistics change with every
// finished call, and the API caches its answers briefly itself.
func (s *Store) CallStats(ctx context.Context, org store.OrgID, q store.StatsQuery) ([]store.StatsBucket, error) {
	return s.Store.CallStats(ctx, org, q)
}
