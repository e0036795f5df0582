package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/iace/iace/control/ratelimit"
)

// Throttle limits login attempts per key. Allow takes one attempt from the
// key's allowance before the password is checked, so that concurrent
// guesses cannot all pass a check made before any failure was recorded;
// Refund gives it back when the attempt turns out not to count (the
// password was right, or it was never checked). ratelimit.Local and
// ratelimit.Redis are Throttles.
type Throttle interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
	Refund(ctx context.Context, key string) error
}

// Throttles are the login throttles of a Service. Nil ones are in-process
// limiters at the Config's rates; a multi-node deployment passes Redis
// limiters so that an attacker cannot spread guesses over the nodes.
//
// Failures are limited per email and client address (Pair), which locks
// out a guesser without locking out the user, who logs in from their own
// address; per client address (IP), which stops one address from trying
// many emails; and per email (Email), a ceiling above Pair's that bounds
// the guesses spread over many addresses. Past its burst the ceiling
// spaces attempts (one per interval) rather than locking the email for
// long: while it holds, the user waits at most one interval per attempt.
type Throttles struct {
	Pair  Throttle
	Email Throttle
	IP    Throttle
}

// newThrottles fills the nil throttles of t with in-process limiters at
// cfg's rates.
func newThrottles(t Throttles, cfg Config) (Throttles, error) {
	for _, th := range []struct {
		slot *Throttle
		name string
		rate ratelimit.Rate
	}{
		{&t.Pair, "login_pair", cfg.PairFailures},
		{&t.Email, "login_email", cfg.EmailFailures},
		{&t.IP, "login_ip", cfg.IPFailures},
	} {
		if *th.slot != nil {
			continue
		}
		l, err := ratelimit.NewLocal(ratelimit.Config{Name: th.name, Rate: th.rate, Now: cfg.Now}, nil)
		if err != nil {
			return t, err
		}
		*th.slot = l
	}
	return t, nil
}

// emailKey keeps email addresses out of Redis: the key is their SHA-256.
func emailKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return hex.EncodeToString(sum[:16])
}

// attempt is one login attempt's claim on the throttles: what it took, to
// be given back if the attempt does not count as a failure.
type attempt struct {
	t     Throttles
	taken []taken
}

type taken struct {
	th  Throttle
	key string
}

// take claims one attempt for email from address from (the zero Addr
// skips the address throttle; the pair is then the email alone), before
// the password is checked. It asks the narrowest throttle first (pair,
// address, then the email's ceiling), so that a guesser locked out of a
// pair or an address does not use up the email's ceiling. When a throttle refuses, what was taken is
// given back and the error is a *ThrottledError. A throttle that fails
// lets the login through (its hashing is still bounded by the hash slots).
func (t Throttles) take(ctx context.Context, email string, from netip.Addr) (*attempt, error) {
	ek := emailKey(email)
	steps := make([]taken, 0, 3)
	steps = append(steps, taken{t.Pair, ek + "|" + addrKey(from)})
	if from.IsValid() {
		steps = append(steps, taken{t.IP, ratelimit.AddrKey(from)})
	}
	steps = append(steps, taken{t.Email, ek})
	a := &attempt{t: t}
	for _, s := range steps {
		ok, wait, err := s.th.Allow(ctx, s.key)
		if err != nil {
			continue
		}
		if !ok {
			a.refund(ctx)
			return nil, &ThrottledError{Wait: wait}
		}
		a.taken = append(a.taken, s)
	}
	return a, nil
}

// refund gives back what the attempt took: it was not a failure (the
// password was right) or no password was checked (busy, store down).
// Refunds outlive a caller that went away.
func (a *attempt) refund(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	for _, s := range a.taken {
		_ = s.th.Refund(ctx, s.key)
	}
	a.taken = nil
}

// addrKey names a client address in a pair key; "-" when unknown.
func addrKey(from netip.Addr) string {
	if !from.IsValid() {
		return "-"
	}
	return ratelimit.AddrKey(from)
}
