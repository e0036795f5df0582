package predict

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var trainedAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func TestPriorSitsAtTheBaseRatesBeforeAnythingIsSaid(t *testing.T) {
	m := Prior()
	p := m.Predict(Features{})
	if math.Abs(p.EscalationRisk-0.10) > 0.01 || math.Abs(p.Resolution-0.60) > 0.01 {
		t.Errorf("prediction %+v, want escalation 0.10 and resolution 0.60", p)
	}
	if p.ModelVersion != 0 {
		t.Errorf("prior version %d, want 0", p.ModelVersion)
	}
	if err := m.Validate(); err != nil {
		t.Error(err)
	}
}

// TestPriorMovesInTheExpectedDirections walks one feature at a time from a
// middling call and checks that each step moves both probabilities the way
// the Prior's reasons say.
func TestPriorMovesInTheExpectedDirections(t *testing.T) {
	base := Features{
		SentimentAvg: 0, SentimentMin: -0.2, SentimentLast: 0,
		CallerTurns: 4, Duration: 2 * time.Minute, PreviousCalls: 1,
	}
	for _, tc := range []struct {
		name string
		// worse makes the call worse by a step of k.
		worse func(f *Features, k int)
	}{
		{"a lower average sentiment", func(f *Features, k int) { f.SentimentAvg = 0.8 - 0.4*float64(k) }},
		{"a lower minimum sentiment", func(f *Features, k int) { f.SentimentMin = 0.8 - 0.4*float64(k) }},
		{"a falling trend", func(f *Features, k int) { f.SentimentTrend = 0.2 - 0.1*float64(k) }},
		{"a lower last sentiment", func(f *Features, k int) { f.SentimentLast = 0.8 - 0.4*float64(k) }},
		{"a longer negative streak", func(f *Features, k int) { f.NegativeStreak = k }},
		{"more fallbacks", func(f *Features, k int) { f.Fallbacks = k }},
		{"a longer call", func(f *Features, k int) { f.Duration = time.Duration(k) * 3 * time.Minute }},
		{"no matched intent", func(f *Features, k int) { f.IntentMatched = k == 0 }},
		{"more earlier escalations", func(f *Features, k int) {
			f.PreviousCalls = 4
			f.PreviousEscalations = k
		}},
	} {
		t.Run(tc.name+" raises escalation risk and lowers resolution", func(t *testing.T) {
			m := Prior()
			var last Prediction
			for k := range 5 {
				f := base
				tc.worse(&f, k)
				p := m.Predict(f)
				if k > 0 && (p.EscalationRisk <= last.EscalationRisk || p.Resolution > last.Resolution) {
					t.Errorf("step %d: %+v after %+v", k, p, last)
				}
				last = p
				if k == 1 && tc.name == "no matched intent" {
					break // a boolean has two steps
				}
			}
		})
	}
}

func TestPriorSeparatesAPleasantCallFromAFailingOne(t *testing.T) {
	m := Prior()
	good := m.Predict(Features{
		SentimentAvg: 0.5, SentimentMin: 0.2, SentimentTrend: 0.05, SentimentLast: 0.6,
		CallerTurns: 4, Duration: 2 * time.Minute, IntentMatched: true,
	})
	bad := m.Predict(Features{
		SentimentAvg: -0.6, SentimentMin: -0.8, SentimentTrend: -0.1, SentimentLast: -0.7,
		NegativeStreak: 3, Fallbacks: 2, CallerTurns: 6, Duration: 3 * time.Minute,
	})
	if good.EscalationRisk > 0.02 || good.Resolution < 0.9 {
		t.Errorf("pleasant call: %+v, want escalation <= 0.02 and resolution >= 0.9", good)
	}
	if bad.EscalationRisk < 0.85 || bad.Resolution > 0.05 {
		t.Errorf("failing call: %+v, want escalation >= 0.85 and resolution <= 0.05", bad)
	}
}

// separable returns calls where fallbacks decide escalation and the sign of
// the average sentiment decides resolution, without exception and with a
// margin on both sides.
func separable(n int) []Example {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]Example, n)
	for i := range out {
		f := Features{
			SentimentAvg: 0.2 + 0.8*r.Float64(),
			Fallbacks:    r.IntN(6),
			CallerTurns:  1 + r.IntN(8),
		}
		if r.IntN(2) == 0 {
			f.SentimentAvg = -f.SentimentAvg
		}
		out[i] = Example{Features: f, Escalated: f.Fallbacks >= 3, Resolved: f.SentimentAvg > 0}
	}
	return out
}

