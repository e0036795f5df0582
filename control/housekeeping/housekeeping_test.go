package housekeeping_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/iace/iace/control/housekeeping"
	"github.com/iace/iace/store"
)

// TestMain checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Every store is a Housekeeper's Store.
var _ housekeeping.Store = store.Store(nil)

// prunes records what it was asked to prune.
type prunes struct {
	mu     sync.Mutex
	tokens []time.Time
	events []time.Time
	fail   error
}

func (p *prunes) PruneRefreshTokens(_ context.Context, before time.Time) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokens = append(p.tokens, before)
	return 3, p.fail
}

func (p *prunes) PruneWebhookEvents(_ context.Context, before time.Time) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, before)
	return 7, p.fail
}

func (p *prunes) calls() (tokens, events []time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.tokens...), append([]time.Time(nil), p.events...)
}

// logBuffer is a log sink safe for the Housekeeper's goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestHousekeeperPrunesEveryPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &prunes{}
		var logs logBuffer
		h, err := housekeeping.New(housekeeping.Config{Period: time.Hour}, st, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- h.Run(ctx) }()

		synctest.Wait()
		tokens, events := st.calls()
		if len(tokens) != 1 || len(events) != 1 {
			t.Fatalf("at start: %d token and %d event prunes, want one each", len(tokens), len(events))
		}
		if want := start.Add(-housekeeping.DefaultTokenGrace); !tokens[0].Equal(want) {
			t.Errorf("tokens pruned before %v, want %v (expired for a day)", tokens[0], want)
		}
		if want := start.Add(-housekeeping.DefaultEventRetention); !events[0].Equal(want) {
			t.Errorf("events pruned before %v, want %v", events[0], want)
		}
		if l := logs.String(); !strings.Contains(l, "level=INFO") || !strings.Contains(l, "refresh_tokens=3") || !strings.Contains(l, "webhook_events=7") {
			t.Errorf("log %q does not say what was removed at info", l)
		}

		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		if tokens, _ := st.calls(); len(tokens) != 1 {
			t.Fatalf("%d prunes before the period ended, want 1", len(tokens))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		tokens, events = st.calls()
		if len(tokens) != 2 || len(events) != 2 {
			t.Fatalf("after a period: %d and %d prunes, want two each", len(tokens), len(events))
		}
		if want := start.Add(time.Hour - housekeeping.DefaultTokenGrace); !tokens[1].Equal(want) {
			t.Errorf("second prune before %v, want %v", tokens[1], want)
		}

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v, want nil when its context ends", err)
		}
	})
}

func TestHousekeeperKeepsGoingAfterAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &prunes{fail: store.ErrUnavailable}
		var logs logBuffer
		h, err := housekeeping.New(housekeeping.Config{Period: time.Minute}, st, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx) }()
		time.Sleep(time.Minute)
		synctest.Wait()
		if tokens, events := st.calls(); len(tokens) != 2 || len(events) != 2 {
			t.Errorf("%d and %d prunes after a failure and a period, want two each", len(tokens), len(events))
		}
		if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "store: unavailable") {
			t.Errorf("the failure was not logged: %q", l)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestHousekeepingConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  housekeeping.Config
	}{
		{"a negative period", housekeeping.Config{Period: -time.Second}},
		{"a negative token grace", housekeeping.Config{TokenGrace: -time.Second}},
		{"events kept for less than a replay can come", housekeeping.Config{EventRetention: 5 * time.Minute}},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			if _, err := housekeeping.New(tc.cfg, &prunes{}, nil); err == nil {
				t.Error("no error")
			}
		})
	}
	if _, err := housekeeping.New(housekeeping.Config{}, nil, nil); err == nil {
		t.Error("no store: no error")
	}
	if _, err := housekeeping.New(housekeeping.Config{}, &prunes{}, nil); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
