package trainer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/iace/iace/ai/predict"
	"github.com/iace/iace/ai/predict/trainer"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
	"github.com/iace/iace/store/postgres"
	"github.com/iace/iace/store/storetest"
)

// TestMain checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The store backends have what a Trainer uses.
var _ trainer.Store = store.Store(nil)

// testStore is a Trainer's store as a test sees it: it also lists the
// saved versions.
type testStore interface {
	trainer.Store
	ListPredictionModels(ctx context.Context, org store.OrgID) ([]store.PredictionModel, error)
}

// world is an organization in a store, and a way to give it finished
// calls as the spool writes them.
type world struct {
	st  testStore
	org store.OrgID
	add func(t *testing.T, calls []labelled)
}

// labelled is a finished call to store: its id, end, outcome and the
// features it ended with (raw, to store unreadable ones too).
type labelled struct {
	id       store.CallID
	endedAt  time.Time
	outcome  store.Outcome
	features json.RawMessage
}

// backends open a fresh store with one organization, inside the test's
// bubble (their pools' goroutines must start and stop in it).
var backends = []struct {
	name string
	open func(t *testing.T) world
}{
	{"embedded", func(t *testing.T) world {
		s, err := embedded.Open(t.Context(), embedded.Config{Path: filepath.Join(t.TempDir(), "iace.db"), Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return realWorld(t, s)
	}},
	{"postgres", func(t *testing.T) world {
		s, err := postgres.Open(t.Context(), postgres.Config{URL: storetest.PostgresURL(), Schema: storetest.FreshSchema(t),
			Migrate: true, MaxConns: 4})
		if err != nil {
			t.Fatalf("open %s: %v", storetest.PostgresURL(), err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return realWorld(t, s)
	}},
}

// realWorld seeds an organization with an agent in st; its calls are
// created and finished with their prediction, as the spool does.
func realWorld(t *testing.T, st store.Store) world {
	t.Helper()
	ctx := t.Context()
	o, err := st.CreateOrg(ctx, store.Organization{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	ag, err := st.CreateAgent(ctx, store.Agent{OrgID: o.ID, Name: "Front desk", Greeting: "Hello.", Fallback: "Sorry?"})
	if err != nil {
		t.Fatal(err)
	}
	add := func(t *testing.T, calls []labelled) {
		t.Helper()
		for _, c := range calls {
			_, err := st.CreateCall(ctx, store.Call{ID: c.id, OrgID: o.ID, AgentID: ag.ID, Direction: "incoming",
				From: "+15551110001", To: "+15550000001", Status: store.CallActive, StartedAt: c.endedAt.Add(-time.Minute)})
			if err != nil {
				t.Fatalf("create call %s: %v", c.id, err)
			}
			_, err = st.FinishCall(ctx, store.CallEnd{OrgID: o.ID, CallID: c.id, EndedAt: c.endedAt, Outcome: c.outcome,
				EndReason: "hangup", Prediction: &store.CallPrediction{Resolution: 0.6, EscalationRisk: 0.1, Features: c.features}})
			if err != nil {
				t.Fatalf("finish call %s: %v", c.id, err)
			}
		}
	}
	return world{st: st, org: o.ID, add: add}
}

// calls turns generated examples into finished calls named prefix-N, the
// first ending at from and one every minute after.
func calls(t *testing.T, prefix string, ex []predict.Example, from time.Time) []labelled {
	t.Helper()
	out := make([]labelled, len(ex))
	for i, e := range ex {
		f, err := json.Marshal(e.Features)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = labelled{id: store.CallID(fmt.Sprintf("%s-%04d", prefix, i)), endedAt: from.Add(time.Duration(i) * time.Minute),
			outcome: store.OutcomeAbandoned, features: f}
		switch {
		case e.Resolved:
			out[i].outcome = store.OutcomeResolved
		case e.Escalated:
			out[i].outcome = store.OutcomeEscalated
		}
	}
	return out
}

// clock is the Trainer's injected time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer is a log destination the Trainer's goroutines write while a
// test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// counter reads a counter of reg, with its label value when it has one.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
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
			if label == "" || slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetValue() == label }) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// version is the organization's latest stored version, 0 for none.
func version(t *testing.T, w world) int {
	t.Helper()
	m, err := w.st.LatestPredictionModel(t.Context(), w.org)
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return m.Version
}

// trained is a valid model of generated calls, as another node would store.
func trained(t *testing.T, seed uint64) json.RawMessage {
	t.Helper()
	m, err := predict.Train(predict.Generate(seed, 400), predict.TrainConfig{Version: 1, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
