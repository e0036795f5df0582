package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/iace/iace/ai/predict"
	"github.com/iace/iace/ai/predict/trainer"
	"github.com/iace/iace/store"
)

// predictionBody is a call's outcome prediction when it ended, without the
// features it was made from (they are the trainer's, not a reader's).
type predictionBody struct {
	Resolution     float64 `json:"resolution" doc:"Predicted probability that the call ends resolved, 0..1"`
	EscalationRisk float64 `json:"escalation_risk" doc:"Predicted probability that the call goes to a human, 0..1"`
	ModelVersion   int     `json:"model_version" doc:"The organization's model version that predicted (GET /predictions/models); 0 is the built-in prior"`
}

func predictionOut(p *store.CallPrediction) *predictionBody {
	if p == nil {
		return nil
	}
	return &predictionBody{Resolution: p.Resolution, EscalationRisk: p.EscalationRisk, ModelVersion: p.ModelVersion}
}

// predictionStatsBody says how well a bucket's predictions came true.
type predictionStatsBody struct {
	Predicted int     `json:"predicted" doc:"Ended calls with a prediction and an outcome"`
	Accuracy  float64 `json:"accuracy" doc:"Share of them whose prediction came true: resolved when the predicted resolution was at least 0.5, not resolved otherwise (0 when none)"`
	Brier     float64 `json:"brier" doc:"Mean squared error of the predicted resolution against the outcome (1 resolved, 0 not), 0..1, lower is better (0 when none)"`
}

// predictionModelBody is one version of the organization's model, without
// its weights.
type predictionModelBody struct {
	Version       int       `json:"version"`
	TrainedAt     time.Time `json:"trained_at"`
	Examples      int       `json:"examples" doc:"Labelled calls it was fitted on"`
	ResolutionAUC float64   `json:"resolution_auc" doc:"Area under the ROC curve of its resolution prediction on held-out calls, 0..1 (0.5 is chance; 0 when too few to measure)"`
	EscalationAUC float64   `json:"escalation_auc" doc:"The same for its escalation risk"`
}

type predictionModelsOutput struct {
	Body struct {
		Items []predictionModelBody `json:"items" doc:"Newest first; empty while the organization runs on the prior"`
	}
}

// predictionsDescription is how a reader of GET /predictions/models
// learns what the figures mean; the numbers are the ones the server runs
// with (ai/predict, its trainer's defaults, the store's cap).
var predictionsDescription = fmt.Sprintf("Every call is predicted after each turn: the probability that it ends resolved and that it goes to a human. "+
	"An organization runs on a built-in prior until it has enough labelled calls (ended, with an outcome and a prediction): %d, "+
	"with at least %d on each side of both labels (resolved or not, escalated or not), not counting the %.0f%% held out, chosen by call id, "+
	"to measure the AUCs listed here. A model is fitted on the newest labelled calls (up to %d), and again once %d have ended since, "+
	"or %.0f%% of the calls it was fitted on, whichever is fewer. The latest %d versions are kept; every node serves the newest within "+
	"%.0f minutes. Each call records the version that predicted it (prediction.model_version of GET /calls/{id}), and GET /analytics "+
	"shows per bucket how often the predictions came true (prediction).",
	predict.MinExamples, predict.MinClassExamples, 100*trainer.DefaultHoldOut, trainer.DefaultMaxExamples, trainer.DefaultNewCalls,
	100*trainer.DefaultGrowth, store.MaxPredictionModels, trainer.DefaultRefresh.Minutes())

func (a *API) predictionRoutes() {
	o := op("listPredictionModels", http.MethodGet, "/predictions/models", "The organization's outcome prediction models, newest first",
		"predictions", store.RoleSupervisor)
	o.Description = predictionsDescription
	huma.Register(a.huma, o, func(ctx context.Context, _ *struct{}) (*predictionModelsOutput, error) {
		models, err := a.deps.Store.ListPredictionModels(ctx, principal(ctx).OrgID)
		if err != nil {
			return nil, a.storeError(ctx, "prediction models", err)
		}
		out := &predictionModelsOutput{}
		out.Body.Items = make([]predictionModelBody, 0, len(models))
		for _, m := range models {
			out.Body.Items = append(out.Body.Items, predictionModelBody{Version: m.Version, TrainedAt: m.TrainedAt, Examples: m.Examples,
				ResolutionAUC: m.ResolutionAUC, EscalationAUC: m.EscalationAUC})
		}
		return out, nil
	})
}
