package spool_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/spool"
)

// TestEnqueuedRecordsAreAppliedOffTheCallersPath: Enqueue only writes the
// record to disk; the replayer prepares it (here, scores a turn), applies
// it and hands it on. A spool closed before its records were applied
// applies them at the next Open, and the hand-on runs again there.
func TestEnqueuedRecordsAreAppliedOffTheCallersPath(t *testing.T) {
	ctx := t.Context()
	l := newLite(ctx, t)
	dir := t.TempDir()
	var mu sync.Mutex
	var handed []store.CallID
	prepare := spool.WithPrepare(func(_ context.Context, rec *spool.CallRecord) {
		v := -0.5
		rec.End.Turns[1].Sentiment = &v
	})
	applied := spool.WithApplied(func(_ context.Context, rec spool.CallRecord) {
		mu.Lock()
		defer mu.Unlock()
		handed = append(handed, rec.Call.ID)
	})

	// A store that answers slowly holds up only the replayer.
	slow := &slowStore{Store: l.db, gate: make(chan struct{})}
	sp := open(t, dir, slow, prometheus.NewRegistry(), prepare, applied)
	var recs []spool.CallRecord
	for i := 1; i <= 3; i++ {
		r := record(l.org, l.agent, i, store.PhoneNumber(fmt.Sprintf("+1555444000%d", i)))
		done := make(chan error, 1)
		go func() { done <- sp.Enqueue(r) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Enqueue waited for the database")
		}
		recs = append(recs, r)
	}
	close(slow.gate)
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sp.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		d, err := l.db.GetCall(ctx, l.org, r.Call.ID)
		if err != nil || d.Call.Status != store.CallEnded {
			t.Fatalf("call %s: %+v, %v", r.Call.ID, d.Call, err)
		}
		if s := d.Turns[1].Sentiment; s == nil || *s != -0.5 {
			t.Errorf("call %s: the prepared score is not in the store: %v", r.Call.ID, s)
		}
	}
	mu.Lock()
	if !slices.Equal(handed, ids(recs)) {
		t.Errorf("handed on %v, want %v in order", handed, ids(recs))
	}
	handed = nil
	mu.Unlock()

	// Closed with a record not yet applied: the next Open applies it, and
	// hands it on then.
	sp2dir := t.TempDir()
	blocked := &slowStore{Store: l.db, gate: make(chan struct{})}
	sp2, err := spool.Open(sp2dir, blocked, testLogger(t), prometheus.NewRegistry(), applied)
	if err != nil {
		t.Fatal(err)
	}
	late := record(l.org, l.agent, 9, "+15554440009")
	if err := sp2.Enqueue(late); err != nil {
		t.Fatal(err)
	}
	_ = sp2.Close() // the replayer gives up on the blocked attempt
	close(blocked.gate)
	sp3 := open(t, sp2dir, l.db, prometheus.NewRegistry(), applied)
	if err := sp3.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(handed, []store.CallID{late.Call.ID}) {
		t.Errorf("after the restart handed on %v, want %v", handed, late.Call.ID)
	}
}

// slowStore holds every CreateCall until gate is closed or the caller gives up.
type slowStore struct {
	store.Store
	gate chan struct{}
}

func (s *slowStore) CreateCall(ctx context.Context, c store.Call) (store.Call, error) {
	select {
	case <-s.gate:
	case <-ctx.Done():
		return store.Call{}, fmt.Errorf("%w: %w", store.ErrUnavailable, ctx.Err())
	}
	return s.Store.CreateCall(ctx, c)
}

// TestAHeldRecordOutlivesARestart: what a record feeds after it is applied
// (learning from the call) holds it. Held and not done when the spool
// closes, it is handed on again at the next Open; done, it is not.
func TestAHeldRecordOutlivesARestart(t *testing.T) {
	ctx := t.Context()
	l := newLite(ctx, t)
	dir := t.TempDir()
	handed := make(chan spool.CallRecord, 4)
	var dones []func()
	applied := spool.WithApplied(func(_ context.Context, rec spool.CallRecord) {
		dones = append(dones, rec.Hold()) // the replayer's goroutine only
		handed <- rec
	})
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	sp := open(t, dir, l.db, prometheus.NewRegistry(), applied)
	first, second := record(l.org, l.agent, 1, "+15554440001"), record(l.org, l.agent, 2, "+15554440002")
	for _, r := range []spool.CallRecord{first, second} {
		if err := sp.Enqueue(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	<-handed
	<-handed
	dones[0]()
	dones[0]() // done twice is harmless
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}

	// The second was held and never done: the next Open hands it on again.
	dones = nil
	sp2 := open(t, dir, l.db, prometheus.NewRegistry(), applied)
	if err := sp2.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	select {
	case rec := <-handed:
		if rec.Call.ID != second.Call.ID {
			t.Fatalf("after the restart handed on %s, want the held %s", rec.Call.ID, second.Call.ID)
		}
	default:
		t.Fatal("the held record was not handed on again after the restart")
	}
	dones[0]()
	if err := sp2.Close(); err != nil {
		t.Fatal(err)
	}
	sp3 := open(t, dir, l.db, prometheus.NewRegistry(), applied)
	if err := sp3.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if len(handed) != 0 {
		t.Errorf("a record done with was handed on again: %s", (<-handed).Call.ID)
	}
}
