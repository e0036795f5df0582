package predict

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestAUC(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float64
		labels []bool
		want   float64 // NaN when undefined
	}{
		{"perfect ranking is 1", []float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1},
		{"inverse ranking is 0", []float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0},
		{"all scores tied is one half", []float64{0.5, 0.5, 0.5, 0.5}, []bool{true, false, true, false}, 0.5},
		{"a tied pair counts one half", []float64{0.1, 0.5, 0.5, 0.9}, []bool{false, true, false, true}, 3.5 / 4},
		{"order of the input does not matter", []float64{0.5, 0.9, 0.1, 0.5}, []bool{true, true, false, false}, 3.5 / 4},
		{"one misordered pair of six", []float64{0.1, 0.3, 0.2, 0.9, 0.8}, []bool{false, false, true, true, true}, 5.0 / 6},
		{"only positives is undefined", []float64{0.1, 0.9}, []bool{true, true}, math.NaN()},
		{"only negatives is undefined", []float64{0.1, 0.9}, []bool{false, false}, math.NaN()},
		{"no scores is undefined", nil, nil, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AUC(tc.scores, tc.labels)
			if math.IsNaN(tc.want) {
				if !math.IsNaN(got) {
					t.Errorf("AUC = %v, want NaN", got)
				}
				return
			}
			if math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("AUC = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAUCEqualsTheShareOfCorrectlyOrderedPairs checks the rank formula
// against its definition on random scores with many ties.
func TestAUCEqualsTheShareOfCorrectlyOrderedPairs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	scores, labels := make([]float64, 300), make([]bool, 300)
	for i := range scores {
		scores[i] = float64(r.IntN(20)) / 20
		labels[i] = r.Float64() < 0.2+0.6*scores[i]
	}
	var wins, pairs float64
	for i := range scores {
		for j := range scores {
			if !labels[i] || labels[j] {
				continue
			}
			pairs++
			switch {
			case scores[i] > scores[j]:
				wins++
			case scores[i] == scores[j]:
				wins += 0.5
			}
		}
	}
	if got, want := AUC(scores, labels), wins/pairs; math.Abs(got-want) > 1e-12 {
		t.Errorf("AUC = %v, pairwise %v", got, want)
	}
}

func TestAUCPanicsOnDifferentLengths(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	AUC([]float64{0.1}, nil)
}

func TestCalibration(t *testing.T) {
	scores := []float64{0.05, 0.15, 0.45, 0.55, 0.6, 0.95, 1, 1.5, -0.2, math.NaN()}
	labels := []bool{false, false, true, false, true, true, true, true, false, true}
	bins := Calibration(scores, labels, 4)
	want := []Bin{
		{Lo: 0, Hi: 0.25, Count: 3, Predicted: (0.05 + 0.15 + 0) / 3, Observed: 0},
		{Lo: 0.25, Hi: 0.5, Count: 1, Predicted: 0.45, Observed: 1},
		{Lo: 0.5, Hi: 0.75, Count: 2, Predicted: (0.55 + 0.6) / 2, Observed: 0.5},
		{Lo: 0.75, Hi: 1, Count: 3, Predicted: (0.95 + 1 + 1) / 3, Observed: 1},
	}
	if len(bins) != len(want) {
		t.Fatalf("%d bins, want %d", len(bins), len(want))
	}
	for i := range want {
		g, w := bins[i], want[i]
		if g.Count != w.Count || math.Abs(g.Lo-w.Lo) > 1e-12 || math.Abs(g.Hi-w.Hi) > 1e-12 ||
			math.Abs(g.Predicted-w.Predicted) > 1e-12 || math.Abs(g.Observed-w.Observed) > 1e-12 {
			t.Errorf("bin %d: %+v, want %+v", i, g, w)
		}
	}
}

func TestCalibrationEdges(t *testing.T) {
	t.Run("an empty bin has zero count and zero means", func(t *testing.T) {
		bins := Calibration([]float64{0.1, 0.9}, []bool{false, true}, 3)
		if b := bins[1]; b.Count != 0 || b.Predicted != 0 || b.Observed != 0 {
			t.Errorf("middle bin %+v", b)
		}
	})
	t.Run("no bins is nil", func(t *testing.T) {
		if bins := Calibration([]float64{0.5}, []bool{true}, 0); bins != nil {
			t.Errorf("bins %+v", bins)
		}
	})
	t.Run("the bins of a calibrated model follow the diagonal", func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		scores, labels := make([]float64, 50000), make([]bool, 50000)
		for i := range scores {
			scores[i] = r.Float64()
			labels[i] = r.Float64() < scores[i]
		}
		for _, b := range Calibration(scores, labels, 10) {
			if math.Abs(b.Predicted-b.Observed) > 0.02 {
				t.Errorf("bin %+v", b)
			}
		}
	})
}
