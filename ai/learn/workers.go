package learn

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"
)

// Workers run a Learner, and the callers' Memory, on finished calls in the
// background: bounded queues and a fixed number of goroutines, so learning
// never runs on a call's goroutines and never takes more than its share of
// the machine. An organization's calls always go to the same goroutine, in
// the order submitted: two calls that teach the same new pattern at once
// make one pattern and a merge, not two patterns, and a caller's memory
// takes their calls one at a time.
type Workers struct {
	l       *Learner
	mem     *Memory // nil: callers' memory is not kept
	queues  []chan job
	seed    maphash.Seed
	done    chan struct{}
	timeout time.Duration
	log     *slog.Logger
	wg      sync.WaitGroup
	once    sync.Once
}

type job struct {
	c    Call
	done func()
}

// NewWorkers starts n goroutines learning from the calls Submit queues, at
// most depth waiting in all, each call under timeout; mem, if not nil,
// also keeps each caller's memory. ctx bounds them all (the server's
// lifetime); Close stops them.
func NewWorkers(ctx context.Context, l *Learner, mem *Memory, n, depth int, timeout time.Duration, log *slog.Logger) *Workers {
	if log == nil {
		log = slog.Default()
	}
	n = max(n, 1)
	w := &Workers{l: l, mem: mem, queues: make([]chan job, n), seed: maphash.MakeSeed(), done: make(chan struct{}),
		timeout: timeout, log: log}
	for i := range w.queues {
		q := make(chan job, max(depth/n, 1))
		w.queues[i] = q
		w.wg.Go(func() { w.run(ctx, q) })
	}
	return w
}

// Submit queues c on its organization's worker. When that queue is full
// it waits (its caller, the call record's writer, runs off every call's
// path) until there is room, ctx ends or the workers close; it reports
// whether c was queued. done, if not nil, is called once the call is
// learned from, or given up on; not when the workers stop first (the
// server is going down), so that a record held until done is learned from
// after the restart.
func (w *Workers) Submit(ctx context.Context, c Call, done func()) bool {
	q := w.queues[maphash.String(w.seed, string(c.OrgID))%uint64(len(w.queues))]
	select {
	case q <- job{c: c, done: done}:
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

func (w *Workers) run(ctx context.Context, q chan job) {
	for {
		select {
		case j := <-q:
			w.learn(ctx, j)
		case <-w.done:
			for { // what was queued before Close is still learned
				select {
				case j := <-q:
					w.learn(ctx, j)
				default:
					return
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

func (w *Workers) learn(base context.Context, j job) {
	c := j.c
	ctx, cancel := context.WithTimeout(base, w.timeout)
	defer cancel()
	res, err := w.l.Learn(ctx, c)
	if err != nil {
		w.log.Warn("learning from a call failed", "call_id", string(c.CallID), "err", err)
	} else if n := len(res.Created) + len(res.Merged) + res.Refused; n > 0 {
		w.log.Debug("learned from a call", "call_id", string(c.CallID), "created", len(res.Created), "merged", len(res.Merged), "refused", res.Refused)
	}
	if w.mem != nil {
		if err := w.mem.Remember(ctx, c); err != nil {
			w.log.Warn("the caller's memory was not updated", "call_id", string(c.CallID), "err", err)
		}
	}
	if base.Err() != nil {
		return // stopped, not finished: a held record is learned from again after the restart
	}
	if j.done != nil {
		j.done()
	}
}
