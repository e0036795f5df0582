package predict

import (
	"testing"
	"time"
)

// TestPredictionQualityOnAHeldOutSplit trains on three quarters of a fixed
// synthetic data set and checks ranking (AUC) and calibration on the rest,
// beside the Prior's on the same calls. go test -run TestPredictionQuality
// -v prints the figures.
func TestPredictionQualityOnAHeldOutSplit(t *testing.T) {
	const n, seed = 4000, 2024
	data := Generate(seed, n)
	train, test := data[:n*3/4], data[n*3/4:]
	c := CountExamples(data)
	t.Logf("%d synthetic calls (seed %d): %.1f%% resolved, %.1f%% escalated; trained on %d, evaluated on %d",
		n, seed, 100*float64(c.Resolved)/n, 100*float64(c.Escalated)/n, len(train), len(test))

	m, err := Train(train, TrainConfig{Version: 1, Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	prior := Prior()
	resolved, escalated := make([]bool, len(test)), make([]bool, len(test))
	res, esc := make([]float64, len(test)), make([]float64, len(test))
	priorRes, priorEsc := make([]float64, len(test)), make([]float64, len(test))
	for i, e := range test {
		resolved[i], escalated[i] = e.Resolved, e.Escalated
		p := m.Predict(e.Features)
		res[i], esc[i] = p.Resolution, p.EscalationRisk
		p = prior.Predict(e.Features)
		priorRes[i], priorEsc[i] = p.Resolution, p.EscalationRisk
	}

	for _, tc := range []struct {
		label         string
		labels        []bool
		trained, prio []float64
	}{
		{"resolution", resolved, res, priorRes},
		{"escalation", escalated, esc, priorEsc},
	} {
		auc := AUC(tc.trained, tc.labels)
		bins := Calibration(tc.trained, tc.labels, 10)
		ece := calibrationError(bins, len(tc.labels))
		t.Logf("%s: AUC %.3f, expected calibration error %.3f (prior: AUC %.3f, error %.3f)", tc.label,
			auc, ece, AUC(tc.prio, tc.labels), calibrationError(Calibration(tc.prio, tc.labels, 10), len(tc.labels)))
		t.Logf("  %-10s  %5s  %9s  %8s", "bin", "calls", "predicted", "observed")
		for _, b := range bins {
			t.Logf("  [%.1f, %.1f)  %5d  %9.3f  %8.3f", b.Lo, b.Hi, b.Count, b.Predicted, b.Observed)
		}
		if auc < 0.8 {
			t.Errorf("%s: AUC %.3f, want >= 0.8", tc.label, auc)
		}
		if ece > 0.05 {
			t.Errorf("%s: expected calibration error %.3f, want <= 0.05", tc.label, ece)
		}
	}
}

// calibrationError is the expected calibration error: the gap between
// predicted and observed rates, averaged over calls.
func calibrationError(bins []Bin, n int) float64 {
	var s float64
	for _, b := range bins {
		d := b.Predicted - b.Observed
		s += float64(b.Count) * max(d, -d)
	}
	return s / float64(n)
}
