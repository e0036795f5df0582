package api_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

// predictedCall stores a finished call of o with a handoff summary (may be
// "") and a prediction (may be nil).
func (e *env) predictedCall(o *org, started time.Time, outcome store.Outcome, summary string, p *store.CallPrediction) store.Call {
	e.t.Helper()
	ctx := e.t.Context()
	c, err := e.st.CreateCall(ctx, store.Call{OrgID: o.id, AgentID: o.agent.ID, Direction: "incoming", From: o.customer.Phone,
		To: o.number, Status: store.CallActive, StartedAt: started})
	if err != nil {
		e.t.Fatal(err)
	}
	c, err = e.st.FinishCall(ctx, store.CallEnd{OrgID: o.id, CallID: c.ID, EndedAt: started.Add(2 * time.Minute), Outcome: outcome,
		EndReason: "hangup", Summary: summary, Prediction: p})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func TestCallsShowTheHandoffSummaryAndThePredictionButNotTheFeatures(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		started := time.Now().UTC().Add(-10 * time.Minute)
		const summary = "Handed over: the caller asked for a person. Issue: a double charge on the March invoice. Mood: frustrated."
		features := json.RawMessage(`{"sentiment_avg":-0.4,"fallbacks":2,"caller_turns":5}`)
		handed := e.predictedCall(e.a, started, store.OutcomeEscalated, summary,
			&store.CallPrediction{Resolution: 0.25, EscalationRisk: 0.75, ModelVersion: 3, Features: features})

		type callJSON struct {
			ID         string `json:"id"`
			Summary    string `json:"summary"`
			Prediction *struct {
				Resolution     float64 `json:"resolution"`
				EscalationRisk float64 `json:"escalation_risk"`
				ModelVersion   int     `json:"model_version"`
			} `json:"prediction"`
		}
		check := func(what string, c callJSON) {
			t.Helper()
			if c.Summary != summary {
				t.Errorf("%s: summary %q, want %q", what, c.Summary, summary)
			}
			if p := c.Prediction; p == nil || p.Resolution != 0.25 || p.EscalationRisk != 0.75 || p.ModelVersion != 3 {
				t.Errorf("%s: prediction %+v, want 0.25, 0.75, version 3", what, p)
			}
		}

		r := e.do(http.MethodGet, "/api/v1/calls/"+string(handed.ID), e.a.viewerTok, nil)
		if r.status != http.StatusOK {
			t.Fatalf("get: %d %s", r.status, r.body)
		}
		var got callJSON
		r.json(t, &got)
		check("GET /calls/{id}", got)
		if strings.Contains(string(r.body), "sentiment_avg") || strings.Contains(string(r.body), `"features"`) {
			t.Errorf("the call shows the prediction's features: %s", r.body)
		}

		r = e.do(http.MethodGet, "/api/v1/calls?limit=10", e.a.viewerTok, nil)
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		r.json(t, &list)
		found := false
		for _, raw := range list.Items {
			var c callJSON
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			if c.ID == string(handed.ID) {
				found = true
				check("GET /calls", c)
				continue
			}
			// The seeded call was neither handed over nor predicted: no keys.
			if strings.Contains(string(raw), `"summary"`) || strings.Contains(string(raw), `"prediction"`) {
				t.Errorf("a call without summary or prediction shows them: %s", raw)
			}
		}
		if !found || len(list.Items) != 2 {
			t.Fatalf("list: %s", r.body)
		}
	})
}

