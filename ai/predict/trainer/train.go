package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/iace/iace/ai/predict"
	"github.com/iace/iace/store"
)

// outcome is what one check found.
type outcome struct {
	result string
	// wait is the fewest new labelled calls that can change the answer.
	wait int
}

// check decides whether the organization's model is due and trains it if
// so, under TrainTimeout; then it sets when to check it again.
func (t *Trainer) check(ctx context.Context, id store.OrgID) {
	start := t.cfg.Now()
	cctx, cancel := context.WithTimeout(ctx, t.cfg.TrainTimeout)
	out, err := t.round(cctx, id)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return // closing: the next start checks it again
		}
		// Try again after as many calls as a retraining waits for at most.
		out = outcome{result: resultFailed, wait: t.cfg.NewCalls}
		t.log.Warn("prediction model training failed", "org_id", string(id), "err", err)
	}
	t.m.trainings.WithLabelValues(out.result).Inc()
	if out.result == resultTrained {
		t.m.duration.Observe(t.cfg.Now().Sub(start).Seconds())
	}
	t.mu.Lock()
	o := t.orgLocked(id)
	o.wait, o.checkedAt = max(out.wait, 1), start
	t.mu.Unlock()
}

// round is one check of the organization: the cheap reads first, the
// training only when it is due.
func (t *Trainer) round(ctx context.Context, id store.OrgID) (outcome, error) {
	now := t.cfg.Now()
	var latest store.PredictionModel
	var since int
	switch l, err := t.st.LatestPredictionModel(ctx, id); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return outcome{}, fmt.Errorf("latest model: %w", err)
	default:
		latest = l
	}
	if latest.Examples > 0 {
		// Only whether the new calls reach the retraining threshold matters:
		// read no more of them than that.
		need := t.need(latest.Examples)
		rows, err := t.st.LabelledCalls(ctx, id, store.LabelledQuery{After: latest.TrainedAt, Limit: need})
		if err != nil {
			return outcome{}, fmt.Errorf("labelled calls since version %d: %w", latest.Version, err)
		}
		if since = len(rows); since < need {
			return outcome{result: resultNotDue, wait: need - since}, nil
		}
	}
	rows, err := t.st.LabelledCalls(ctx, id, store.LabelledQuery{Limit: t.cfg.MaxExamples})
	if err != nil {
		return outcome{}, fmt.Errorf("labelled calls: %w", err)
	}
	all, held, skipped := t.examples(rows)
	if skipped > 0 {
		t.m.skipped.Add(float64(skipped))
	}
	counts := predict.CountExamples(all)
	if !t.retrainer.Due(counts, latest.Examples, since) {
		if !counts.Enough() {
			return outcome{result: resultTooFew, wait: deficit(counts)}, nil
		}
		return outcome{result: resultNotDue, wait: t.need(latest.Examples) - since}, nil
	}
	train, test := split(all, held)
	m, err := predict.Train(train, predict.TrainConfig{Version: latest.Version + 1, Now: now})
	if errors.Is(err, predict.ErrTooFewExamples) {
		// Enough calls in all, not yet once the held-out ones are set aside.
		short := float64(deficit(predict.CountExamples(train)))
		return outcome{result: resultTooFew, wait: int(math.Ceil(short / (1 - t.cfg.HoldOut)))}, nil
	}
	if err != nil {
		return outcome{}, err
	}
	resAUC, escAUC := measure(&m, test)
	prior := predict.Prior()
	priorRes, priorEsc := measure(&prior, test)
	blob, err := json.Marshal(m)
	if err != nil {
		return outcome{}, fmt.Errorf("encode model: %w", err)
	}
	// Another node may have trained meanwhile: its model stands, and
	// Predictor reads it at the next refresh.
	if cur, err := t.st.LatestPredictionModel(ctx, id); err == nil && cur.Version != latest.Version {
		return outcome{result: resultNotDue, wait: t.need(cur.Examples)}, nil
	}
	saved, err := t.st.SavePredictionModel(ctx, store.PredictionModel{OrgID: id, TrainedAt: now, Examples: len(train),
		ResolutionAUC: resAUC, EscalationAUC: escAUC, Model: blob})
	if err != nil {
		return outcome{}, fmt.Errorf("save model: %w", err)
	}
	m.Version = saved.Version
	t.publish(id, saved.Version, &m, t.cfg.Now())
	t.log.Info("prediction model trained", "org_id", string(id), "version", saved.Version,
		"examples", len(train), "held_out", len(test), "skipped", skipped,
		"resolved", counts.Resolved, "escalated", counts.Escalated,
		"resolution_auc", round3(resAUC), "escalation_auc", round3(escAUC),
		"prior_resolution_auc", round3(priorRes), "prior_escalation_auc", round3(priorEsc))
	return outcome{result: resultTrained, wait: t.need(len(train))}, nil
}

// need is how many labelled calls after a model trained on trainedOn make
// the next training due: the smaller of NewCalls and Growth×trainedOn.
func (t *Trainer) need(trainedOn int) int {
	return max(1, min(t.cfg.NewCalls, int(math.Ceil(t.cfg.Growth*float64(trainedOn)))))
}

// deficit is the fewest more calls that can make c Enough: each call adds
// one to the total and to one side of each label.
func deficit(c predict.Counts) int {
	return max(1,
		predict.MinExamples-c.Total,
		predict.MinClassExamples-c.Resolved, predict.MinClassExamples-(c.Total-c.Resolved),
		predict.MinClassExamples-c.Escalated, predict.MinClassExamples-(c.Total-c.Escalated))
}

// examples reads the labelled calls, in the store's order (newest first),
// and marks those held out; it skips and counts those whose features do not
// parse.
func (t *Trainer) examples(rows []store.LabelledCall) (ex []predict.Example, held []bool, skipped int) {
	ex = make([]predict.Example, 0, len(rows))
	held = make([]bool, 0, len(rows))
	for _, r := range rows {
		var f predict.Features
		if err := json.Unmarshal(r.Features, &f); err != nil {
			skipped++
			continue
		}
		ex = append(ex, predict.Example{Features: f, Resolved: r.Outcome == store.OutcomeResolved,
			Escalated: r.Outcome == store.OutcomeEscalated})
		held = append(held, heldOut(r.CallID, t.cfg.HoldOut))
	}
	return ex, held, skipped
}

// heldOut reports whether a call is kept out of the fit: by a hash of its
// id, so that the same calls are held out at every training and a model is
// never measured on calls an earlier fit saw.
func heldOut(id store.CallID, share float64) bool {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return float64(h.Sum64()%10_000) < share*10_000
}

// split parts the examples into the fit's and the held-out ones.
func split(ex []predict.Example, held []bool) (train, test []predict.Example) {
	for i := range ex {
		if held[i] {
			test = append(test, ex[i])
		} else {
			train = append(train, ex[i])
		}
	}
	return train, test
}

// measure is m's AUC for resolution and escalation on ex, 0 for a label
// whose AUC is undefined there (one class only, or no calls).
func measure(m *predict.Model, ex []predict.Example) (resolution, escalation float64) {
	res, esc := make([]float64, len(ex)), make([]float64, len(ex))
	resolved, escalated := make([]bool, len(ex)), make([]bool, len(ex))
	for i := range ex {
		p := m.Predict(ex[i].Features)
		res[i], esc[i] = p.Resolution, p.EscalationRisk
		resolved[i], escalated[i] = ex[i].Resolved, ex[i].Escalated
	}
	return orZero(predict.AUC(res, resolved)), orZero(predict.AUC(esc, escalated))
}

func orZero(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return x
}

// round3 keeps a log line's figures readable.
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
