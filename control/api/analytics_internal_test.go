package api

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/iace/iace/store"
)

// gatedStats answers CallStats once released and counts the reads.
type gatedStats struct {
	release chan struct{}
	reads   atomic.Int32
}

func (g *gatedStats) CallStats(ctx context.Context, _ store.OrgID, q store.StatsQuery) ([]store.StatsBucket, error) {
	g.reads.Add(1)
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []store.StatsBucket{store.NewStatsBucket(q.From)}, nil
}

// TestConcurrentAnalyticsMissesShareOneRead: a dashboard refresh by many
// viewers at once reads the month's statistics from the store once, and
// the next request within the TTL reads nothing.
func TestConcurrentAnalyticsMissesShareOneRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &gatedStats{release: make(chan struct{})}
		c := newStatsCache(10 * time.Second)
		q := store.StatsQuery{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Bucket: store.BucketDay}
		var wg sync.WaitGroup
		var shared atomic.Int32
		for range 8 {
			wg.Go(func() {
				b, hit, err := c.get(t.Context(), "org", q, src)
				if err != nil || len(b) != 1 {
					t.Errorf("get: %v, %d buckets", err, len(b))
				}
				if hit {
					shared.Add(1)
				}
			})
		}
		synctest.Wait() // one reader in the store, seven waiting on it
		close(src.release)
		wg.Wait()
		if n := src.reads.Load(); n != 1 {
			t.Fatalf("%d store reads for 8 concurrent requests, want 1", n)
		}
		if shared.Load() != 7 {
			t.Errorf("%d requests counted as served by the shared read, want 7", shared.Load())
		}
		if _, hit, _ := c.get(t.Context(), "org", q, src); !hit || src.reads.Load() != 1 {
			t.Error("a request within the TTL read the store")
		}
		time.Sleep(11 * time.Second) // fake time: the entry expires
		if _, hit, _ := c.get(t.Context(), "org", q, src); hit || src.reads.Load() != 2 {
			t.Error("an expired entry was served")
		}
	})
}