func TestAnalyticsSayHowWellPredictionsCameTrue(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		started := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour).Add(5 * time.Minute)
		f := json.RawMessage(`{"caller_turns":3}`)
		// Right (resolved, 0.8), right (escalated, 0.3), wrong (abandoned, 0.6).
		e.predictedCall(e.a, started, store.OutcomeResolved, "", &store.CallPrediction{Resolution: 0.8, EscalationRisk: 0.1, Features: f})
		e.predictedCall(e.a, started.Add(time.Minute), store.OutcomeEscalated, "", &store.CallPrediction{Resolution: 0.3, EscalationRisk: 0.6, Features: f})
		e.predictedCall(e.a, started.Add(2*time.Minute), store.OutcomeAbandoned, "", &store.CallPrediction{Resolution: 0.6, EscalationRisk: 0.2, Features: f})
		e.predictedCall(e.a, started.Add(3*time.Minute), store.OutcomeResolved, "", nil) // not predicted: not counted

		q := fmt.Sprintf("/api/v1/analytics?from=%s&to=%s&bucket=hour", started.Add(-5*time.Minute).Format(time.RFC3339),
			started.Add(55*time.Minute).Format(time.RFC3339))
		r := e.do(http.MethodGet, q, e.a.supTok, nil)
		if r.status != http.StatusOK {
			t.Fatalf("analytics: %d %s", r.status, r.body)
		}
		var out struct {
			Buckets []struct {
				Calls      int `json:"calls"`
				Prediction struct {
					Predicted int     `json:"predicted"`
					Accuracy  float64 `json:"accuracy"`
					Brier     float64 `json:"brier"`
				} `json:"prediction"`
			} `json:"buckets"`
		}
		r.json(t, &out)
		if len(out.Buckets) != 1 || out.Buckets[0].Calls != 4 {
			t.Fatalf("buckets: %s", r.body)
		}
		p := out.Buckets[0].Prediction
		brier := (0.2*0.2 + 0.3*0.3 + 0.6*0.6) / 3
		if p.Predicted != 3 || math.Abs(p.Accuracy-2.0/3) > 1e-9 || math.Abs(p.Brier-brier) > 1e-9 {
			t.Fatalf("prediction %+v, want 3 predicted, accuracy 2/3, Brier %.4f", p, brier)
		}
	})
}

func TestPredictionModelsAreListedNewestFirstWithoutWeights(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		ctx := t.Context()
		path := "/api/v1/predictions/models"
		e.do(http.MethodGet, path, e.a.viewerTok, nil).problem(t, http.StatusForbidden)

		r := e.do(http.MethodGet, path, e.a.supTok, nil)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `"items":[]`) {
			t.Fatalf("before any training: %d %s, want an empty list", r.status, r.body)
		}

		trainedAt := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
		weights := json.RawMessage(`{"version":1,"features":["secret_weight_name"],"means":[0.123456789]}`)
		for i, o := range []*org{e.a, e.a, e.b} {
			if _, err := st.SavePredictionModel(ctx, store.PredictionModel{OrgID: o.id, TrainedAt: trainedAt.Add(time.Duration(i) * time.Hour),
				Examples: 400 + 100*i, ResolutionAUC: 0.81 + 0.01*float64(i), EscalationAUC: 0.9, Model: weights}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tok := range []string{e.a.supTok, e.a.adminTok} {
			r = e.do(http.MethodGet, path, tok, nil)
			if r.status != http.StatusOK {
				t.Fatalf("list as %s: %d %s", roleOf(e, tok), r.status, r.body)
			}
		}
		if strings.Contains(string(r.body), "secret_weight_name") || strings.Contains(string(r.body), "0.123456789") {
			t.Errorf("the list shows the model's weights: %s", r.body)
		}
		var out struct {
			Items []struct {
				Version       int       `json:"version"`
				TrainedAt     time.Time `json:"trained_at"`
				Examples      int       `json:"examples"`
				ResolutionAUC float64   `json:"resolution_auc"`
				EscalationAUC float64   `json:"escalation_auc"`
			} `json:"items"`
		}
		r.json(t, &out)
		if len(out.Items) != 2 {
			t.Fatalf("org A's models: %s, want its 2 (not B's)", r.body)
		}
		newest := out.Items[0]
		if newest.Version != 2 || out.Items[1].Version != 1 || newest.Examples != 500 || !newest.TrainedAt.Equal(trainedAt.Add(time.Hour)) ||
			math.Abs(newest.ResolutionAUC-0.82) > 1e-9 || newest.EscalationAUC != 0.9 {
			t.Fatalf("models %s, want version 2 (500 examples, AUC 0.82 and 0.9) then 1", r.body)
		}
	})
}
