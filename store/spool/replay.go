package spool

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// replay is the Spool's one goroutine: it applies the spooled records in
// order, the head until it is applied or dead-lettered, waiting a doubling,
// jittered back-off after each failure.
func (s *Spool) replay(ctx context.Context) {
	defer s.wg.Done()
	backoff := s.opt.backoffMin
	attempts := 0 // of the head record
	outage := false
	for {
		seq, ok := s.head()
		if !ok {
			if outage {
				s.log.Info("spool: all spooled records are in the database")
				outage = false
			}
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				continue
			}
		}
		rec, err := readRecord(s.dir, seq)
		if err != nil {
			s.deadLetterFile(fileName(seq), err)
			s.pop(seq)
			continue
		}
		if s.opt.prepare != nil {
			s.opt.prepare(ctx, rec)
		}
		actx, cancel := context.WithTimeout(ctx, s.opt.attemptTimeout)
		err = s.apply(actx, rec)
		cancel()
		if ctx.Err() != nil {
			return // closing: the record stays for the next Open
		}
		attempts++
		switch {
		case err == nil:
			h := &hold{path: filepath.Join(s.dir, fileName(seq))}
			if s.opt.applied != nil {
				r := *rec
				r.hold = h
				s.opt.applied(ctx, r)
			}
			if !h.held.Load() {
				_ = os.Remove(h.path) // left behind, it is applied again: harmlessly
			}
			s.pop(seq)
			s.m.replayed.Inc()
		case permanent(err) || (!transient(err) && attempts >= s.opt.maxAttempts):
			s.deadLetterFile(fileName(seq), err)
			s.pop(seq)
		default:
			s.m.failures.Inc()
			if !outage {
				s.log.Warn("spool: the database does not take spooled records yet; retrying",
					"depth", s.Depth(), "call_id", rec.Call.ID, "err", err)
				outage = true
			} else {
				s.log.Debug("spool: replay failed", "call_id", rec.Call.ID, "attempt", attempts, "err", err)
			}
			t := time.NewTimer(backoff/2 + rand.N(backoff/2+1)) //nolint:gosec // G404: retry jitter, not a secret
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, s.opt.backoffMax)
			continue
		}
		attempts, backoff = 0, s.opt.backoffMin
	}
}

// head is the first spooled record, unless a record numbered before it is
// still being written: order is by number.
func (s *Spool) head() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return 0, false
	}
	h := s.queue[0]
	for seq := range s.inflight {
		if seq < h {
			return 0, false
		}
	}
	return h, true
}

func (s *Spool) pop(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 && s.queue[0] == seq {
		s.queue = s.queue[1:]
	}
	s.m.depth.Set(float64(len(s.queue)))
	if len(s.queue) == 0 && len(s.inflight) == 0 {
		s.idle.Broadcast()
	}
}
