// Package spool makes the end-of-call writes durable: a call's record and
// transcript go to the database, or, when it cannot be reached, to files in a
// local directory that a background goroutine replays, in order, until the
// database takes them, also after a restart.
package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/store"
)

// Store is what the spool writes through; a store.Store is one.
type Store interface {
	CustomerByPhone(ctx context.Context, org store.OrgID, phone store.PhoneNumber) (store.Customer, error)
	CreateCustomer(ctx context.Context, c store.Customer) (store.Customer, error)
	CreateCall(ctx context.Context, c store.Call) (store.Call, error)
	GetCall(ctx context.Context, org store.OrgID, id store.CallID) (store.CallDetail, error)
	UpdateCall(ctx context.Context, c store.Call) (store.Call, error)
	FinishCall(ctx context.Context, end store.CallEnd) (store.Call, error)
}

// CallRecord is what the end of a call writes. Applying it twice writes
// nothing twice, so a record whose acknowledgement was lost can be replayed.
type CallRecord struct {
	// Call is created if it does not exist yet (its ID is required; a
	// CreateCall conflict means it exists). It is created active whatever
	// its Status: FinishCall ends it.
	Call store.Call `json:"call"`
	// Customer, when set, is found by phone or created, and becomes the
	// call's customer if the call has none.
	Customer *store.Customer `json:"customer,omitempty"`
	// End finishes the call (idempotent by the store's contract) with its
	// turns and events, which a spooled record keeps on disk as they were
	// given. Its OrgID and CallID default to the call's.
	End store.CallEnd `json:"end"`
	// PatternsUsed are the patterns that informed the agent's replies; what
	// the record feeds counts their use once it is applied.
	PatternsUsed []store.PatternID `json:"patterns_used,omitempty"`

	// hold is set on a record the replayer hands to WithApplied's function:
	// its spool file, which Hold keeps past the function.
	hold *hold
}

type hold struct {
	path string
	held atomic.Bool
}

// Hold keeps the record's spool file, when WithApplied's function calls
// it, until done is called rather than until the function returns: work the
// record feeds that runs on after it (learning from the call) is then
// done again after a restart instead of lost. done is safe to call more
// than once and from any goroutine; a record that never touched the disk
// (written straight through by RecordCall) has nothing to keep, and its
// done does nothing.
func (r CallRecord) Hold() (done func()) {
	h := r.hold
	if h == nil {
		return func() {}
	}
	h.held.Store(true)
	return sync.OnceFunc(func() { _ = os.Remove(h.path) }) // left behind, it is applied again: harmlessly
}

// check fills the defaults and rejects a record that could never apply.
func (r *CallRecord) check() error {
	if r.End.OrgID == "" {
		r.End.OrgID = r.Call.OrgID
	}
	if r.End.CallID == "" {
		r.End.CallID = r.Call.ID
	}
	if r.Customer != nil && r.Customer.OrgID == "" {
		r.Customer.OrgID = r.Call.OrgID
	}
	switch {
	case r.Call.ID == "":
		return fmt.Errorf("spool: %w: the call has no id", store.ErrInvalid)
	case r.Call.OrgID == "":
		return fmt.Errorf("spool: %w: the call has no organization", store.ErrInvalid)
	case r.End.OrgID != r.Call.OrgID || r.End.CallID != r.Call.ID:
		return fmt.Errorf("spool: %w: the end is another call's", store.ErrInvalid)
	case r.Customer != nil && (r.Customer.OrgID != r.Call.OrgID || r.Customer.Phone == ""):
		return fmt.Errorf("spool: %w: the customer needs a phone in the call's organization", store.ErrInvalid)
	}
	return nil
}

// ErrClosed is returned by RecordCall after Close.
var ErrClosed = errors.New("spool: closed")

// Option changes a default of Open.
type Option func(*options)

type options struct {
	attemptTimeout time.Duration
	backoffMin     time.Duration
	backoffMax     time.Duration
	maxAttempts    int
	prepare        func(ctx context.Context, rec *CallRecord)
	applied        func(ctx context.Context, rec CallRecord)
}

// WithAttemptTimeout bounds each attempt to write a record to the database,
// direct or replayed (default 3 s).
func WithAttemptTimeout(d time.Duration) Option {
	return func(o *options) { o.attemptTimeout = d }
}

// WithBackoff sets the wait between replays of a record the database refused
// (default 200 ms doubling to 30 s, with jitter).
func WithBackoff(lo, hi time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = lo, max(lo, hi) }
}

