package trainer_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai/predict"
	"github.com/iace/iace/ai/predict/trainer"
	"github.com/iace/iace/store"
)

// start runs a Trainer over w's store on clk, closed when the test ends.
func start(t *testing.T, st trainer.Store, clk *clock) (*trainer.Trainer, *prometheus.Registry, *syncBuffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &syncBuffer{}
	tr, err := trainer.New(t.Context(), trainer.Config{Now: clk.Now}, st, slog.New(slog.NewTextHandler(logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr, reg, logs
}

// applied tells tr of each call, as the spool does once it is stored.
func applied(tr *trainer.Trainer, org store.OrgID, calls []labelled) {
	for range calls {
		tr.Applied(org)
	}
}

func TestTrainsOnceEnoughCallsThenAgainAfterFiftyMore(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := b.open(t)
				clk := newClock()
				tr, reg, logs := start(t, w.st, clk)
				ex := predict.Generate(11, 1050)
				first := clk.Now().Add(-30 * 24 * time.Hour)

				// 90 calls are too few: the organization stays on the prior.
				batch := calls(t, "a", ex[:90], first)
				w.add(t, batch)
				applied(tr, w.org, batch)
				synctest.Wait()
				if v := version(t, w); v != 0 {
					t.Fatalf("a model (version %d) was trained on 90 calls", v)
				}
				if m := tr.Predictor(w.org); m != nil {
					t.Fatalf("Predictor gives version %d before any training", m.Version)
				}
				synctest.Wait()
				if m := tr.Predictor(w.org); m != nil {
					t.Fatalf("Predictor gives version %d with no stored model", m.Version)
				}
				if n := counter(t, reg, "iace_predict_trainings_total", "too_few"); n < 1 {
					t.Errorf("too_few checks %v, want at least 1", n)
				}

				// 1,000 calls: version 1, measured on the fifth held out.
				batch = calls(t, "b", ex[90:1000], first.Add(90*time.Minute))
				w.add(t, batch)
				applied(tr, w.org, batch)
				synctest.Wait()
				models, err := w.st.ListPredictionModels(t.Context(), w.org)
				if err != nil {
					t.Fatal(err)
				}
				if len(models) != 1 || models[0].Version != 1 {
					t.Fatalf("after 1,000 calls the stored models are %+v, want version 1", models)
				}
				v1 := models[0]
				t.Logf("version 1: %d examples, held-out AUC resolution %.3f, escalation %.3f", v1.Examples, v1.ResolutionAUC, v1.EscalationAUC)
				if v1.Examples < 700 || v1.Examples > 900 {
					t.Errorf("version 1 was fitted on %d calls, want about 800 of the 1,000 (a fifth held out)", v1.Examples)
				}
				if v1.ResolutionAUC < 0.8 || v1.EscalationAUC < 0.8 {
					t.Errorf("held-out AUC resolution %.3f, escalation %.3f; want at least 0.8 on generated calls", v1.ResolutionAUC, v1.EscalationAUC)
				}
				var stored predict.Model
				if err := json.Unmarshal(v1.Model, &stored); err != nil {
					t.Fatalf("the stored model does not read back: %v", err)
				}
				if m := tr.Predictor(w.org); m == nil || m.Version != 1 {
					t.Fatalf("Predictor after the training: %v, want version 1 at once", m)
				}
				if n := counter(t, reg, "iace_predict_trainings_total", "trained"); n != 1 {
					t.Errorf("trainings %v, want 1", n)
				}
				if line := logs.String(); !strings.Contains(line, "prediction model trained") || !strings.Contains(line, "org_id="+string(w.org)) ||
					!strings.Contains(line, "version=1") || !strings.Contains(line, "resolution_auc=") {
					t.Errorf("no training log line with the organization, version and AUC:\n%s", line)
				}

				// 49 calls since: not yet due (50 are); the 50th makes version 2.
				clk.Advance(time.Hour)
				batch = calls(t, "c", ex[1000:1050], v1.TrainedAt.Add(time.Second))
				w.add(t, batch[:49])
				applied(tr, w.org, batch[:49])
				synctest.Wait()
				if v := version(t, w); v != 1 {
					t.Fatalf("49 calls after version 1 made version %d", v)
				}
				w.add(t, batch[49:])
				applied(tr, w.org, batch[49:])
				synctest.Wait()
				if v := version(t, w); v != 2 {
					t.Fatalf("50 calls after version 1 left version %d, want 2", v)
				}
				if m := tr.Predictor(w.org); m == nil || m.Version != 2 {
					t.Fatalf("Predictor after the second training: %v, want version 2", m)
				}
			})
		})
	}
}

