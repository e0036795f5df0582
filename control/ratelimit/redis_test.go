package ratelimit_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/control/ratelimit"
)

// newRedisClient connects to the machine's Redis; the test fails, saying
// what it needs, when there is none.
func newRedisClient(t *testing.T) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("Redis is needed at 127.0.0.1:6379: %v", err)
	}
	return rdb
}

// testPrefix is a key prefix of this test alone; its keys are deleted after.
func testPrefix(t *testing.T, rdb *redis.Client) string {
	t.Helper()
	prefix := "iace:test:rl:" + rand.Text()[:10] + ":"
	t.Cleanup(func() {
		ctx := t.Context()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return prefix
}

func newRedis(t *testing.T, rdb redis.UniversalClient, cfg ratelimit.Config, reg prometheus.Registerer) *ratelimit.Redis {
	t.Helper()
	l, err := ratelimit.NewRedis(cfg, rdb, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRedis(t *testing.T) {
	rdb := newRedisClient(t)
	prefix := testPrefix(t, rdb)
	cfg := ratelimit.Config{Name: "api_ip", Rate: ratelimit.Rate{N: 6, Per: time.Minute, Burst: 3}, KeyPrefix: prefix}
	nodeA := newRedis(t, rdb, cfg, nil)
	nodeB := newRedis(t, rdb, cfg, nil)

	t.Run("a burst passes, the next event waits about one interval", func(t *testing.T) {
		passed, wait := allowN(t, nodeA, "10.0.0.1", 4)
		if passed != 3 || wait <= 9*time.Second || wait > 10*time.Second {
			t.Errorf("passed %d, last wait %v; want 3 and just under 10s", passed, wait)
		}
	})
	t.Run("every node shares the allowance", func(t *testing.T) {
		if passed, _ := allowN(t, nodeB, "10.0.0.1", 1); passed != 0 {
			t.Error("another node let the limited key through")
		}
	})
	t.Run("peek tells without taking", func(t *testing.T) {
		for range 5 {
			if ok, _, err := nodeA.Peek(t.Context(), "10.0.0.2"); !ok || err != nil {
				t.Fatalf("peek of a fresh key: %v, %v", ok, err)
			}
		}
		if ok, wait, _ := nodeA.Peek(t.Context(), "10.0.0.1"); ok || wait <= 0 {
			t.Errorf("peek of a limited key: %v, %v", ok, wait)
		}
		if passed, _ := allowN(t, nodeB, "10.0.0.2", 3); passed != 3 {
			t.Errorf("peeks took from the allowance: %d of 3 passed", passed)
		}
	})
	t.Run("keys are prefixed and expire once the key would be fresh", func(t *testing.T) {
		ttl, err := rdb.PTTL(t.Context(), prefix+"api_ip:10.0.0.1").Result()
		if err != nil {
			t.Fatal(err)
		}
		// Three events of 10 s each are owed: the state expires within 30 s.
		if ttl <= 20*time.Second || ttl > 30*time.Second {
			t.Errorf("TTL %v, want just under 30s", ttl)
		}
	})
	t.Run("a long key is stored hashed", func(t *testing.T) {
		allowN(t, nodeA, strings.Repeat("x", 5000), 1)
		keys, _ := rdb.Keys(t.Context(), prefix+"*").Result()
		for _, k := range keys {
			if len(k) > 200 {
				t.Errorf("a %d-byte key in Redis", len(k))
			}
		}
	})
}

func TestRedisFailsOpenToLocal(t *testing.T) {
	// Nothing listens on port 1: every Redis call fails at once.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	reg := prometheus.NewRegistry()
	l := newRedis(t, dead, ratelimit.Config{Name: "login_ip", Rate: ratelimit.Rate{N: 2, Per: time.Minute}, RedisBackoff: time.Hour}, reg)

	passed, wait := allowN(t, l, "10.0.0.1", 3)
	if passed != 2 || wait <= 0 {
		t.Errorf("without Redis: passed %d of 3 (wait %v), want the in-process limit of 2", passed, wait)
	}
	want := `
# HELP iace_ratelimit_redis_errors_total Redis errors or timeouts of a limiter; the decision fell back to the in-process limiter (fail open).
# TYPE iace_ratelimit_redis_errors_total counter
iace_ratelimit_redis_errors_total{limiter="login_ip"} 1
`
	// One error, then the backoff keeps Redis out of the way.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "iace_ratelimit_redis_errors_total"); err != nil {
		t.Error(err)
	}
}

func TestRedisEndsWithTheCallersContext(t *testing.T) {
	rdb := newRedisClient(t)
	l := newRedis(t, rdb, ratelimit.Config{Name: "test", Rate: ratelimit.PerMinute(1), KeyPrefix: testPrefix(t, rdb)}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := l.Allow(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Allow with an ended context: %v, want context.Canceled", err)
	}
}

func TestRedisRefund(t *testing.T) {
	rdb := newRedisClient(t)
	prefix := testPrefix(t, rdb)
	cfg := ratelimit.Config{Name: "login_pair", Rate: ratelimit.Rate{N: 6, Per: time.Minute, Burst: 3}, KeyPrefix: prefix}
	nodeA := newRedis(t, rdb, cfg, nil)
	nodeB := newRedis(t, rdb, cfg, nil)
	ctx := t.Context()

	t.Run("an event refunded on one node may be taken on another", func(t *testing.T) {
		if passed, _ := allowN(t, nodeA, "k", 4); passed != 3 {
			t.Fatalf("passed %d of 4, want the burst of 3", passed)
		}
		if err := nodeA.Refund(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if passed, _ := allowN(t, nodeB, "k", 2); passed != 1 {
			t.Errorf("after one refund %d of 2 passed, want 1", passed)
		}
	})
	t.Run("refunds never raise the allowance past a fresh key's", func(t *testing.T) {
		for range 10 {
			if err := nodeB.Refund(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			if err := nodeB.Refund(ctx, "never-taken"); err != nil {
				t.Fatal(err)
			}
		}
		if passed, _ := allowN(t, nodeA, "k", 5); passed != 3 {
			t.Errorf("after ten refunds %d of 5 passed, want the burst of 3", passed)
		}
		if passed, _ := allowN(t, nodeA, "never-taken", 5); passed != 3 {
			t.Errorf("a key refunded before any event: %d of 5 passed, want 3", passed)
		}
	})
	t.Run("a key refunded back to fresh is deleted", func(t *testing.T) {
		allowN(t, nodeA, "gone", 1)
		if err := nodeA.Refund(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		if n, err := rdb.Exists(ctx, prefix+"login_pair:gone").Result(); err != nil || n != 0 {
			t.Errorf("the refunded key is still in Redis (%d, %v)", n, err)
		}
	})
	t.Run("without Redis the refund goes to the in-process limiter", func(t *testing.T) {
		dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
		t.Cleanup(func() { _ = dead.Close() })
		l := newRedis(t, dead, ratelimit.Config{Name: "login_pair", Rate: ratelimit.Rate{N: 2, Per: time.Minute}, RedisBackoff: time.Hour}, nil)
		allowN(t, l, "k", 2)
		if err := l.Refund(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if passed, _ := allowN(t, l, "k", 2); passed != 1 {
			t.Errorf("after one refund %d of 2 passed, want 1", passed)
		}
	})
}