// WithMaxAttempts sets how many times a record failing with an error that is
// neither a known transient one (store.ErrUnavailable, a timeout) nor a known
// permanent one is replayed before it is dead-lettered (default 10).
func WithMaxAttempts(n int) Option {
	return func(o *options) { o.maxAttempts = n }
}

// WithPrepare runs f on each record the replayer is about to apply (once
// per attempt): work that belongs to the record but must not hold up the
// call that made it, such as scoring what was not scored while it ran.
// f must be bounded in time and safe to run again on the same record.
func WithPrepare(f func(ctx context.Context, rec *CallRecord)) Option {
	return func(o *options) { o.prepare = f }
}

// WithApplied runs f after a record is in the database, before the spool
// lets go of it: what the record feeds (learning from the call) starts from
// there. If the process stops first, the record is applied again at the
// next Open, and f runs again: f must be idempotent. Work f starts that
// outlives it keeps the record with CallRecord.Hold.
func WithApplied(f func(ctx context.Context, rec CallRecord)) Option {
	return func(o *options) { o.applied = f }
}

// Spool writes call records through to a Store, spooling what the Store
// cannot take yet. It is safe for concurrent use. One Spool per directory.
type Spool struct {
	dir  string
	dead string
	next Store
	log  *slog.Logger
	m    *metrics
	opt  options

	mu       sync.Mutex
	idle     *sync.Cond          // signalled when the queue empties
	seq      uint64              // the next record's sequence number
	queue    []uint64            // spooled records, ascending
	inflight map[uint64]struct{} // numbered, being written to disk
	closed   bool

	wake      chan struct{}
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Open opens (creating) the spool directory dir, queues what a previous
// process left there, and starts replaying it into next. Files that are not
// records are moved to dir/dead.
//
//nolint:contextcheck,nolintlint // the replayer lives until Close, not a caller's context (contextcheck reads this)
func Open(dir string, next Store, log *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Spool, error) {
	o := options{
		attemptTimeout: 3 * time.Second,
		backoffMin:     200 * time.Millisecond,
		backoffMax:     30 * time.Second,
		maxAttempts:    10,
	}
	for _, f := range opts {
		f(&o)
	}
	if o.attemptTimeout <= 0 || o.backoffMin <= 0 || o.maxAttempts <= 0 {
		return nil, fmt.Errorf("spool: %w: non-positive option", store.ErrInvalid)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Spool{
		dir:      dir,
		dead:     filepath.Join(dir, deadDir),
		next:     next,
		log:      log,
		m:        newMetrics(reg),
		opt:      o,
		inflight: map[uint64]struct{}{},
		wake:     make(chan struct{}, 1),
	}
	s.idle = sync.NewCond(&s.mu)
	if err := os.MkdirAll(s.dead, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	if n := len(s.queue); n > 0 {
		s.log.Info("spool: replaying records left by a previous run", "records", n, "dir", dir)
	}
	// Numbers grow across restarts: a file left in dead/ by an earlier run
	// is not overwritten by a new record of the same number.
	s.seq = max(s.seq, uint64(time.Now().UnixMicro()))
	s.m.depth.Set(float64(len(s.queue)))

	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go s.replay(ctx)
	return s, nil
}

// Close stops the replayer and waits for it. Records not yet replayed stay
// in the directory for the next Open. It is idempotent.
func (s *Spool) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.idle.Broadcast()
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
	})
	return nil
}

// Enqueue writes the record to disk, durably, for the replayer to apply:
// the end of a call waits for a local file, never for the database. A nil
// error means the record will reach the database, after a restart if need
// be.
func (s *Spool) Enqueue(rec CallRecord) error {
	if err := rec.check(); err != nil {
		return err
	}
	return s.spool(&rec)
}

// Flush waits until every record spooled so far has been applied or
// dead-lettered, or ctx ends.
func (s *Spool) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() { // ends when the queue empties, or at Close (broadcast)
		s.mu.Lock()
		for (len(s.queue) > 0 || len(s.inflight) > 0) && !s.closed {
			s.idle.Wait()
		}
		s.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		s.idle.Broadcast() // the waiter looks again and stays until the queue empties or Close
		s.mu.Unlock()
		return ctx.Err()
	}
}

// Depth is the number of records waiting in the spool.
func (s *Spool) Depth() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) + len(s.inflight)
}

