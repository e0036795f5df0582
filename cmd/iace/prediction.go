package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai/predict/trainer"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/spool"
)

// The trainer serves each organization's prediction model to the sessions.
var _ session.Predictors = (*trainer.Trainer)(nil)

// newPredictors starts the trainer of the organizations' outcome prediction
// models over the store, with its defaults (a model is read again every 5
// minutes, so that one trained on another node is served here too). Its
// goroutines outlive the serving context: shutdown closes it once the spool
// hands it no more calls.
func newPredictors(ctx context.Context, st *stores, log *slog.Logger, reg prometheus.Registerer) (*trainer.Trainer, error) {
	return trainer.New(context.WithoutCancel(ctx), trainer.Config{}, st.cached, log, reg)
}

// trainAfter tells the trainer of every call record in the database that
// it can learn from: one with an outcome and the prediction it ended with.
// It never waits.
func trainAfter(t *trainer.Trainer) func(context.Context, spool.CallRecord) {
	return func(_ context.Context, rec spool.CallRecord) {
		if rec.End.Prediction != nil && rec.End.Outcome != store.OutcomeNone {
			t.Applied(rec.Call.OrgID)
		}
	}
}

// both is the spool's hand-on of a record to first, then second.
func both(first, second func(context.Context, spool.CallRecord)) func(context.Context, spool.CallRecord) {
	return func(ctx context.Context, rec spool.CallRecord) {
		first(ctx, rec)
		second(ctx, rec)
	}
}
