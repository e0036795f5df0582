package trainer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/iace/iace/ai/predict"
	"github.com/iace/iace/store"
)

// gatedStore is a store whose reads wait at a gate the test opens, and
// that fails while fail is set: what the Trainer does when the store is
// slow or down.
type gatedStore struct {
	gate chan struct{} // closed: reads go through
	mu   sync.Mutex
	fail error
	// latest counts LatestPredictionModel calls, labelled LabelledCalls.
	latest, labelled int
	models           []store.PredictionModel
}

func newGatedStore() *gatedStore { return &gatedStore{gate: make(chan struct{})} }

func (g *gatedStore) wait(ctx context.Context) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fail
}

func (g *gatedStore) LatestPredictionModel(ctx context.Context, _ store.OrgID) (store.PredictionModel, error) {
	g.mu.Lock()
	g.latest++
	g.mu.Unlock()
	if err := g.wait(ctx); err != nil {
		return store.PredictionModel{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.models) == 0 {
		return store.PredictionModel{}, store.ErrNotFound
	}
	return g.models[len(g.models)-1], nil
}

func (g *gatedStore) SavePredictionModel(ctx context.Context, m store.PredictionModel) (store.PredictionModel, error) {
	if err := g.wait(ctx); err != nil {
		return store.PredictionModel{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m.Version = len(g.models) + 1
	g.models = append(g.models, m)
	return m, nil
}

func (g *gatedStore) LabelledCalls(ctx context.Context, _ store.OrgID, _ store.LabelledQuery) ([]store.LabelledCall, error) {
	g.mu.Lock()
	g.labelled++
	g.mu.Unlock()
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	return nil, nil
}

func (g *gatedStore) ListPredictionModels(context.Context, store.OrgID) ([]store.PredictionModel, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]store.PredictionModel(nil), g.models...), nil
}

func (g *gatedStore) counts() (latest, labelled int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.latest, g.labelled
}

func TestPredictorNeverWaitsAndReadsOnceAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newGatedStore()
		clk := newClock()
		tr, reg, _ := start(t, st, clk)
		var m predict.Model
		if err := json.Unmarshal(trained(t, 9), &m); err != nil {
			t.Fatal(err)
		}
		st.models = []store.PredictionModel{{OrgID: "acme", Version: 4, Model: trained(t, 9)}}
		for range 100 { // the store does not answer: every ask returns at once
			if got := tr.Predictor("acme"); got != nil {
				t.Fatalf("Predictor gave version %d before the read", got.Version)
			}
		}
		synctest.Wait()
		if latest, _ := st.counts(); latest != 1 {
			t.Fatalf("%d reads of one organization's model at once, want 1", latest)
		}
		close(st.gate)
		synctest.Wait()
		got := tr.Predictor("acme")
		if got == nil || got.Version != 4 {
			t.Fatalf("after the read: %v, want the stored version 4", got)
		}
		if got.Resolution != m.Resolution {
			t.Error("the served model is not the stored one")
		}
		if n := counter(t, reg, "iace_predict_model_loads_total", "loaded"); n != 1 {
			t.Errorf("loads %v, want 1", n)
		}
	})
}

func TestAFailedReadIsRetriedAndTheCachedModelKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newGatedStore()
		close(st.gate)
		st.models = []store.PredictionModel{{OrgID: "acme", Version: 1, Model: trained(t, 9)}}
		clk := newClock()
		tr, reg, _ := start(t, st, clk)
		tr.Predictor("acme")
		synctest.Wait()
		st.mu.Lock()
		st.fail = store.ErrUnavailable
		st.mu.Unlock()
		clk.Advance(10 * time.Minute)
		tr.Predictor("acme")
		synctest.Wait()
		if m := tr.Predictor("acme"); m == nil || m.Version != 1 {
			t.Fatalf("a failed refresh dropped the cached model: %v", m)
		}
		if n := counter(t, reg, "iace_predict_model_loads_total", "failed"); n != 1 {
			t.Errorf("failed loads %v, want 1", n)
		}
		// Retried after LoadRetry, not at every ask.
		tr.Predictor("acme")
		synctest.Wait()
		if latest, _ := st.counts(); latest != 2 {
			t.Errorf("%d reads, want 2: a failed read is retried after a delay", latest)
		}
		clk.Advance(time.Minute)
		tr.Predictor("acme")
		synctest.Wait()
		if latest, _ := st.counts(); latest != 3 {
			t.Errorf("%d reads, want 3 after the retry delay", latest)
		}
	})
}

func TestAppliedNeverWaitsAndBoundsThePendingChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newGatedStore() // the worker's first check hangs on the gate
		clk := newClock()
		tr, reg, _ := start(t, st, clk)
		for range 100 {
			tr.Applied("org-1") // checked (and stuck); the others are counted
		}
		synctest.Wait()
		for i := range 2000 {
			tr.Applied(store.OrgID(fmt.Sprintf("org-x%d", i)))
		}
		if n := counter(t, reg, "iace_predict_dropped_checks_total", ""); n != 2000-1024 {
			t.Errorf("dropped %v, want %d beyond the 1,024 pending", n, 2000-1024)
		}
		if latest, _ := st.counts(); latest != 1 {
			t.Errorf("%d checks started while the first hangs, want 1", latest)
		}
		tr.Close() // abandons the stuck check
		tr.Close()
		tr.Applied("org-1")
		tr.Predictor("org-1")
	})
}

func TestAFailedCheckIsCountedAndTriedAgainLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newGatedStore()
		close(st.gate)
		st.fail = store.ErrUnavailable
		clk := newClock()
		tr, reg, logs := start(t, st, clk)
		tr.Applied("acme")
		synctest.Wait()
		if n := counter(t, reg, "iace_predict_trainings_total", "failed"); n != 1 {
			t.Fatalf("failed checks %v, want 1", n)
		}
		if logs.String() == "" {
			t.Error("the failure is not logged")
		}
		for range 49 { // not at every call while the store is down
			tr.Applied("acme")
		}
		synctest.Wait()
		if n := counter(t, reg, "iace_predict_trainings_total", "failed"); n != 1 {
			t.Fatalf("failed checks %v after 49 more calls, want still 1", n)
		}
		clk.Advance(5 * time.Minute)
		tr.Applied("acme")
		synctest.Wait()
		if n := counter(t, reg, "iace_predict_trainings_total", "failed"); n != 2 {
			t.Fatalf("failed checks %v five minutes later, want 2", n)
		}
	})
}
