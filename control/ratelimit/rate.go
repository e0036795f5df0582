package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limiter decides whether the holder of key may act now. When it may not,
// retryAfter says how long until it may. An error means no decision could
// be made; the implementations of this package fail open instead, so they
// never return one.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// Rate is N events per Per, with bursts of up to Burst events at once
// (0: N). A key that has been idle for Per may burst again.
type Rate struct {
	N     int
	Per   time.Duration
	Burst int
}

// PerMinute is n events a minute, bursts of n.
func PerMinute(n int) Rate { return Rate{N: n, Per: time.Minute} }

// PerSecond is n events a second, bursts of n.
func PerSecond(n int) Rate { return Rate{N: n, Per: time.Second} }

// Validate reports every problem of r at once.
func (r Rate) Validate() error {
	var errs []error
	if r.N <= 0 {
		errs = append(errs, fmt.Errorf("ratelimit: rate N must be positive (%d)", r.N))
	}
	if r.Per <= 0 {
		errs = append(errs, fmt.Errorf("ratelimit: rate period must be positive (%v)", r.Per))
	}
	if r.Burst < 0 {
		errs = append(errs, fmt.Errorf("ratelimit: burst is negative (%d)", r.Burst))
	}
	if r.N > 0 && r.Per > 0 && r.Per/time.Duration(r.N) < time.Microsecond {
		errs = append(errs, fmt.Errorf("ratelimit: %d per %v is faster than one a microsecond", r.N, r.Per))
	}
	return errors.Join(errs...)
}

// String is "N/Per burst B".
func (r Rate) String() string { return fmt.Sprintf("%d/%v burst %d", r.N, r.Per, r.burst()) }

func (r Rate) burst() int {
	if r.Burst == 0 {
		return r.N
	}
	return r.Burst
}

// interval is the emission interval of GCRA: one event every Per/N.
func (r Rate) interval() time.Duration { return r.Per / time.Duration(r.N) }

// gcra is the generic cell rate algorithm (ITU-T I.371) in integer time
// units (nanoseconds in process, microseconds in Redis). tat is the stored
// theoretical arrival time (0 or a past time for an idle key). An event at
// now passes when tat+interval-interval*burst <= now; it then moves tat to
// next, which is also when the key's state can be forgotten (from then on
// it behaves as a fresh key). A refused event gets the wait until it would
// pass.
func gcra(now, tat, interval, burst int64) (ok bool, next, wait int64) {
	tat = max(tat, now)
	next = tat + interval
	allowAt := next - interval*burst
	if now < allowAt {
		return false, tat, allowAt - now
	}
	return true, next, 0
}

// gcraRefund gives back one event: tat moves back one interval, but not
// before now (a key cannot hold more than a fresh key's burst). fresh
// reports that the key is back to a fresh key's state and can be forgotten.
func gcraRefund(now, tat, interval int64) (next int64, fresh bool) {
	next = tat - interval
	if next <= now {
		return now, true
	}
	return next, false
}
