package auth

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// HashActivity is told when the password hasher gets busy and when it is
// idle again, in that order, never twice in a row the same: a server can
// give the hashes room while they run (cmd/iace gives a node of the API on
// one CPU a second Go processor).
type HashActivity interface {
	Busy()
	Idle()
}

// hasher runs argon2id at most slots-at-a-time, with at most queue callers
// waiting, each at most wait: a login flood gets ErrBusy instead of taking
// every core and gigabytes of memory from the calls.
type hasher struct {
	sem     chan struct{}
	waiting atomic.Int64
	queue   int64
	wait    time.Duration
	m       *metrics

	act    HashActivity // nil: nobody is told
	actMu  sync.Mutex
	active int // hashes running or waiting, under actMu
}

func newHasher(slots, queue int, wait time.Duration, m *metrics, act HashActivity) *hasher {
	return &hasher{sem: make(chan struct{}, slots), queue: int64(queue), wait: wait, m: m, act: act}
}

// enter and leave count the hashes running or waiting, and tell act when
// the count leaves and returns to zero (under the lock, so in order).
func (h *hasher) enter() {
	if h.act == nil {
		return
	}
	h.actMu.Lock()
	defer h.actMu.Unlock()
	if h.active++; h.active == 1 {
		h.act.Busy()
	}
}

func (h *hasher) leave() {
	if h.act == nil {
		return
	}
	h.actMu.Lock()
	defer h.actMu.Unlock()
	if h.active--; h.active == 0 {
		h.act.Idle()
	}
}

// do runs fn in a slot.
func (h *hasher) do(ctx context.Context, fn func()) error {
	h.enter()
	defer h.leave()
	select {
	case h.sem <- struct{}{}:
	default:
		if err := h.await(ctx); err != nil {
			return err
		}
	}
	defer func() { <-h.sem }()
	h.m.hashes.Inc()
	fn()
	return nil
}

func (h *hasher) await(ctx context.Context) error {
	defer h.waiting.Add(-1)
	if h.waiting.Add(1) > h.queue {
		h.m.busy.Inc()
		return ErrBusy
	}
	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-timer.C:
		h.m.busy.Inc()
		return ErrBusy
	case <-ctx.Done():
		return fmt.Errorf("auth: waiting to hash a password: %w", context.Cause(ctx))
	}
}

// verify checks password against a PHC hash in a slot.
func (h *hasher) verify(ctx context.Context, password, hash string) (bool, error) {
	var (
		ok  bool
		err error
	)
	if serr := h.do(ctx, func() { ok, err = VerifyPassword(password, hash) }); serr != nil {
		return false, serr
	}
	return ok, err
}

// hash hashes a new password in a slot.
func (h *hasher) hash(ctx context.Context, password string, p Argon2Params) (string, error) {
	var (
		out string
		err error
	)
	if serr := h.do(ctx, func() { out, err = HashPassword(password, p) }); serr != nil {
		return "", serr
	}
	return out, err
}
