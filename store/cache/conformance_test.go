package cache_test

import (
	"context"
	"testing"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/cache"
	"github.com/iace/iace/store/storetest"
)

// The cache is a store.Store: it passes the conformance suite, with and
// without Redis, over the embedded backend (each subtest with its own
// database, key prefix and channel).
func TestConformance(t *testing.T) {
	t.Run("in-process only", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			return newNode(t, newDB(t), nil, cache.Config{}, nil).Store
		})
	})
	t.Run("with Redis", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			rdb, cfg := testRedis(context.Background(), t)
			return newNode(t, newDB(t), rdb, cfg, nil).Store
		})
	})
}