// RecordCall writes the record to the database, or spools it for replay:
// when the database is unavailable or too slow, and whenever records are
// already waiting (they go first). A nil error means the record is in the
// database or on disk. A record the database rejects (store.ErrInvalid,
// ErrNotFound, ErrConflict) is kept in the dead-letter directory and its
// error returned.
func (s *Spool) RecordCall(ctx context.Context, rec CallRecord) error {
	if err := rec.check(); err != nil {
		return err
	}
	s.mu.Lock()
	closed, waiting := s.closed, len(s.queue)+len(s.inflight) > 0
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if !waiting {
		actx, cancel := context.WithTimeout(ctx, s.opt.attemptTimeout)
		began := time.Now()
		err := s.apply(actx, &rec)
		s.m.write.Observe(time.Since(began).Seconds())
		cancel()
		switch {
		case err == nil:
			s.m.direct.Inc()
			if s.opt.applied != nil {
				s.opt.applied(ctx, rec)
			}
			return nil
		case permanent(err):
			path, derr := s.deadLetterRecord(&rec, err)
			if derr != nil {
				return fmt.Errorf("spool: record of call %s rejected (%w), and not kept: %w", rec.Call.ID, err, derr)
			}
			return fmt.Errorf("spool: record of call %s rejected, kept in %s: %w", rec.Call.ID, path, err)
		}
		// Unavailable, timed out, or unknown: the replayer retries it.
	}
	return s.spool(&rec)
}

// spool numbers the record and writes it to disk, durably, then wakes the
// replayer.
func (s *Spool) spool(rec *CallRecord) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	seq := s.seq
	s.seq++
	s.inflight[seq] = struct{}{}
	s.mu.Unlock()

	err := writeRecord(s.dir, seq, rec)

	s.mu.Lock()
	delete(s.inflight, seq)
	if err == nil {
		i, _ := slices.BinarySearch(s.queue, seq)
		s.queue = slices.Insert(s.queue, i, seq)
		s.m.depth.Set(float64(len(s.queue)))
	}
	s.mu.Unlock()
	s.signal() // a record waiting on this one's number may go now
	if err != nil {
		return fmt.Errorf("spool: record of call %s: %w", rec.Call.ID, err)
	}
	s.m.spooled.Inc()
	return nil
}

func (s *Spool) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// apply writes the record: the customer, the call, its end. Each step is
// idempotent, so a record applied in part before a failure is applied again
// whole.
func (s *Spool) apply(ctx context.Context, rec *CallRecord) error {
	call := rec.Call
	if call.Status == store.CallEnded {
		// FinishCall leaves an ended call unchanged: it must do the ending,
		// with the turns and the customer's statistics.
		call.Status, call.EndedAt, call.Duration = store.CallActive, nil, 0
	}
	if rec.Customer != nil && call.CustomerID == "" {
		id, err := s.ensureCustomer(ctx, *rec.Customer)
		if err != nil {
			return err
		}
		call.CustomerID = id
	}
	if _, err := s.next.CreateCall(ctx, call); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("create call: %w", err)
		}
		// The call exists (created when it started): link the customer
		// found now, so FinishCall counts the call on them.
		if err := s.linkCustomer(ctx, call); err != nil {
			return err
		}
	}
	if _, err := s.next.FinishCall(ctx, rec.End); err != nil {
		return fmt.Errorf("finish call: %w", err)
	}
	return nil
}

func (s *Spool) ensureCustomer(ctx context.Context, c store.Customer) (store.CustomerID, error) {
	found, err := s.next.CustomerByPhone(ctx, c.OrgID, c.Phone)
	if err == nil {
		return found.ID, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("find customer: %w", err)
	}
	created, err := s.next.CreateCustomer(ctx, c)
	if err == nil {
		return created.ID, nil
	}
	if !errors.Is(err, store.ErrConflict) {
		return "", fmt.Errorf("create customer: %w", err)
	}
	// Created meanwhile by another call of the same caller.
	found, err = s.next.CustomerByPhone(ctx, c.OrgID, c.Phone)
	if err != nil {
		return "", fmt.Errorf("find customer: %w", err)
	}
	return found.ID, nil
}

func (s *Spool) linkCustomer(ctx context.Context, call store.Call) error {
	if call.CustomerID == "" {
		return nil
	}
	d, err := s.next.GetCall(ctx, call.OrgID, call.ID)
	if err != nil {
		return fmt.Errorf("get call: %w", err)
	}
	existing := d.Call
	if existing.CustomerID != "" || existing.Status == store.CallEnded {
		return nil
	}
	existing.CustomerID = call.CustomerID
	if _, err := s.next.UpdateCall(ctx, existing); err != nil {
		return fmt.Errorf("update call: %w", err)
	}
	return nil
}

// permanent errors cannot go away by retrying the same record.
func permanent(err error) bool {
	return !transient(err) &&
		(errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) ||
			errors.Is(err, errCorrupt))
}

// transient errors are the database's unavailability or slowness.
func transient(err error) bool {
	return errors.Is(err, store.ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
