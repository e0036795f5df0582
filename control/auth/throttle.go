package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/iace/iace/control/ratelimit"
)

// Throttle counts failed logins per key: Allow records a failure, Peek
// tells whether the key is locked out. ratelimit.Local and ratelimit.Redis
// are Throttles.
type Throttle interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
	Peek(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// Throttles are the login throttles of a Service: failures per email and
// per client address. Nil ones are in-process limiters at the Config's
// rates; a multi-node deployment passes Redis limiters so that an attacker
// cannot spread guesses over the nodes.
type Throttles struct {
	Email Throttle
	IP    Throttle
}

// newThrottles fills the nil throttles of t with in-process limiters at
// cfg's rates.
func newThrottles(t Throttles, cfg Config) (Throttles, error) {
	if t.Email == nil {
		l, err := ratelimit.NewLocal(ratelimit.Config{Name: "login_email", Rate: cfg.EmailFailures, Now: cfg.Now}, nil)
		if err != nil {
			return t, err
		}
		t.Email = l
	}
	if t.IP == nil {
		l, err := ratelimit.NewLocal(ratelimit.Config{Name: "login_ip", Rate: cfg.IPFailures, Now: cfg.Now}, nil)
		if err != nil {
			return t, err
		}
		t.IP = l
	}
	return t, nil
}

// emailKey keeps email addresses out of Redis: the key is their SHA-256.
func emailKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return hex.EncodeToString(sum[:16])
}

// check returns a *ThrottledError when the email or the address is locked
// out. A throttle that fails lets the login through (its hashing is still
// bounded by the hash slots).
func (t Throttles) check(ctx context.Context, email string, from netip.Addr) error {
	wait := time.Duration(0)
	if ok, w, err := t.Email.Peek(ctx, emailKey(email)); err == nil && !ok {
		wait = w
	}
	if from.IsValid() {
		if ok, w, err := t.IP.Peek(ctx, ratelimit.AddrKey(from)); err == nil && !ok {
			wait = max(wait, w)
		}
	}
	if wait > 0 {
		return &ThrottledError{Wait: wait}
	}
	return nil
}

// fail records a failed login against the email and the address.
func (t Throttles) fail(ctx context.Context, email string, from netip.Addr) {
	_, _, _ = t.Email.Allow(ctx, emailKey(email))
	if from.IsValid() {
		_, _, _ = t.IP.Allow(ctx, ratelimit.AddrKey(from))
	}
}