func TestStoredModelThatDoesNotReadFallsBackToThePrior(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := b.open(t)
				clk := newClock()
				tr, reg, logs := start(t, w.st, clk)
				ctx := t.Context()
				save := func(model json.RawMessage) {
					t.Helper()
					if _, err := w.st.SavePredictionModel(ctx, store.PredictionModel{OrgID: w.org, TrainedAt: clk.Now(), Examples: 400,
						ResolutionAUC: 0.9, EscalationAUC: 0.9, Model: model}); err != nil {
						t.Fatal(err)
					}
				}
				// Another node stored version 1; this one reads it on first ask.
				save(trained(t, 3))
				if m := tr.Predictor(w.org); m != nil {
					t.Fatal("the first ask waited for the read")
				}
				synctest.Wait()
				if m := tr.Predictor(w.org); m == nil || m.Version != 1 {
					t.Fatalf("after the read: %v, want version 1", m)
				}

				// Version 2 is of another feature set: refused, the prior is used.
				save(json.RawMessage(`{"version":2,"features":["sentiment_avg"],"means":[0],"scales":[1]}`))
				clk.Advance(trainer.DefaultRefresh - time.Second)
				tr.Predictor(w.org)
				synctest.Wait()
				if m := tr.Predictor(w.org); m == nil || m.Version != 1 {
					t.Fatalf("before Refresh the model was read again: %v", m)
				}
				clk.Advance(time.Second)
				tr.Predictor(w.org)
				synctest.Wait()
				if m := tr.Predictor(w.org); m != nil {
					t.Fatalf("a refused model left version %d in use, want the prior", m.Version)
				}
				if n := counter(t, reg, "iace_predict_model_loads_total", "invalid"); n != 1 {
					t.Errorf("invalid loads %v, want 1", n)
				}
				if !strings.Contains(logs.String(), "stored prediction model refused") {
					t.Errorf("the refusal is not logged:\n%s", logs.String())
				}

				// A valid version 3 is picked up at the next refresh.
				save(trained(t, 4))
				clk.Advance(trainer.DefaultRefresh)
				tr.Predictor(w.org)
				synctest.Wait()
				if m := tr.Predictor(w.org); m == nil || m.Version != 3 {
					t.Fatalf("after a valid version 3: %v", m)
				}
			})
		})
	}
}

func TestCallsWithUnreadableFeaturesAreSkippedAndCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := backends[0].open(t)
		clk := newClock()
		tr, reg, _ := start(t, w.st, clk)
		batch := calls(t, "a", predict.Generate(5, 400), clk.Now().Add(-24*time.Hour))
		for i := range 7 { // objects the store keeps, but not Features
			batch[i].features = json.RawMessage(`{"duration":"ten minutes"}`)
		}
		w.add(t, batch)
		applied(tr, w.org, batch)
		synctest.Wait()
		if v := version(t, w); v != 1 {
			t.Fatalf("version %d, want 1", v)
		}
		if n := counter(t, reg, "iace_predict_skipped_calls_total", ""); n != 7 {
			t.Errorf("skipped calls %v, want 7", n)
		}
	})
}
