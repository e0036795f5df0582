package learn

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Workers run a Learner on finished calls in the background: a bounded
// queue and a fixed number of goroutines, so learning never runs on a
// call's goroutines and never takes more than its share of the machine.
type Workers struct {
	l       *Learner
	jobs    chan Call
	done    chan struct{}
	timeout time.Duration
	log     *slog.Logger
	wg      sync.WaitGroup
	once    sync.Once
}

// NewWorkers starts n goroutines learning from the calls Submit queues, at
// most depth waiting, each call under timeout. ctx bounds them all (the
// server's lifetime); Close stops them.
func NewWorkers(ctx context.Context, l *Learner, n, depth int, timeout time.Duration, log *slog.Logger) *Workers {
	if log == nil {
		log = slog.Default()
	}
	w := &Workers{l: l, jobs: make(chan Call, max(depth, 1)), done: make(chan struct{}), timeout: timeout, log: log}
	for range max(n, 1) {
		w.wg.Go(func() { w.run(ctx) })
	}
	return w
}

// Submit queues c. When the queue is full it waits (its caller, the call
// record's writer, runs off every call's path) until there is room, ctx
// ends or the workers close; it reports whether c was queued.
func (w *Workers) Submit(ctx context.Context, c Call) bool {
	select {
	case w.jobs <- c:
		return true
	case <-ctx.Done():
	case <-w.done:
	}
	return false
}

// Close stops the workers once the calls already queued are learned, and
// waits for them. Calls submitted after Close are not learned. It is
// idempotent.
func (w *Workers) Close() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}

func (w *Workers) run(ctx context.Context) {
	for {
		select {
		case c := <-w.jobs:
			w.learn(ctx, c)
		case <-w.done:
			for { // what was queued before Close is still learned
				select {
				case c := <-w.jobs:
					w.learn(ctx, c)
				default:
					return
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

func (w *Workers) learn(ctx context.Context, c Call) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	res, err := w.l.Learn(ctx, c)
	if err != nil {
		w.log.Warn("learning from a call failed", "call_id", string(c.CallID), "err", err)
		return
	}
	if n := len(res.Created) + len(res.Merged) + res.Refused; n > 0 {
		w.log.Debug("learned from a call", "call_id", string(c.CallID), "created", len(res.Created), "merged", len(res.Merged), "refused", res.Refused)
	}
}
