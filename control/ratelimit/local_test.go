package ratelimit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iace/iace/control/ratelimit"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newLocal(t testing.TB, cfg ratelimit.Config, reg prometheus.Registerer) *ratelimit.Local {
	t.Helper()
	l, err := ratelimit.NewLocal(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// allowN calls Allow n times and returns how many passed and the last wait.
func allowN(t testing.TB, l ratelimit.Limiter, key string, n int) (passed int, wait time.Duration) {
	t.Helper()
	for range n {
		ok, w, err := l.Allow(context.Background(), key)
		if err != nil {
			t.Fatalf("Allow(%q): %v", key, err)
		}
		if ok {
			passed++
		}
		wait = w
	}
	return passed, wait
}

func TestLocal(t *testing.T) {
	clk := newClock()
	reg := prometheus.NewRegistry()
	l := newLocal(t, ratelimit.Config{Name: "test", Rate: ratelimit.Rate{N: 6, Per: time.Minute, Burst: 3}, Now: clk.Now}, reg)

	t.Run("a burst passes, the next event waits one interval", func(t *testing.T) {
		passed, wait := allowN(t, l, "10.0.0.1", 4)
		if passed != 3 || wait != 10*time.Second {
			t.Errorf("passed %d, last wait %v; want 3 and 10s", passed, wait)
		}
	})
	t.Run("other keys are not affected", func(t *testing.T) {
		if passed, _ := allowN(t, l, "10.0.0.2", 3); passed != 3 {
			t.Errorf("passed %d of 3", passed)
		}
	})
	t.Run("refused events cost nothing: after one interval one more passes", func(t *testing.T) {
		clk.Advance(10 * time.Second)
		if passed, wait := allowN(t, l, "10.0.0.1", 2); passed != 1 || wait != 10*time.Second {
			t.Errorf("passed %d, wait %v; want 1 and 10s", passed, wait)
		}
	})
	t.Run("peek tells without taking", func(t *testing.T) {
		ok, wait, _ := l.Peek(t.Context(), "10.0.0.1")
		if ok || wait != 10*time.Second {
			t.Errorf("peek of a limited key: %v, %v", ok, wait)
		}
		for range 5 {
			if ok, _, _ := l.Peek(t.Context(), "10.0.0.3"); !ok {
				t.Fatal("peek of a fresh key refused")
			}
		}
		if passed, _ := allowN(t, l, "10.0.0.3", 3); passed != 3 {
			t.Errorf("peeks took from the allowance: %d of 3 passed", passed)
		}
	})
	t.Run("an idle key may burst again", func(t *testing.T) {
		clk.Advance(time.Minute)
		if passed, _ := allowN(t, l, "10.0.0.1", 4); passed != 3 {
			t.Errorf("passed %d, want 3", passed)
		}
	})
	t.Run("decisions are counted", func(t *testing.T) {
		want := `
# HELP iace_ratelimit_decisions_total Rate limit decisions by limiter (its configured name) and decision (allowed, limited).
# TYPE iace_ratelimit_decisions_total counter
iace_ratelimit_decisions_total{decision="allowed",limiter="test"} 13
iace_ratelimit_decisions_total{decision="limited",limiter="test"} 3
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "iace_ratelimit_decisions_total"); err != nil {
			t.Error(err)
		}
	})
}

func TestLocalMemoryIsBounded(t *testing.T) {
	clk := newClock()
	l := newLocal(t, ratelimit.Config{Name: "test", Rate: ratelimit.PerMinute(10), MaxKeys: 640, Now: clk.Now}, nil)
	for i := range 10_000 {
		allowN(t, l, fmt.Sprintf("key-%d", i), 1)
	}
	if n := l.Len(); n > 640 {
		t.Errorf("%d keys remembered, bound 640", n)
	}

	t.Run("expired keys are swept", func(t *testing.T) {
		clk.Advance(2 * time.Minute)
		// Without a sweep the full shards would stay full (640 keys); with
		// it, each shard a fresh key lands in keeps only fresh keys, and the
		// few shards none lands in hold at most 10 old ones each.
		for i := range 200 {
			allowN(t, l, fmt.Sprintf("fresh-%d", i), 1)
		}
		if n := l.Len(); n > 320 {
			t.Errorf("%d keys remembered after every old one expired, want about 200", n)
		}
	})
	t.Run("a long key costs no more than a short one", func(t *testing.T) {
		long := strings.Repeat("x", 10_000)
		if passed, _ := allowN(t, l, long, 11); passed != 10 {
			t.Errorf("passed %d of a long key, want 10", passed)
		}
	})
}

func TestLocalConcurrent(t *testing.T) {
	l := newLocal(t, ratelimit.Config{Name: "test", Rate: ratelimit.Rate{N: 100, Per: time.Hour}}, nil)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		passed int
	)
	for range 8 {
		wg.Go(func() {
			n, _ := allowN(t, l, "shared", 50)
			mu.Lock()
			passed += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if passed != 100 {
		t.Errorf("%d of 400 concurrent events passed, want exactly the burst of 100", passed)
	}
}

func BenchmarkLocalAllow(b *testing.B) {
	l := newLocal(b, ratelimit.Config{Name: "bench", Rate: ratelimit.PerSecond(1_000_000)}, prometheus.NewRegistry())
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("192.0.2.%d", i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, _, _ = l.Allow(ctx, keys[i%len(keys)])
			i++
		}
	})
}

func TestLocalRefund(t *testing.T) {
	clk := newClock()
	l := newLocal(t, ratelimit.Config{Name: "test", Rate: ratelimit.Rate{N: 6, Per: time.Minute, Burst: 3}, Now: clk.Now}, nil)
	ctx := t.Context()

	t.Run("a refunded event may be taken again at once", func(t *testing.T) {
		if passed, _ := allowN(t, l, "k", 4); passed != 3 {
			t.Fatalf("passed %d of 4, want the burst of 3", passed)
		}
		if err := l.Refund(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if passed, _ := allowN(t, l, "k", 2); passed != 1 {
			t.Errorf("after one refund %d of 2 passed, want 1", passed)
		}
	})
	t.Run("refunds never raise the allowance past a fresh key's", func(t *testing.T) {
		for range 10 {
			if err := l.Refund(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			if err := l.Refund(ctx, "never-taken"); err != nil {
				t.Fatal(err)
			}
		}
		if passed, _ := allowN(t, l, "k", 5); passed != 3 {
			t.Errorf("after ten refunds %d of 5 passed, want the burst of 3", passed)
		}
		if passed, _ := allowN(t, l, "never-taken", 5); passed != 3 {
			t.Errorf("a key refunded before any event: %d of 5 passed, want 3", passed)
		}
	})
}
