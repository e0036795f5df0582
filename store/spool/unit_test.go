package spool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/spool"
)

// fake is an in-memory spool.Store whose FinishCall can be made to fail.
type fake struct {
	mu        sync.Mutex
	fail      error // returned by every call while set
	lostAcks  int   // FinishCalls that commit, then report ErrUnavailable
	customers map[store.PhoneNumber]store.Customer
	calls     map[store.CallID]store.Call
	finished  []store.CallID
}

func newFake() *fake {
	return &fake{customers: map[store.PhoneNumber]store.Customer{}, calls: map[store.CallID]store.Call{}}
}

func (f *fake) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fake) CustomerByPhone(_ context.Context, _ store.OrgID, phone store.PhoneNumber) (store.Customer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Customer{}, f.fail
	}
	c, ok := f.customers[phone]
	if !ok {
		return store.Customer{}, store.ErrNotFound
	}
	return c, nil
}

func (f *fake) CreateCustomer(_ context.Context, c store.Customer) (store.Customer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Customer{}, f.fail
	}
	if _, ok := f.customers[c.Phone]; ok {
		return store.Customer{}, store.ErrConflict
	}
	c.ID = store.CustomerID("cust-" + string(c.Phone))
	f.customers[c.Phone] = c
	return c, nil
}

func (f *fake) CreateCall(_ context.Context, c store.Call) (store.Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Call{}, f.fail
	}
	if _, ok := f.calls[c.ID]; ok {
		return store.Call{}, store.ErrConflict
	}
	f.calls[c.ID] = c
	return c, nil
}

func (f *fake) GetCall(_ context.Context, _ store.OrgID, id store.CallID) (store.CallDetail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.calls[id]
	if !ok {
		return store.CallDetail{}, store.ErrNotFound
	}
	return store.CallDetail{CallListItem: store.CallListItem{Call: c}}, nil
}

func (f *fake) UpdateCall(_ context.Context, c store.Call) (store.Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[c.ID] = c
	return c, nil
}

func (f *fake) FinishCall(_ context.Context, end store.CallEnd) (store.Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Call{}, f.fail
	}
	c, ok := f.calls[end.CallID]
	if !ok {
		return store.Call{}, store.ErrNotFound
	}
	if c.Status != store.CallEnded {
		c.Status = store.CallEnded
		f.calls[c.ID] = c
		f.finished = append(f.finished, c.ID)
	}
	if f.lostAcks > 0 {
		f.lostAcks--
		return store.Call{}, fmt.Errorf("commit acknowledgement lost: %w", store.ErrUnavailable)
	}
	return c, nil
}

func (f *fake) done() []store.CallID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.finished)
}

func TestCorruptFilesAreDeadLettered(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	// A good record, spooled by a first spool while the store is down.
	f := newFake()
	f.setFail(store.ErrUnavailable)
	first := open(t, dir, f, nil)
	good := record("org", "agent", 7, "+15550007777")
	if err := first.RecordCall(ctx, good); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	names := files(t, dir)
	if len(names) != 1 {
		t.Fatalf("spool holds %v, want one record", names)
	}
	data, err := os.ReadFile(filepath.Join(dir, names[0]))
	if err != nil {
		t.Fatal(err)
	}

	// Then damage of every kind around it.
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("00000000000000000001.rec", "{not json")
	write("00000000000000000002.rec", string(data[:len(data)/2]))                               // truncated
	write("00000000000000000003.rec", strings.Replace(string(data), "Question", "Qvestion", 1)) // bit rot: checksum
	write("00000000000000000004.rec", strings.Replace(string(data), `"v":1`, `"v":99`, 1))      // a future version
	write("00000000000000000005.rec.tmp", string(data[:10]))                                    // an unfinished write
	write("notes.txt", "not a record")                                                          // not ours
	write(strings.Replace(names[0], ".rec", ".rec.tmp", 1)+"x", "odd")                          // not ours either

	f.setFail(nil)
	reg := prometheus.NewRegistry()
	sp := open(t, dir, f, reg)
	waitFor(t, "the spool to drain", func() bool { return sp.Depth() == 0 })
	if got := f.done(); !slices.Equal(got, []store.CallID{good.Call.ID}) {
		t.Fatalf("applied %v, want only the good record", got)
	}
	if got := metric(t, reg, "iace_spool_dead_lettered_total"); got != 7 {
		t.Errorf("dead-lettered = %v, want 7", got)
	}
	if left := files(t, dir); len(left) != 0 {
		t.Errorf("left in the spool: %v", left)
	}
	dead := files(t, filepath.Join(dir, "dead"))
	notes := 0
	for _, n := range dead {
		if strings.HasSuffix(n, ".error") {
			notes++
		}
	}
	if len(dead) != 14 || notes != 7 {
		t.Errorf("dead letters %v: want 7 files with 7 notes", dead)
	}
}

