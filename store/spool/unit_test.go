package spool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
	"github.com/iace/iace/store/spool"
)

// lite is a test's embedded store (a SQLite file in the test's temporary
// directory), seeded with an organization and an agent.
type lite struct {
	db    *embedded.Store
	org   store.OrgID
	agent store.AgentID
}

func newLite(ctx context.Context, t *testing.T) *lite {
	t.Helper()
	db, err := embedded.Open(ctx, embedded.Config{Path: filepath.Join(t.TempDir(), "iace.db"), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close the embedded store: %v", err)
		}
	})
	o, err := db.CreateOrg(ctx, store.Organization{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.CreateAgent(ctx, store.Agent{OrgID: o.ID, Name: "Front desk", Greeting: "Hello", Fallback: "Sorry?"})
	if err != nil {
		t.Fatal(err)
	}
	return &lite{db: db, org: o.ID, agent: a.ID}
}

// calls lists every call of the organization, newest first.
func (l *lite) calls(ctx context.Context, t *testing.T) []store.CallListItem {
	t.Helper()
	items, next, err := l.db.ListCalls(ctx, l.org, store.CallFilter{}, store.Page{Limit: store.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	if next != "" {
		t.Fatalf("more than %d calls", store.MaxPageSize)
	}
	return items
}

// faulty is a real store that fails on demand: while down is set every
// method returns it without reaching the store (the database is
// unreachable, or answers with an error the spool does not know); and the
// next lostAcks FinishCalls commit, then report ErrUnavailable (the
// acknowledgement was lost on the way back).
type faulty struct {
	next spool.Store

	mu       sync.Mutex
	down     error
	lostAcks int
}

var _ spool.Store = (*faulty)(nil)

func (f *faulty) setDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = err
}

func (f *faulty) setLostAcks(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lostAcks = n
}

func (f *faulty) fault() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

// ackLost reports whether this committed FinishCall's answer is to be lost.
func (f *faulty) ackLost() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lostAcks == 0 {
		return false
	}
	f.lostAcks--
	return true
}

func (f *faulty) CustomerByPhone(ctx context.Context, org store.OrgID, phone store.PhoneNumber) (store.Customer, error) {
	if err := f.fault(); err != nil {
		return store.Customer{}, err
	}
	return f.next.CustomerByPhone(ctx, org, phone)
}

func (f *faulty) CreateCustomer(ctx context.Context, c store.Customer) (store.Customer, error) {
	if err := f.fault(); err != nil {
		return store.Customer{}, err
	}
	return f.next.CreateCustomer(ctx, c)
}

func (f *faulty) CreateCall(ctx context.Context, c store.Call) (store.Call, error) {
	if err := f.fault(); err != nil {
		return store.Call{}, err
	}
	return f.next.CreateCall(ctx, c)
}

func (f *faulty) GetCall(ctx context.Context, org store.OrgID, id store.CallID) (store.CallDetail, error) {
	if err := f.fault(); err != nil {
		return store.CallDetail{}, err
	}
	return f.next.GetCall(ctx, org, id)
}

func (f *faulty) UpdateCall(ctx context.Context, c store.Call) (store.Call, error) {
	if err := f.fault(); err != nil {
		return store.Call{}, err
	}
	return f.next.UpdateCall(ctx, c)
}

func (f *faulty) FinishCall(ctx context.Context, end store.CallEnd) (store.Call, error) {
	if err := f.fault(); err != nil {
		return store.Call{}, err
	}
	c, err := f.next.FinishCall(ctx, end)
	if err == nil && f.ackLost() {
		return store.Call{}, fmt.Errorf("commit acknowledgement lost: %w", store.ErrUnavailable)
	}
	return c, err
}

func TestCorruptFilesAreDeadLettered(t *testing.T) {
	ctx := context.Background()
	db := newLite(ctx, t)
	dir := t.TempDir()

	// Two good records, spooled by a first spool while the store is down:
	// the first stays, the second is the material of the damaged files, so
	// that any of them applied would show in the store as its call.
	f := &faulty{next: db.db}
	f.setDown(store.ErrUnavailable)
	first := open(t, dir, f, nil)
	good := record(db.org, db.agent, 7, "+15550007777")
	victim := record(db.org, db.agent, 8, "+15550008888")
	for _, r := range []spool.CallRecord{good, victim} {
		if err := first.RecordCall(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	names := files(t, dir)
	if len(names) != 2 {
		t.Fatalf("spool holds %v, want two records", names)
	}
	victimFile := filepath.Join(dir, names[1])
	data, err := os.ReadFile(victimFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), string(victim.Call.ID)) {
		t.Fatalf("%s is not the second record", names[1])
	}
	if err := os.Remove(victimFile); err != nil {
		t.Fatal(err)
	}

	// Then damage of every kind around the good one.
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("00000000000000000001.rec", "{not json")
	write("00000000000000000002.rec", string(data[:len(data)/2]))                               // truncated
	write("00000000000000000003.rec", strings.Replace(string(data), "Question", "Qvestion", 1)) // bit rot: checksum
	write("00000000000000000004.rec", strings.Replace(string(data), `"v":1`, `"v":99`, 1))      // a future version, checksum intact
	write("00000000000000000005.rec.tmp", string(data[:10]))                                    // an unfinished write
	write("notes.txt", "not a record")                                                          // not ours
	write(strings.Replace(names[0], ".rec", ".rec.tmp", 1)+"x", "odd")                          // not ours either

	f.setDown(nil)
	reg := prometheus.NewRegistry()
	sp := open(t, dir, f, reg)
	waitFor(t, "the spool to drain", func() bool { return sp.Depth() == 0 })
	got := db.calls(ctx, t)
	if len(got) != 1 || got[0].Call.ID != good.Call.ID {
		t.Fatalf("the store holds %v, want only the good record's call", callIDs(got))
	}
	checkInDatabase(ctx, t, db.db, []spool.CallRecord{good})
	if _, err := db.db.CustomerByPhone(ctx, db.org, victim.Customer.Phone); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the damaged record's caller: %v, want ErrNotFound", err)
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
	db := newLite(ctx, t)
	dir := t.TempDir()
	f := &faulty{next: db.db}
	f.setDown(store.ErrUnavailable)
	// A back-off of an hour: the replayer waits, the store comes back, and
	// a new record must still queue behind the waiting one.
	reg := prometheus.NewRegistry()
	sp := open(t, dir, f, reg, spool.WithBackoff(time.Hour, time.Hour))
	// The same caller twice, named differently by each call: the record
	// applied first creates the customer, so its name tells the order.
	r1 := record(db.org, db.agent, 1, "+15550000001")
	r1.Customer.Name = "Caller, first call"
	if err := sp.RecordCall(ctx, r1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replayer to fail once", func() bool {
		return metric(t, reg, "iace_spool_replay_failures_total") == 1
	})
	f.setDown(nil)
	r2 := record(db.org, db.agent, 2, "+15550000001")
	r2.Customer.Name = "Caller, second call"
	if err := sp.RecordCall(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if got := db.calls(ctx, t); len(got) != 0 || sp.Depth() != 2 {
		t.Fatalf("the store holds %v with depth %d; want nothing applied and both waiting", callIDs(got), sp.Depth())
	}
	if err := sp.Close(); err != nil { // stops the replayer mid-back-off
		t.Fatal(err)
	}
	again := open(t, dir, f, nil)
	waitFor(t, "the spool to drain", func() bool { return again.Depth() == 0 })
	checkInDatabase(ctx, t, db.db, []spool.CallRecord{r1, r2})
	c, err := db.db.CustomerByPhone(ctx, db.org, r1.Customer.Phone)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != r1.Customer.Name {
		t.Fatalf("the caller is named %q, want %q: r2 was applied before r1", c.Name, r1.Customer.Name)
	}
}

func TestUnknownErrorsAreRetriedThenDeadLettered(t *testing.T) {
	ctx := context.Background()
	db := newLite(ctx, t)
	dir := t.TempDir()
	f := &faulty{next: db.db}
	f.setDown(errors.New("something odd"))
	reg := prometheus.NewRegistry()
	sp := open(t, dir, f, reg, spool.WithMaxAttempts(3), spool.WithBackoff(time.Millisecond, time.Millisecond))
	r := record(db.org, db.agent, 1, "+15550000001")
	if err := sp.RecordCall(ctx, r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the record to be dead-lettered", func() bool { return sp.Depth() == 0 })
	if got := metric(t, reg, "iace_spool_replay_failures_total"); got != 2 {
		t.Errorf("replay failures = %v, want 2 (the third attempt dead-letters)", got)
	}
	if got := metric(t, reg, "iace_spool_dead_lettered_total"); got != 1 {
		t.Errorf("dead-lettered = %v, want 1", got)
	}
	if dead := files(t, filepath.Join(dir, "dead")); len(dead) != 2 {
		t.Errorf("dead letters %v, want the record and its note", dead)
	}
	if _, err := db.db.GetCall(ctx, db.org, r.Call.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the dead-lettered call: %v, want ErrNotFound", err)
	}
}

func TestCustomerIsLinkedToAnExistingCall(t *testing.T) {
	ctx := context.Background()
	db := newLite(ctx, t)
	r := record(db.org, db.agent, 1, "+15550000009")
	// The call was created when it started, before the caller was known.
	started := r.Call
	started.Status = store.CallRinging
	if _, err := db.db.CreateCall(ctx, started); err != nil {
		t.Fatal(err)
	}
	sp := open(t, t.TempDir(), db.db, nil)
	r.Call.Status = store.CallEnded // as a session might send it
	if err := sp.RecordCall(ctx, r); err != nil {
		t.Fatal(err)
	}
	d, err := db.db.GetCall(ctx, db.org, r.Call.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Call.CustomerID == "" || d.Call.Status != store.CallEnded {
		t.Fatalf("call %+v: want it ended and linked to the caller", d.Call)
	}
	// Linked before it was finished: the call counts once on its caller.
	checkInDatabase(ctx, t, db.db, []spool.CallRecord{r})
}

func TestManyConcurrentRecordsDuringAnOutage(t *testing.T) {
	ctx := context.Background()
	db := newLite(ctx, t)
	f := &faulty{next: db.db}
	f.setDown(fmt.Errorf("dial: %w", store.ErrUnavailable))
	sp := open(t, t.TempDir(), f, nil)
	recs := make([]spool.CallRecord, 50)
	for i := range recs {
		recs[i] = record(db.org, db.agent, i, store.PhoneNumber(fmt.Sprintf("+1555000%04d", i%7)))
	}
	var wg sync.WaitGroup
	for _, r := range recs {
		wg.Go(func() {
			if err := sp.RecordCall(ctx, r); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := db.calls(ctx, t); len(got) != 0 {
		t.Fatalf("the store holds %d calls during the outage, want 0", len(got))
	}
	f.setDown(nil)
	waitFor(t, "the spool to drain", func() bool { return sp.Depth() == 0 })
	if got := db.calls(ctx, t); len(got) != len(recs) {
		t.Fatalf("the store holds %d calls, want %d", len(got), len(recs))
	}
	checkInDatabase(ctx, t, db.db, recs)
}

func TestLostAcknowledgementIsReplayedOnce(t *testing.T) {
	ctx := context.Background()
	db := newLite(ctx, t)
	f := &faulty{next: db.db}
	f.setLostAcks(1) // the first FinishCall commits, and its answer is lost
	reg := prometheus.NewRegistry()
	sp := open(t, t.TempDir(), f, reg)
	r := record(db.org, db.agent, 1, "+15550000010")
	if err := sp.RecordCall(ctx, r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the spool to drain", func() bool { return sp.Depth() == 0 })
	// The replay found the customer, the call created (conflict: done) and
	// finished (FinishCall leaves it unchanged): nothing was written twice.
	if got := db.calls(ctx, t); len(got) != 1 {
		t.Fatalf("the store holds %v, want the call once", callIDs(got))
	}
	checkInDatabase(ctx, t, db.db, []spool.CallRecord{r}) // its turns once, counted once on its caller
	customers, _, err := db.db.SearchCustomers(ctx, db.org, "", store.Page{Limit: store.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	if len(customers) != 1 {
		t.Fatalf("%d customers, want 1", len(customers))
	}
	if got := metric(t, reg, "iace_spool_replayed_total"); got != 1 {
		t.Fatalf("replayed = %v, want 1", got)
	}
}

func callIDs(items []store.CallListItem) []store.CallID {
	out := make([]store.CallID, 0, len(items))
	for _, it := range items {
		out = append(out, it.Call.ID)
	}
	return out
}
