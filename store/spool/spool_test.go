package spool_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/postgres"
	"github.com/iace/iace/store/spool"
	"github.com/iace/iace/store/storetest"
)

var _ spool.Store = store.Store(nil)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testURL() string { return storetest.PostgresURL() }

func freshSchema(_ context.Context, t *testing.T) string { return storetest.FreshSchema(t) }

// pg is a test's database: one store connected directly (to seed and to
// check) and one through a proxy the test cuts (the one the spool writes to).
type pg struct {
	direct  *postgres.Store
	proxied *postgres.Store
	proxy   *storetest.Proxy
	org     store.OrgID
	agent   store.AgentID
}

func newPG(ctx context.Context, t *testing.T) *pg {
	t.Helper()
	schema := freshSchema(ctx, t)
	open := func(u string, migrate bool) *postgres.Store {
		s, err := postgres.Open(ctx, postgres.Config{URL: u, Schema: schema, Migrate: migrate, MaxConns: 4})
		if err != nil {
			t.Fatalf("open %s: %v", u, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	u, err := url.Parse(testURL())
	if err != nil {
		t.Fatal(err)
	}
	p := &pg{direct: open(testURL(), true)}
	p.proxy = storetest.NewProxy(t, u.Host)
	u.Host = p.proxy.Addr()
	p.proxied = open(u.String(), false)

	o, err := p.direct.CreateOrg(ctx, store.Organization{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.direct.CreateAgent(ctx, store.Agent{OrgID: o.ID, Name: "Front desk", Greeting: "Hello", Fallback: "Sorry?"})
	if err != nil {
		t.Fatal(err)
	}
	p.org, p.agent = o.ID, a.ID
	return p
}

// record is the end of call i, from phone, with two turns and the events
// of the call (at nanoseconds, in another zone: the store keeps them in UTC
// at microseconds).
func record(org store.OrgID, agent store.AgentID, i int, phone store.PhoneNumber) spool.CallRecord {
	start := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	id := store.CallID(fmt.Sprintf("call-%03d", i))
	cest := time.FixedZone("CEST", 2*3600)
	return spool.CallRecord{
		Call: store.Call{
			ID: id, OrgID: org, AgentID: agent, Direction: "incoming",
			From: phone, To: "+15550000001", Status: store.CallActive, StartedAt: start,
			CallControlID: fmt.Sprintf("v3:cc-%03d", i),
		},
		Customer: &store.Customer{Phone: phone, Name: "Caller " + string(phone)},
		End: store.CallEnd{
			EndedAt: start.Add(90 * time.Second), Outcome: store.OutcomeResolved, EndReason: "hangup",
			Turns: []store.Turn{
				{Seq: 1, Speaker: store.SpeakerAgent, Text: "Hello, how can I help?", StartedAt: start, EndedAt: start.Add(2 * time.Second)},
				{Seq: 2, Speaker: store.SpeakerCaller, Text: fmt.Sprintf("Question number %d", i), StartedAt: start.Add(3 * time.Second), EndedAt: start.Add(5 * time.Second)},
			},
			Events: []store.CallEvent{
				{At: start.Add(100 * time.Millisecond).In(cest), Kind: "greeting"},
				{At: start.Add(5*time.Second + 1234567).In(cest), Kind: "caller_turn"},
				{At: start.Add(6*time.Second + 1), Kind: "dtmf", Detail: strconv.Itoa(i % 10)},
				{At: start.Add(7 * time.Second), Kind: "holding_phrase", Detail: "chat model"},
			},
			Summary: fmt.Sprintf("Handed over: question number %d; calm.", i),
			Prediction: &store.CallPrediction{Resolution: 0.75, EscalationRisk: 0.125, ModelVersion: i,
				Features: json.RawMessage(fmt.Sprintf(`{"turns":%d}`, i))},
		},
	}
}

// storedEvents are events as the store gives them back: in UTC at
// microseconds.
func storedEvents(evs []store.CallEvent) []store.CallEvent {
	out := make([]store.CallEvent, len(evs))
	for i, e := range evs {
		e.At = e.At.UTC().Truncate(time.Microsecond)
		out[i] = e
	}
	return out
}

// recorder notes the calls the store finished, in order.
type recorder struct {
	spool.Store
	mu       sync.Mutex
	finished []store.CallID
}

func (r *recorder) FinishCall(ctx context.Context, end store.CallEnd) (store.Call, error) {
	c, err := r.Store.FinishCall(ctx, end)
	if err == nil {
		r.mu.Lock()
		r.finished = append(r.finished, end.CallID)
		r.mu.Unlock()
	}
	return c, err
}

func (r *recorder) calls() []store.CallID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.finished)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// open opens a spool with short back-offs for tests.
func open(t *testing.T, dir string, next spool.Store, reg prometheus.Registerer, opts ...spool.Option) *spool.Spool {
	t.Helper()
	opts = append([]spool.Option{spool.WithAttemptTimeout(time.Second), spool.WithBackoff(20*time.Millisecond, 200*time.Millisecond)}, opts...)
	sp, err := spool.Open(dir, next, testLogger(t), reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	return sp
}

// metric reads a counter or gauge of reg; 0 when absent.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// files lists the names in dir (not its subdirectories).
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// checkInDatabase checks that every record is in the database whole: the
// call ended with its turns and events, linked to its caller, and each caller's call
// count equal to their records (nothing applied twice).
func checkInDatabase(ctx context.Context, t *testing.T, db store.Store, recs []spool.CallRecord) {
	t.Helper()
	perPhone := map[store.PhoneNumber]int{}
	for _, r := range recs {
		d, err := db.GetCall(ctx, r.Call.OrgID, r.Call.ID)
		if err != nil {
			t.Fatalf("call %s: %v", r.Call.ID, err)
		}
		if d.Call.Status != store.CallEnded || d.Call.Outcome != r.End.Outcome || len(d.Turns) != len(r.End.Turns) {
			t.Errorf("call %s: status %s, outcome %s, %d turns; want ended, %s, %d turns",
				r.Call.ID, d.Call.Status, d.Call.Outcome, len(d.Turns), r.End.Outcome, len(r.End.Turns))
		}
		if want := storedEvents(r.End.Events); !reflect.DeepEqual(d.Events, want) {
			t.Errorf("call %s: events\n got  %+v\n want %+v", r.Call.ID, d.Events, want)
		}
		if d.Call.Summary != r.End.Summary || !reflect.DeepEqual(d.Call.Prediction, r.End.Prediction) {
			t.Errorf("call %s: summary %q, prediction %+v; want %q, %+v", r.Call.ID, d.Call.Summary, d.Call.Prediction,
				r.End.Summary, r.End.Prediction)
		}
		if d.Customer == nil || d.Customer.Phone != r.Customer.Phone {
			t.Errorf("call %s: customer %+v, want the caller %s", r.Call.ID, d.Customer, r.Customer.Phone)
		}
		perPhone[r.Customer.Phone]++
	}
	for phone, n := range perPhone {
		c, err := db.CustomerByPhone(ctx, recs[0].Call.OrgID, phone)
		if err != nil {
			t.Fatal(err)
		}
		if c.CallCount != n {
			t.Errorf("customer %s: call count %d, want %d", phone, c.CallCount, n)
		}
	}
}

func ids(recs []spool.CallRecord) []store.CallID {
	out := make([]store.CallID, len(recs))
	for i, r := range recs {
		out[i] = r.Call.ID
	}
	return out
}

func TestDatabaseOutage(t *testing.T) {
	ctx := context.Background()
	db := newPG(ctx, t)
	rec := &recorder{Store: db.proxied}
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	sp := open(t, dir, rec, reg)
	phones := []store.PhoneNumber{"+15551110001", "+15551110002", "+15551110003"}

	// The database is up: the record goes straight in.
	first := record(db.org, db.agent, 0, phones[0])
	if err := sp.RecordCall(ctx, first); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, reg, "iace_spool_direct_total"); got != 1 {
		t.Fatalf("direct writes = %v, want 1", got)
	}

	// The database is cut: records are spooled, and RecordCall still
	// succeeds, quickly.
	db.proxy.Cut()
	var recs []spool.CallRecord
	var lat []time.Duration
	for i := 1; i <= 20; i++ {
		r := record(db.org, db.agent, i, phones[i%len(phones)])
		start := time.Now()
		if err := sp.RecordCall(ctx, r); err != nil {
			t.Fatalf("RecordCall %d with the database cut: %v", i, err)
		}
		lat = append(lat, time.Since(start))
		recs = append(recs, r)
	}
	// One record the database will reject when it is back: dead-lettered
	// on replay, without holding up the records behind it.
	bad := record(db.org, "", 21, phones[0])
	if err := sp.RecordCall(ctx, bad); err != nil {
		t.Fatal(err)
	}
	for i := 22; i <= 25; i++ {
		r := record(db.org, db.agent, i, phones[i%len(phones)])
		if err := sp.RecordCall(ctx, r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	t.Logf("RecordCall with the database cut: first %v, max of the rest %v", lat[0], slices.Max(lat[1:]))
	if got := sp.Depth(); got != 25 {
		t.Fatalf("depth = %d, want 25", got)
	}
	if got := len(files(t, dir)); got != 25 {
		t.Fatalf("%d files in the spool, want 25", got)
	}
	if got := metric(t, reg, "iace_spool_depth"); got != 25 {
		t.Fatalf("depth gauge = %v, want 25", got)
	}

	// Back: everything is replayed, in order, exactly once.
	db.proxy.Restore()
	waitFor(t, "the spool to drain", func() bool { return sp.Depth() == 0 })
	want := append([]store.CallID{first.Call.ID}, ids(recs)...)
	if got := rec.calls(); !slices.Equal(got, want) {
		t.Fatalf("finished in order %v, want %v", got, want)
	}
	checkInDatabase(ctx, t, db.direct, append([]spool.CallRecord{first}, recs...))
	if got := len(files(t, dir)); got != 0 {
		t.Errorf("%d files left in the spool, want 0", got)
	}
	if got := metric(t, reg, "iace_spool_replayed_total"); got != 25-1 {
		t.Errorf("replayed = %v, want 24", got)
	}
	if got := metric(t, reg, "iace_spool_dead_lettered_total"); got != 1 {
		t.Errorf("dead-lettered = %v, want 1", got)
	}
	dead := files(t, filepath.Join(dir, "dead"))
	if len(dead) != 2 || !strings.HasSuffix(dead[1], ".error") {
		t.Fatalf("dead letters %v, want the record and its .error note", dead)
	}
	note, err := os.ReadFile(filepath.Join(dir, "dead", dead[1]))
	if err != nil || !strings.Contains(string(note), "invalid") {
		t.Errorf("note %q, %v: want the database's reason", note, err)
	}

	// With the spool empty and the database up, writes are direct again.
	last := record(db.org, db.agent, 30, phones[1])
	if err := sp.RecordCall(ctx, last); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, reg, "iace_spool_direct_total"); got != 2 {
		t.Fatalf("direct writes = %v, want 2", got)
	}
}

func TestSlowDatabase(t *testing.T) {
	ctx := context.Background()
	db := newPG(ctx, t)
	reg := prometheus.NewRegistry()
	sp := open(t, t.TempDir(), db.proxied, reg, spool.WithAttemptTimeout(300*time.Millisecond))

	// A database that accepts connections and never answers: RecordCall
	// gives up after the attempt timeout and spools.
	db.proxy.Stall()
	r := record(db.org, db.agent, 1, "+15552220001")
	start := time.Now()
	if err := sp.RecordCall(ctx, r); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("RecordCall with the database stalled: %v (attempt timeout 300ms)", took)
	if took > 2*time.Second {
		t.Errorf("RecordCall took %v", took)
	}
	if sp.Depth() != 1 || metric(t, reg, "iace_spool_spooled_total") != 1 {
		t.Fatalf("depth %d, spooled %v; want 1 and 1", sp.Depth(), metric(t, reg, "iace_spool_spooled_total"))
	}
	db.proxy.Restore()
	waitFor(t, "the spool to drain", func() bool { return sp.Depth() == 0 })
	checkInDatabase(ctx, t, db.direct, []spool.CallRecord{r})
}

func TestRestartReplaysLeftovers(t *testing.T) {
	ctx := context.Background()
	db := newPG(ctx, t)
	dir := t.TempDir()
	rec := &recorder{Store: db.proxied}

	db.proxy.Cut()
	first := open(t, dir, rec, prometheus.NewRegistry())
	var recs []spool.CallRecord
	for i := 1; i <= 6; i++ {
		r := record(db.org, db.agent, i, store.PhoneNumber(fmt.Sprintf("+1555333000%d", i%2)))
		if err := first.RecordCall(ctx, r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := first.RecordCall(ctx, recs[0]); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("RecordCall after Close: %v, want ErrClosed", err)
	}
	names := files(t, dir)
	if len(names) != 6 {
		t.Fatalf("%d files left, want 6", len(names))
	}
	// The process died between syncing the last record and renaming it.
	last := filepath.Join(dir, names[5])
	if err := os.Rename(last, last+".tmp"); err != nil {
		t.Fatal(err)
	}

	db.proxy.Restore()
	reg := prometheus.NewRegistry()
	second := open(t, dir, rec, reg)
	waitFor(t, "the leftovers to be replayed", func() bool { return second.Depth() == 0 })
	if got := rec.calls(); !slices.Equal(got, ids(recs)) {
		t.Fatalf("finished in order %v, want %v", got, ids(recs))
	}
	checkInDatabase(ctx, t, db.direct, recs)
	if got := metric(t, reg, "iace_spool_replayed_total"); got != 6 {
		t.Errorf("replayed = %v, want 6", got)
	}
}

func TestRejectedRecordIsKeptAside(t *testing.T) {
	ctx := context.Background()
	db := newPG(ctx, t)
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	sp := open(t, dir, db.proxied, reg)

	bad := record(db.org, db.agent, 1, "+15554440001")
	bad.End.Turns[1].Seq = 0 // turns count from 1
	err := sp.RecordCall(ctx, bad)
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("RecordCall with a turn numbered 0: %v, want ErrInvalid", err)
	}
	if dead := files(t, filepath.Join(dir, "dead")); len(dead) != 2 {
		t.Fatalf("dead letters %v, want the record and its note", dead)
	}
	if sp.Depth() != 0 {
		t.Fatalf("depth %d, want 0: a rejected record is not retried", sp.Depth())
	}
	if err := sp.RecordCall(ctx, spool.CallRecord{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("RecordCall without a call id: %v, want ErrInvalid", err)
	}
}