func TestWaitingRecordsKeepTheirOrder(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := newFake()
	f.setFail(store.ErrUnavailable)
	// A back-off of an hour: the replayer waits, the store comes back, and
	// a new record must still queue behind the waiting one.
	reg := prometheus.NewRegistry()
	sp := open(t, dir, f, reg, spool.WithBackoff(time.Hour, time.Hour))
	r1 := record("org", "agent", 1, "+15550000001")
	if err := sp.RecordCall(ctx, r1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replayer to fail once", func() bool {
		return metric(t, reg, "iace_spool_replay_failures_total") == 1
	})
	f.setFail(nil)
	r2 := record("org", "agent", 2, "+15550000001")
	if err := sp.RecordCall(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if got := f.done(); len(got) != 0 || sp.Depth() != 2 {
		t.Fatalf("applied %v with depth %d; want nothing applied and both waiting", got, sp.Depth())
	}
	if err := sp.Close(); err != nil { // stops the replayer mid-back-off
		t.Fatal(err)
	}
	again := open(t, dir, f, nil)
	waitFor(t, "the spool to drain", func() bool { return again.Depth() == 0 })
	if got := f.done(); !slices.Equal(got, []store.CallID{r1.Call.ID, r2.Call.ID}) {
		t.Fatalf("applied %v, want r1 then r2", got)
	}
}

func TestUnknownErrorsAreRetriedThenDeadLettered(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := newFake()
	f.setFail(errors.New("something odd"))
	reg := prometheus.NewRegistry()
	sp := open(t, dir, f, reg, spool.WithMaxAttempts(3), spool.WithBackoff(time.Millisecond, time.Millisecond))
	if err := sp.RecordCall(ctx, record("org", "agent", 1, "+15550000001")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the record to be dead-lettered", func() bool { return sp.Depth() == 0 })
	if got := metric(t, reg, "iace_spool_replay_failures_total"); got != 2 {
		t.Errorf("replay failures = %v, want 2 (the third attempt dead-letters)", got)
	}
	if got := metric(t, reg, "iace_spool_dead_lettered_total"); got != 1 {
		t.Errorf("dead-lettered = %v, want 1", got)
	}
}

func TestCustomerIsLinkedToAnExistingCall(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	r := record("org", "agent", 1, "+15550000009")
	// The call was created when it started, before the caller was known.
	started := r.Call
	started.Status = store.CallRinging
	if _, err := f.CreateCall(ctx, started); err != nil {
		t.Fatal(err)
	}
	sp := open(t, t.TempDir(), f, nil)
	r.Call.Status = store.CallEnded // as a session might send it
	if err := sp.RecordCall(ctx, r); err != nil {
		t.Fatal(err)
	}
	d, err := f.GetCall(ctx, "org", r.Call.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Call.CustomerID == "" || d.Call.Status != store.CallEnded {
		t.Fatalf("call %+v: want it ended and linked to the caller", d.Call)
	}
	if got := f.done(); len(got) != 1 {
		t.Fatalf("finished %v, want the call once", got)
	}
}

func TestManyConcurrentRecordsDuringAnOutage(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	f.setFail(fmt.Errorf("dial: %w", store.ErrUnavailable))
	sp := open(t, t.TempDir(), f, nil)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if err := sp.RecordCall(ctx, record("org", "agent", i, store.PhoneNumber(fmt.Sprintf("+1555000%04d", i%7)))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f.setFail(nil)
	waitFor(t, "the spool to drain", func() bool { return sp.Depth() == 0 })
	if got := f.done(); len(got) != 50 {
		t.Fatalf("applied %d records, want 50", len(got))
	}
}

func TestLostAcknowledgementIsReplayedOnce(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	f.lostAcks = 1 // the first FinishCall commits, and its answer is lost
	reg := prometheus.NewRegistry()
	sp := open(t, t.TempDir(), f, reg)
	r := record("org", "agent", 1, "+15550000010")
	if err := sp.RecordCall(ctx, r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the spool to drain", func() bool { return sp.Depth() == 0 })
	// The replay found the call created (conflict: done) and finished
	// (FinishCall leaves it unchanged): nothing was written twice.
	if got := f.done(); !slices.Equal(got, []store.CallID{r.Call.ID}) {
		t.Fatalf("finished %v, want the call once", got)
	}
	if len(f.customers) != 1 {
		t.Fatalf("%d customers, want 1", len(f.customers))
	}
	if got := metric(t, reg, "iace_spool_replayed_total"); got != 1 {
		t.Fatalf("replayed = %v, want 1", got)
	}
}