// TestTrainConvergesOnSeparableData: without the penalty the loss of
// separable data has no minimum (the weights grow without end); with it,
// even a weak one, training stops at finite weights that classify every
// call, larger for a weaker penalty.
func TestTrainConvergesOnSeparableData(t *testing.T) {
	data := separable(400)
	for _, tc := range []struct {
		name   string
		l2     float64
		lo, hi float64 // bounds of the deciding weights
	}{
		{"with the default penalty", 0, 3, 30},
		{"with a weak penalty", 1e-4, 15, 1e4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Train(data, TrainConfig{Version: 1, Now: trainedAt, L2: tc.l2})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			wrong := 0
			for _, e := range data {
				p := m.Predict(e.Features)
				if (p.EscalationRisk > 0.5) != e.Escalated || (p.Resolution > 0.5) != e.Resolved {
					wrong++
				}
			}
			if wrong > 0 {
				t.Errorf("%d of %d training calls misclassified", wrong, len(data))
			}
			esc, res := m.Escalation.Weights[5], m.Resolution.Weights[0]
			t.Logf("standardised weights: fallbacks on escalation %.2f, average sentiment on resolution %.2f", esc, res)
			if esc < tc.lo || esc > tc.hi || res < tc.lo || res > tc.hi {
				t.Errorf("deciding weights %v and %v, want within [%v, %v]", esc, res, tc.lo, tc.hi)
			}
		})
	}
}

// TestTrainRecoversTheWeightsOfNoisyData draws labels from known logistic
// models and checks that training finds their weights, in raw units.
func TestTrainRecoversTheWeightsOfNoisyData(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 20000
	data := make([]Example, n)
	for i := range data {
		f := Features{
			SentimentAvg: r.Float64()*2 - 1,
			Fallbacks:    r.IntN(5),
			CallerTurns:  5, // constant: its weight must stay zero
		}
		esc := -2 + 0.8*float64(f.Fallbacks) - 1.5*f.SentimentAvg
		res := 0.5 + 2*f.SentimentAvg
		data[i] = Example{
			Features:  f,
			Escalated: r.Float64() < sigmoid(esc),
			Resolved:  r.Float64() < sigmoid(res),
		}
	}
	m, err := Train(data, TrainConfig{Version: 1, Now: trainedAt})
	if err != nil {
		t.Fatal(err)
	}
	// raw converts a standardised regression to raw units.
	raw := func(l Logistic) (b float64, w [NumFeatures]float64) {
		b = l.Intercept
		for i := range w {
			w[i] = l.Weights[i] / m.Scales[i]
			b -= w[i] * m.Means[i]
		}
		return b, w
	}
	for _, tc := range []struct {
		name             string
		l                Logistic
		intercept        float64
		avg, fallbacks   float64
		tolerance, turns float64
	}{
		{name: "escalation", l: m.Escalation, intercept: -2, avg: -1.5, fallbacks: 0.8, tolerance: 0.15},
		{name: "resolution", l: m.Resolution, intercept: 0.5, avg: 2, fallbacks: 0, tolerance: 0.15},
	} {
		b, w := raw(tc.l)
		t.Logf("%s: intercept %.3f, sentiment_avg %.3f, fallbacks %.3f", tc.name, b, w[0], w[5])
		if math.Abs(b-tc.intercept) > tc.tolerance || math.Abs(w[0]-tc.avg) > tc.tolerance || math.Abs(w[5]-tc.fallbacks) > tc.tolerance {
			t.Errorf("%s: intercept %.3f, sentiment_avg %.3f, fallbacks %.3f; want %v, %v, %v",
				tc.name, b, w[0], w[5], tc.intercept, tc.avg, tc.fallbacks)
		}
		if w[6] != 0 {
			t.Errorf("%s: weight %v on a constant feature", tc.name, w[6])
		}
	}
}

func TestTrainIsDeterministic(t *testing.T) {
	data := Generate(7, 500)
	a, err := Train(data, TrainConfig{Version: 2, Now: trainedAt})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Train(data, TrainConfig{Version: 2, Now: trainedAt})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("two trainings differ:\n%+v\n%+v", a, b)
	}
	if a.Version != 2 || !a.TrainedAt.Equal(trainedAt) || a.Examples != 500 {
		t.Errorf("version %d, trained at %v, %d examples", a.Version, a.TrainedAt, a.Examples)
	}
}

func TestTrainRefusesTooFewCalls(t *testing.T) {
	data := Generate(8, 300)
	for _, tc := range []struct {
		name string
		data []Example
	}{
		{"no calls", nil},
		{"fewer than the minimum", data[:MinExamples-1]},
		{"too few escalations", withoutMost(data, func(e Example) bool { return e.Escalated })},
		{"too few unresolved calls", withoutMost(data, func(e Example) bool { return !e.Resolved })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Train(tc.data, TrainConfig{Version: 1, Now: trainedAt})
			if !errors.Is(err, ErrTooFewExamples) {
				t.Fatalf("error %v, want ErrTooFewExamples", err)
			}
			var tf *TooFewExamplesError
			if !errors.As(err, &tf) || tf.Have != CountExamples(tc.data) {
				t.Errorf("error %#v, want the counts of the data", err)
			}
		})
	}
}

// withoutMost keeps all calls but the ones matching drop, of which it keeps
// one fewer than MinClassExamples.
func withoutMost(data []Example, drop func(Example) bool) []Example {
	var out []Example
	kept := 0
	for _, e := range data {
		if drop(e) {
			if kept == MinClassExamples-1 {
				continue
			}
			kept++
		}
		out = append(out, e)
	}
	return out
}

func TestTrainRefusesABadConfig(t *testing.T) {
	data := Generate(9, 300)
	for _, tc := range []struct {
		name string
		cfg  TrainConfig
	}{
		{"version 0 is the prior's", TrainConfig{}},
		{"a negative penalty", TrainConfig{Version: 1, L2: -1}},
		{"an infinite penalty", TrainConfig{Version: 1, L2: math.Inf(1)}},
		{"a negative tolerance", TrainConfig{Version: 1, Tolerance: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Train(data, tc.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestTrainReportsNoConvergenceWithinTheIterations(t *testing.T) {
	_, err := Train(Generate(10, 300), TrainConfig{Version: 1, MaxIterations: 1, Tolerance: 1e-300})
	if !errors.Is(err, ErrNotConverged) {
		t.Errorf("error %v, want ErrNotConverged", err)
	}
}

func TestModelJSONRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		model func(t *testing.T) Model
	}{
		{"prior", func(*testing.T) Model { return Prior() }},
		{"trained", func(t *testing.T) Model {
			m, err := Train(Generate(11, 400), TrainConfig{Version: 3, Now: trainedAt})
			if err != nil {
				t.Fatal(err)
			}
			return m
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.model(t)
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var back Model
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if !back.TrainedAt.Equal(m.TrainedAt) {
				t.Errorf("trained at %v, want %v", back.TrainedAt, m.TrainedAt)
			}
			back.TrainedAt = m.TrainedAt
			if back != m {
				t.Errorf("round trip changed the model:\n%+v\n%+v\n%s", back, m, data)
			}
		})
	}
}

func TestModelJSONRefusesAnotherFeatureSet(t *testing.T) {
	good, err := json.Marshal(Prior())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		from, to  string
		wantModel bool // ErrInvalidModel rather than a syntax error
	}{
		{"a renamed feature", `"fallbacks"`, `"repeats"`, true},
		{"a missing feature", `"fallbacks",`, ``, true},
		{"a short weight list", `"weights":[`, `"weights":[1,`, true},
		{"a zero scale", `"scales":[1,`, `"scales":[0,`, true},
		{"not JSON", `{`, `[`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := strings.Replace(string(good), tc.from, tc.to, 1)
			if s == string(good) {
				t.Fatalf("%q not in %s", tc.from, good)
			}
			var m Model
			err := json.Unmarshal([]byte(s), &m)
			if err == nil || errors.Is(err, ErrInvalidModel) != tc.wantModel {
				t.Errorf("error %v, want ErrInvalidModel %v", err, tc.wantModel)
			}
		})
	}
}

func TestModelJSONRefusesToWriteABadModel(t *testing.T) {
	m := Prior()
	m.Escalation.Weights[2] = math.NaN()
	if _, err := json.Marshal(m); !errors.Is(err, ErrInvalidModel) {
		t.Errorf("error %v, want ErrInvalidModel", err)
	}
}

func TestCountsEnough(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Counts
		want bool
	}{
		{"none", Counts{}, false},
		{"the minimum of everything", Counts{Total: 100, Resolved: 40, Escalated: 40}, true},
		{"too few in all", Counts{Total: 99, Resolved: 45, Escalated: 45}, false},
		{"too few escalated", Counts{Total: 500, Resolved: 250, Escalated: 39}, false},
		{"too few not resolved", Counts{Total: 500, Resolved: 461, Escalated: 39}, false},
		{"too few not escalated", Counts{Total: 100, Resolved: 40, Escalated: 61}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Enough(); got != tc.want {
				t.Errorf("Enough() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPredictAllocatesNothing(t *testing.T) {
	m := Prior()
	f := Features{SentimentAvg: -0.2, Fallbacks: 1, CallerTurns: 3}
	if allocs := testing.AllocsPerRun(100, func() { _ = m.Predict(f) }); allocs != 0 {
		t.Errorf("%v allocations per prediction, want 0", allocs)
	}
}
