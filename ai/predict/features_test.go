package predict

import (
	"math"
	"testing"
	"time"

	"github.com/iace/iace/ai"
)

// summary is the batch form of the sentiment features, written as the call
// record computes them, to check the tracker's running sums against.
func summary(scores []float64) (avg, lo, trend, last float64) {
	lo, last = scores[0], scores[len(scores)-1]
	var sum float64
	for _, v := range scores {
		sum += v
		lo = min(lo, v)
	}
	return sum / float64(len(scores)), lo, ai.Trend(scores), last
}

func TestTrackerMatchesTheBatchSummaryAfterEveryTurn(t *testing.T) {
	scores := []float64{0.4, 0.1, -0.3, -0.6, 0.2, -0.5, -0.9, -0.4}
	var tr Tracker
	for i, s := range scores {
		tr.CallerTurn(s)
		f := tr.Features(time.Duration(i+1) * time.Minute)
		avg, lo, trend, last := summary(scores[:i+1])
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"average", f.SentimentAvg, avg},
			{"minimum", f.SentimentMin, lo},
			{"trend", f.SentimentTrend, trend},
			{"last", f.SentimentLast, last},
		} {
			if math.Abs(c.got-c.want) > 1e-12 {
				t.Errorf("after turn %d: %s %v, want %v", i+1, c.name, c.got, c.want)
			}
		}
		if f.CallerTurns != i+1 || f.Duration != time.Duration(i+1)*time.Minute {
			t.Errorf("after turn %d: %d turns, %v", i+1, f.CallerTurns, f.Duration)
		}
	}
}

func TestTrackerCountsTheNegativeStreakEndingAtTheLastTurn(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float64
		want   int
	}{
		{"no turns is no streak", nil, 0},
		{"one negative turn", []float64{-0.5}, 1},
		{"the threshold itself is not negative", []float64{-0.5, NegativeBelow}, 0},
		{"a neutral turn breaks the streak", []float64{-0.5, -0.6, 0, -0.7}, 1},
		{"three in a row", []float64{0.5, -0.3, -0.6, -0.9}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr Tracker
			for _, s := range tc.scores {
				tr.CallerTurn(s)
			}
			if got := tr.Features(0).NegativeStreak; got != tc.want {
				t.Errorf("streak %d, want %d", got, tc.want)
			}
		})
	}
}

func TestTrackerRecordsFallbacksIntentAndHistory(t *testing.T) {
	var tr Tracker
	if f := tr.Features(0); f != (Features{}) {
		t.Fatalf("zero tracker: %+v, want zero features", f)
	}
	tr.SetHistory(4, 1)
	tr.IntentMatched()
	tr.Fallback()
	tr.Fallback()
	f := tr.Features(90 * time.Second)
	want := Features{Fallbacks: 2, IntentMatched: true, PreviousCalls: 4, PreviousEscalations: 1, Duration: 90 * time.Second}
	if f != want {
		t.Errorf("features %+v, want %+v", f, want)
	}
}

func TestTrackerReadsABadScoreAsNeutralAndClampsTheRest(t *testing.T) {
	var tr Tracker
	tr.CallerTurn(math.NaN())
	tr.CallerTurn(-3)
	f := tr.Features(0)
	if f.SentimentAvg != -0.5 || f.SentimentMin != -1 || f.SentimentLast != -1 {
		t.Errorf("features %+v, want scores 0 and -1", f)
	}
}

func TestVectorFollowsTheNamedOrder(t *testing.T) {
	f := Features{
		SentimentAvg:        0.1,
		SentimentMin:        0.2,
		SentimentTrend:      0.3,
		SentimentLast:       0.4,
		NegativeStreak:      5,
		Fallbacks:           6,
		CallerTurns:         7,
		Duration:            8 * time.Minute,
		IntentMatched:       true,
		PreviousCalls:       9,
		PreviousEscalations: 10,
	}
	want := map[string]float64{
		"sentiment_avg":              0.1,
		"sentiment_min":              0.2,
		"sentiment_trend":            0.3,
		"sentiment_last":             0.4,
		"negative_streak":            5,
		"fallbacks":                  6,
		"caller_turns":               7,
		"duration_minutes":           8,
		"intent_matched":             1,
		"log1p_previous_calls":       math.Log(10),
		"log1p_previous_escalations": math.Log(11),
	}
	v := f.Vector()
	names := FeatureNames()
	if len(want) != len(names) {
		t.Fatalf("%d names, the test knows %d", len(names), len(want))
	}
	for i, name := range names {
		w, ok := want[name]
		if !ok {
			t.Errorf("feature %d %q is not known to the test", i, name)
			continue
		}
		if math.Abs(v[i]-w) > 1e-12 {
			t.Errorf("%s = %v, want %v", name, v[i], w)
		}
	}
}

func TestVectorHasOnlyFiniteValues(t *testing.T) {
	f := Features{
		SentimentAvg:        math.NaN(),
		SentimentMin:        math.Inf(-1),
		SentimentTrend:      math.Inf(1),
		SentimentLast:       math.NaN(),
		PreviousCalls:       -3,
		PreviousEscalations: -1,
	}
	for i, x := range f.Vector() {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Errorf("%s = %v", FeatureNames()[i], x)
		}
	}
}

func TestTrackerAllocatesNothing(t *testing.T) {
	var tr Tracker
	allocs := testing.AllocsPerRun(100, func() {
		tr.CallerTurn(-0.3)
		tr.Fallback()
		_ = tr.Features(time.Minute)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per turn, want 0", allocs)
	}
}
