package upstream

import (
	"log/slog"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/prometheus/client_golang/prometheus"
)

// Breaker configures a circuit breaker and what it reports.
type Breaker struct {
	// Failures is how many consecutive failures open the breaker.
	Failures uint
	// Successes is how many successful probes close it again; 0 keeps
	// failsafe-go's default (as many as Failures).
	Successes uint
	// Delay is how long it stays open before letting a probe through.
	Delay time.Duration
	// Counts says which failures count against the provider (nil: every
	// error). A caller's cancellation or a refused request says nothing of
	// the provider's health.
	Counts func(error) bool
	// State, when set, follows the breaker's state, as StateValue numbers
	// it, from the first change on (a new gauge's 0 is closed). Several
	// breakers may share one: clients of one provider and operation report
	// on the same series.
	State prometheus.Gauge
	// Log, when set, gets Message at warn on every change, with the states
	// it went from and to.
	Log     *slog.Logger
	Message string
}

// StateValue numbers a breaker state so that higher is worse: 0 closed,
// 1 half-open, 2 open. Every breaker_state gauge uses it.
func StateValue(s circuitbreaker.State) float64 {
	switch s {
	case circuitbreaker.HalfOpenState:
		return 1
	case circuitbreaker.OpenState:
		return 2
	}
	return 0
}

// NewBreaker builds the circuit breaker b describes.
func NewBreaker[R any](b Breaker) circuitbreaker.CircuitBreaker[R] {
	bb := circuitbreaker.NewBuilder[R]().
		WithFailureThreshold(b.Failures).
		WithDelay(b.Delay)
	if b.Successes > 0 {
		bb = bb.WithSuccessThreshold(b.Successes)
	}
	if b.Counts != nil {
		bb = bb.HandleIf(func(_ R, err error) bool { return b.Counts(err) })
	}
	return bb.OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
		if b.State != nil {
			b.State.Set(StateValue(e.NewState))
		}
		if b.Log != nil {
			b.Log.Warn(b.Message, slog.String("from", e.OldState.String()), slog.String("to", e.NewState.String()))
		}
	}).Build()
}

// Retry configures retries and what they report. A failed attempt is
// retried when Retryable says so, up to Attempts attempts in all, unless
// Abort says to stop.
type Retry struct {
	// Attempts counts the first one; 1 disables retries.
	Attempts int
	// Backoff and MaxBackoff: the first delay and the cap of the doubling
	// delays; a zero Backoff leaves the delay to Delay alone.
	Backoff, MaxBackoff time.Duration
	// Jitter varies each delay by up to this fraction, up or down, so the
	// retries of many calls hit by one outage spread out.
	Jitter float64
	// Retryable says which failures may be sent again (nil: every error).
	Retryable func(error) bool
	// Abort, when set, ends the retries at once for the failures it matches
	// (a Retry-After longer than a caller on the phone would wait).
	Abort func(error) bool
	// Delay, when set, is the wait after the last failure of attempts
	// attempts; a negative result leaves it to the backoff. It honours a
	// provider's Retry-After.
	Delay func(last error, attempts int) time.Duration
	// Retries, when set, counts every retry.
	Retries prometheus.Counter
	// Log, when set, gets Message at Level each time a retry is scheduled,
	// with the attempts so far, the delay and the error.
	Log     *slog.Logger
	Message string
	Level   slog.Level
}

// HonourRetryAfter sets r's Abort and Delay from the wait a server asks
// for (an HTTP Retry-After): after(err) is that wait, 0 when none was
// asked. A wait longer than max ends the retries at once (a caller on the
// phone will not wait it out); a shorter one is a floor: the delay is the
// wait divided by 1 - Jitter (4/3 of it at 25 %), plus a millisecond, so
// that the jitter never makes it shorter than asked. Without a wait the
// backoff decides.
func (r Retry) HonourRetryAfter(after func(error) time.Duration, maxWait time.Duration) Retry {
	r.Abort = func(err error) bool { return after(err) > maxWait }
	r.Delay = func(last error, _ int) time.Duration {
		if w := after(last); w > 0 {
			return time.Duration(float64(w)/(1-r.Jitter)) + time.Millisecond
		}
		return -1
	}
	return r
}

// NewRetry builds the retry policy r describes. The policy returns the
// last attempt's error, not failsafe-go's ExceededError, so that callers
// classify what the provider said.
//
//nolint:contextcheck,nolintlint // its log listener logs under the execution's context, the caller's (contextcheck reports that at the callers, so the directive looks unused here)
func NewRetry[R any](r Retry) retrypolicy.RetryPolicy[R] {
	rb := retrypolicy.NewBuilder[R]().
		WithMaxAttempts(r.Attempts).
		ReturnLastFailure()
	if r.Retryable != nil {
		rb = rb.HandleIf(func(_ R, err error) bool { return r.Retryable(err) })
	}
	if r.Abort != nil {
		rb = rb.AbortIf(func(_ R, err error) bool { return r.Abort(err) })
	}
	if r.Backoff > 0 {
		rb = rb.WithBackoff(r.Backoff, r.MaxBackoff)
	}
	if r.Jitter > 0 {
		rb = rb.WithJitterFactor(r.Jitter)
	}
	if r.Delay != nil {
		rb = rb.WithDelayFunc(func(exec failsafe.ExecutionAttempt[R]) time.Duration {
			if d := r.Delay(exec.LastError(), exec.Attempts()); d >= 0 {
				return d
			}
			return -1 // failsafe-go's "no delay of mine": the backoff decides
		})
	}
	if r.Retries != nil {
		rb = rb.OnRetry(func(failsafe.ExecutionEvent[R]) { r.Retries.Inc() })
	}
	if r.Log != nil {
		rb = rb.OnRetryScheduled(func(e failsafe.ExecutionScheduledEvent[R]) {
			// The execution's context: the line names the call and its trace.
			r.Log.Log(e.Context(), r.Level, r.Message, slog.Int("attempt", e.Attempts()), slog.Duration("delay", e.Delay), slog.Any("err", e.LastError()))
		})
	}
	return rb.Build()
}

// NewBulkhead builds a bulkhead of max concurrent executions, each waiting
// at most wait for a permit (0: none); rejected, when set, counts the
// executions turned away.
func NewBulkhead[R any](max uint, wait time.Duration, rejected prometheus.Counter) bulkhead.Bulkhead[R] {
	bb := bulkhead.NewBuilder[R](max).WithMaxWaitTime(wait)
	if rejected != nil {
		bb = bb.OnFull(func(failsafe.ExecutionEvent[R]) { rejected.Inc() })
	}
	return bb.Build()
}
