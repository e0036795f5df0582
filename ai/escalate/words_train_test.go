package escalate

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "write the words model trained from the development sets to wordsmodel.bin")

// The words model's training (see words.go). Only the development files
// are read: testdata/conversations.json and testdata/dev_*.json, never a
// held-out file (testdata/heldout*.json).
const (
	trainEpochs = 30
	trainRate   = 0.2
	trainL2     = 1e-3
	trainSeed   = 1
	// trainFolds is the number of folds of the cross-validation that
	// chooses the recommended threshold.
	trainFolds = 5
	// thresholdPrecision is the precision the recommended threshold must
	// keep, alone, on calls the model was not trained on.
	thresholdPrecision = 0.9
)

// trainCall is a labelled call as the trainer reads it.
type trainCall struct {
	escalate bool
	turns    [][]int // the feature indices of each caller turn
	fallback []bool  // whether the agent answered that turn with its fallback
}

// devCalls reads the development files, in the order of their names.
func devCalls(t *testing.T) []trainCall {
	t.Helper()
	files, err := filepath.Glob("testdata/dev_*.json")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"testdata/conversations.json"}, files...)
	slices.Sort(files)
	var calls []trainCall
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var set []struct {
			Escalate bool `json:"escalate"`
			Turns    []struct {
				Caller   string `json:"caller"`
				Fallback bool   `json:"fallback"`
			} `json:"turns"`
		}
		if err := json.Unmarshal(b, &set); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range set {
			tc := trainCall{escalate: c.Escalate}
			for _, turn := range c.Turns {
				ws := split(turn.Caller, nil)
				normalize(ws, nil)
				var fs []int
				wordFeatures(ws, func(i int) { fs = append(fs, i) })
				tc.turns = append(tc.turns, fs)
				tc.fallback = append(tc.fallback, turn.Fallback)
			}
			calls = append(calls, tc)
		}
	}
	return calls
}

// trainWords fits the model's weights to calls by stochastic gradient
// descent on the logistic loss with an L2 penalty, each call once an
// epoch in an order drawn from a seeded source: the same calls give the
// same weights.
func trainWords(calls []trainCall) []float64 {
	w := make([]float64, wordsWeights)
	order := make([]int, len(calls))
	for i := range order {
		order[i] = i
	}
	rnd := rand.New(rand.NewPCG(trainSeed, trainSeed))
	counts := map[int]float64{}
	for range trainEpochs {
		rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			c := calls[k]
			clear(counts)
			fb := 0
			for i, fs := range c.turns {
				for _, f := range fs {
					counts[f]++
				}
				if c.fallback[i] {
					fb++
				}
			}
			counts[wordsFallback] = float64(min(fb, wordsFallbackCap)) / wordsFallbackCap
			keys := make([]int, 0, len(counts))
			for f := range counts {
				keys = append(keys, f)
			}
			slices.Sort(keys) // a fixed order of addition: the same weights on every run
			z := w[wordsBias]
			for _, f := range keys {
				z += w[f] * counts[f]
			}
			g := 1/(1+math.Exp(-z)) - label(c.escalate)
			for _, f := range keys {
				w[f] -= trainRate * (g*counts[f] + trainL2*w[f])
			}
			w[wordsBias] -= trainRate * g
		}
	}
	return w
}

func label(escalate bool) float64 {
	if escalate {
		return 1
	}
	return 0
}

// callRisk is the highest risk a policy with weights w sees over call c:
// after each caller turn, and after each misunderstanding.
func callRisk(w []float64, c trainCall) float64 {
	risk := func(sum float64, fb int) float64 { return riskOf(w[wordsBias], w[wordsFallback], sum, fb) }
	var sum, top float64
	fb := 0
	for i, fs := range c.turns {
		for _, f := range fs {
			sum += w[f]
		}
		top = max(top, risk(sum, fb))
		if c.fallback[i] {
			fb++
			top = max(top, risk(sum, fb))
		}
	}
	return top
}

// encodeWords is the model file of weights w.
func encodeWords(w []float64) []byte {
	b := make([]byte, 0, 4*len(w))
	for _, x := range w {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(x)))
	}
	return b
}

func TestWordsModelIsTrainedFromTheDevelopmentSets(t *testing.T) {
	calls := devCalls(t)
	b := encodeWords(trainWords(calls))
	if *update {
		if err := os.WriteFile("wordsmodel.bin", b, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote wordsmodel.bin from %d development calls", len(calls))
		return
	}
	if !bytes.Equal(b, []byte(wordsModel)) {
		t.Fatalf("wordsmodel.bin is not what training on the %d development calls gives: go test ./ai/escalate -run WordsModel -update", len(calls))
	}
}

// TestTheRecommendedWordsThreshold checks RecommendedRules' threshold of
// the words model: the lowest, in hundredths, at which the model alone
// keeps a precision of thresholdPrecision on development calls it was not
// trained on, by cross-validation in trainFolds folds.
func TestTheRecommendedWordsThreshold(t *testing.T) {
	calls := devCalls(t)
	perm := rand.New(rand.NewPCG(trainSeed, 2)).Perm(len(calls))
	risks := make([]float64, len(calls))
	for k := range trainFolds {
		var train []trainCall
		for j, i := range perm {
			if j%trainFolds != k {
				train = append(train, calls[i])
			}
		}
		w := trainWords(train)
		for j, i := range perm {
			if j%trainFolds == k {
				risks[i] = callRisk(w, calls[i])
			}
		}
	}
	chosen := 0.0
	for h := 50; h <= 99; h++ {
		th := float64(h) / 100
		var tp, fp, fn int
		for i, c := range calls {
			switch up := risks[i] >= th; {
			case up && c.escalate:
				tp++
			case up:
				fp++
			case c.escalate:
				fn++
			}
		}
		p, r := float64(tp)/float64(max(tp+fp, 1)), float64(tp)/float64(tp+fn)
		t.Logf("threshold %.2f: precision %.3f, recall %.3f (the model alone, out of fold)", th, p, r)
		if chosen == 0 && p >= thresholdPrecision {
			chosen = th
		}
	}
	if got := RecommendedRules().WordsRiskAbove; got != chosen {
		t.Errorf("RecommendedRules().WordsRiskAbove = %v, want %v: the lowest threshold with precision %.2f out of fold", got, chosen, thresholdPrecision)
	}
}
