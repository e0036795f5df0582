package auth

import (
	"errors"
	"fmt"
	"time"
)

// Errors of the Service. The API answers ErrUnauthorized (and
// ErrTokenReused, which wraps it) with 401, ErrForbidden and
// ErrWrongPassword with 403,
// ErrThrottled with 429 and ErrBusy with 503, each without more detail
// than the message: why a login failed is never told.
var (
	// ErrUnauthorized: the credentials or the token are not valid, for any
	// reason (unknown email, wrong password, disabled user, expired,
	// revoked or forged token).
	ErrUnauthorized = errors.New("auth: unauthorized")
	// ErrTokenReused: a refresh token that was already exchanged was
	// presented again, so it may have been stolen: its whole session
	// (every refresh and access token of its family) is now revoked.
	ErrTokenReused = fmt.Errorf("%w: refresh token reused; the session was revoked, log in again", ErrUnauthorized)
	// ErrWrongPassword: the current password given to change it is wrong.
	// It wraps ErrUnauthorized, but the API answers it with 403: the
	// caller's token is fine.
	ErrWrongPassword = fmt.Errorf("%w: wrong current password", ErrUnauthorized)
	// ErrForbidden: the principal's role does not allow the action.
	ErrForbidden = errors.New("auth: forbidden")
	// ErrThrottled: too many failed logins for this email, from this
	// address, or both; the error is a *ThrottledError that says when to
	// retry.
	ErrThrottled = errors.New("auth: too many failed logins")
	// ErrBusy: too many password hashes are already running or waiting;
	// retry in a second.
	ErrBusy = errors.New("auth: busy, retry shortly")
)

// ThrottledError is ErrThrottled with the wait before the next attempt
// (the Retry-After of the 429).
type ThrottledError struct {
	Wait time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v; retry after %v", ErrThrottled, e.Wait.Round(time.Second))
}

// RetryAfter is Wait, for callers that recognize throttling errors by this
// method.
func (e *ThrottledError) RetryAfter() time.Duration { return e.Wait }

// Unwrap makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }
