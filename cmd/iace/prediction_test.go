package main

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/iace/iace/ai/predict/trainer"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/spool"
)

// checkedOrgs is a trainer's store that records which organizations it
// was asked about and has no model nor labelled calls.
type checkedOrgs struct {
	mu   sync.Mutex
	orgs []store.OrgID
}

func (c *checkedOrgs) LatestPredictionModel(_ context.Context, org store.OrgID) (store.PredictionModel, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.orgs = append(c.orgs, org)
	return store.PredictionModel{}, store.ErrNotFound
}

func (c *checkedOrgs) SavePredictionModel(context.Context, store.PredictionModel) (store.PredictionModel, error) {
	return store.PredictionModel{}, store.ErrUnavailable
}

func (c *checkedOrgs) LabelledCalls(context.Context, store.OrgID, store.LabelledQuery) ([]store.LabelledCall, error) {
	return nil, nil
}

func TestEveryLabelledRecordReachesTheTrainerAfterLearning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &checkedOrgs{}
		tr, err := trainer.New(t.Context(), trainer.Config{}, st, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		var learned []store.CallID
		learn := func(_ context.Context, rec spool.CallRecord) { learned = append(learned, rec.Call.ID) }
		applied := both(learn, trainAfter(tr))

		predicted := &store.CallPrediction{Resolution: 0.7, EscalationRisk: 0.1, Features: []byte(`{}`)}
		for _, rec := range []spool.CallRecord{
			{Call: store.Call{ID: "unpredicted", OrgID: "org-a"}, End: store.CallEnd{Outcome: store.OutcomeResolved}},
			{Call: store.Call{ID: "no-outcome", OrgID: "org-b"}, End: store.CallEnd{Prediction: predicted}},
			{Call: store.Call{ID: "labelled", OrgID: "org-c"}, End: store.CallEnd{Outcome: store.OutcomeResolved, Prediction: predicted}},
		} {
			applied(t.Context(), rec)
		}
		synctest.Wait()
		if want := []store.CallID{"unpredicted", "no-outcome", "labelled"}; !slices.Equal(learned, want) {
			t.Errorf("learned from %v, want every record: %v", learned, want)
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if !slices.Equal(st.orgs, []store.OrgID{"org-c"}) {
			t.Errorf("the trainer checked %v, want only the organization of the labelled call", st.orgs)
		}
	})
}
