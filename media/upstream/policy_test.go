package upstream_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iace/iace/media/upstream"
)

var (
	errDown   = errors.New("provider down")
	errRefuse = errors.New("request refused")
)

func TestTheBreakerOpensOnFailuresThatCountAndReportsItsState(t *testing.T) {
	for _, tc := range []struct {
		name     string
		wantOpen float64
	}{
		{name: "open is 2, the worst", wantOpen: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := prometheus.NewGauge(prometheus.GaugeOpts{Name: "breaker_state"})
			var log bytes.Buffer
			b := upstream.NewBreaker[int](upstream.Breaker{
				Failures: 2, Delay: time.Hour, Counts: func(err error) bool { return errors.Is(err, errDown) },
				State: state, Log: slog.New(slog.NewTextHandler(&log, nil)), Message: "test breaker",
			})
			run := func(err error) error {
				_, got := failsafe.With[int](b).Get(func() (int, error) { return 0, err })
				return got
			}
			// Refusals say nothing of the provider's health.
			for range 3 {
				_ = run(errRefuse)
			}
			if !b.IsClosed() || testutil.ToFloat64(state) != 0 {
				t.Fatalf("refused requests opened the breaker (gauge %v)", testutil.ToFloat64(state))
			}
			_ = run(errDown)
			_ = run(errDown)
			if !b.IsOpen() {
				t.Fatal("two failures did not open the breaker")
			}
			if got := testutil.ToFloat64(state); got != tc.wantOpen {
				t.Errorf("gauge %v while open, want %v", got, tc.wantOpen)
			}
			if err := run(nil); !errors.Is(err, circuitbreaker.ErrOpen) {
				t.Errorf("an open breaker let a request through: %v", err)
			}
			if !strings.Contains(log.String(), `msg="test breaker" from=closed to=open`) {
				t.Errorf("log %q", log.String())
			}
		})
	}
}

func TestRetriesStopAtTheAttemptsAndAreCountedAndLogged(t *testing.T) {
	retries := prometheus.NewCounter(prometheus.CounterOpts{Name: "retries_total"})
	var log bytes.Buffer
	var delays []int
	r := upstream.NewRetry[int](upstream.Retry{
		Attempts: 3, Backoff: time.Hour, MaxBackoff: time.Hour,
		Retryable: func(err error) bool { return errors.Is(err, errDown) },
		// The provider's own wait wins over the backoff of an hour.
		Delay: func(last error, attempts int) time.Duration {
			delays = append(delays, attempts)
			return time.Millisecond
		},
		Retries: retries, Log: slog.New(slog.NewTextHandler(&log, nil)), Message: "retrying", Level: slog.LevelWarn,
	})
	calls := 0
	_, err := failsafe.With[int](r).Get(func() (int, error) { calls++; return 0, errDown })
	if !errors.Is(err, errDown) {
		t.Errorf("err %v: want the last attempt's own error", err)
	}
	if calls != 3 || testutil.ToFloat64(retries) != 2 {
		t.Errorf("%d attempts, %v retries counted: want 3 and 2", calls, testutil.ToFloat64(retries))
	}
	if len(delays) != 2 || delays[0] != 1 || delays[1] != 2 {
		t.Errorf("delays asked after attempts %v, want [1 2]", delays)
	}
	if n := strings.Count(log.String(), "level=WARN msg=retrying attempt="); n != 2 {
		t.Errorf("%d retry lines in %q", n, log.String())
	}

	calls = 0
	_, _ = failsafe.With[int](r).Get(func() (int, error) { calls++; return 0, errRefuse })
	if calls != 1 {
		t.Errorf("a failure that is not retryable was sent %d times", calls)
	}
}

func TestAbortEndsTheRetriesAtOnce(t *testing.T) {
	r := upstream.NewRetry[int](upstream.Retry{Attempts: 5, Abort: func(err error) bool { return errors.Is(err, errRefuse) }})
	calls := 0
	_, _ = failsafe.With[int](r).Get(func() (int, error) { calls++; return 0, errRefuse })
	if calls != 1 {
		t.Errorf("%d attempts after an abort, want 1", calls)
	}
}

func TestAFullBulkheadTurnsAwayAndCounts(t *testing.T) {
	rejected := prometheus.NewCounter(prometheus.CounterOpts{Name: "rejected_total"})
	b := upstream.NewBulkhead[int](1, 0, rejected)
	if !b.TryAcquirePermit() {
		t.Fatal("no permit in an empty bulkhead")
	}
	defer b.ReleasePermit()
	_, err := failsafe.With[int](b).WithContext(t.Context()).Get(func() (int, error) { return 1, nil })
	if !errors.Is(err, bulkhead.ErrFull) || testutil.ToFloat64(rejected) != 1 {
		t.Errorf("err %v, %v rejections: want bulkhead.ErrFull and 1", err, testutil.ToFloat64(rejected))
	}
}

// TestRetryHonoursTheServersWait: a wait the server asks for is a floor
// the jitter cannot cut under, a wait longer than the caller can give ends
// the retries, and without one the backoff decides.
func TestRetryHonoursTheServersWait(t *testing.T) {
	after := func(err error) time.Duration {
		var a *waitAskedError
		if errors.As(err, &a) {
			return a.wait
		}
		return 0
	}
	r := upstream.Retry{Jitter: 0.25}.HonourRetryAfter(after, 3*time.Second)
	for _, tc := range []struct {
		err       error
		abort     bool
		atLeast   time.Duration
		byBackoff bool
	}{
		{err: &waitAskedError{time.Second}, atLeast: time.Second},
		{err: &waitAskedError{3 * time.Second}, atLeast: 3 * time.Second},
		{err: &waitAskedError{4 * time.Second}, abort: true},
		{err: errDown, byBackoff: true},
	} {
		if got := r.Abort(tc.err); got != tc.abort {
			t.Errorf("%v: abort %v, want %v", tc.err, got, tc.abort)
		}
		if tc.abort {
			continue
		}
		d := r.Delay(tc.err, 1)
		if tc.byBackoff {
			if d >= 0 {
				t.Errorf("%v: delay %v, want the backoff's (negative)", tc.err, d)
			}
			continue
		}
		if least := time.Duration(float64(d) * (1 - r.Jitter)); least < tc.atLeast {
			t.Errorf("%v: delay %v can be jittered down to %v, under the %v asked", tc.err, d, least, tc.atLeast)
		}
	}
}

type waitAskedError struct{ wait time.Duration }

func (e *waitAskedError) Error() string { return "slow down: " + e.wait.String() }
