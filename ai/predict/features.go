package predict

import (
	"math"
	"time"
)

// NegativeBelow is the sentiment under which a caller turn counts as
// negative for Features.NegativeStreak: the threshold the call statistics use
// for a negative call, so that "negative" means one thing across IACE.
const NegativeBelow = -0.25

// Features describe a call so far: what the session knows after any turn, or
// after the last one. Sentiments are caller turn scores, -1 (negative) to 1.
type Features struct {
	// SentimentAvg is the mean of the caller turn sentiments.
	SentimentAvg float64 `json:"sentiment_avg"`
	// SentimentMin is the most negative caller turn.
	SentimentMin float64 `json:"sentiment_min"`
	// SentimentTrend is the least-squares slope of the sentiments per caller
	// turn: negative when the caller grows unhappier.
	SentimentTrend float64 `json:"sentiment_trend"`
	// SentimentLast is the latest caller turn's sentiment.
	SentimentLast float64 `json:"sentiment_last"`
	// NegativeStreak counts the consecutive caller turns below NegativeBelow
	// that end with the latest one.
	NegativeStreak int `json:"negative_streak"`
	// Fallbacks counts the agent's replies that said it did not understand.
	Fallbacks int `json:"fallbacks"`
	// CallerTurns counts the caller's turns.
	CallerTurns int `json:"caller_turns"`
	// Duration is how long the call has lasted.
	Duration time.Duration `json:"duration"`
	// IntentMatched says the caller's words matched one of the agent's
	// known intents.
	IntentMatched bool `json:"intent_matched"`
	// PreviousCalls counts the caller's earlier calls to the organisation.
	PreviousCalls int `json:"previous_calls"`
	// PreviousEscalations counts those of the earlier calls that went to a
	// human.
	PreviousEscalations int `json:"previous_escalations"`
}

// NumFeatures is the length of a Vector.
const NumFeatures = 11

// Vector is Features as numbers in the order of FeatureNames; a fixed-size
// array, so that building one per turn allocates nothing.
type Vector [NumFeatures]float64

// featureNames name the entries of a Vector; they are also written into a
// stored model (Model.MarshalJSON) so that a model trained on another
// feature set is refused instead of misread.
var featureNames = [NumFeatures]string{
	"sentiment_avg",
	"sentiment_min",
	"sentiment_trend",
	"sentiment_last",
	"negative_streak",
	"fallbacks",
	"caller_turns",
	"duration_minutes",
	"intent_matched",
	"log1p_previous_calls",
	"log1p_previous_escalations",
}

// FeatureNames returns the names of a Vector's entries, in order.
func FeatureNames() [NumFeatures]string { return featureNames }

// Vector returns f as numbers. Sentiments are clamped to [-1, 1] (a score
// that is not a number reads as neutral), the duration is in minutes, and
// the caller's history is log1p of the counts: the tenth earlier call says
// less than the first, and a linear term would let a frequent caller's
// history outweigh everything said in the call.
func (f Features) Vector() Vector {
	return Vector{
		sentiment(f.SentimentAvg),
		sentiment(f.SentimentMin),
		finite(f.SentimentTrend),
		sentiment(f.SentimentLast),
		float64(f.NegativeStreak),
		float64(f.Fallbacks),
		float64(f.CallerTurns),
		f.Duration.Minutes(),
		boolean(f.IntentMatched),
		math.Log1p(float64(max(f.PreviousCalls, 0))),
		math.Log1p(float64(max(f.PreviousEscalations, 0))),
	}
}

// sentiment clamps a score to [-1, 1]; NaN, from a scorer that failed,
// reads as neutral.
func sentiment(s float64) float64 {
	if math.IsNaN(s) {
		return 0
	}
	return min(max(s, -1), 1)
}

// finite maps NaN and infinities to 0 so that one bad input cannot turn a
// prediction into NaN.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

func boolean(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Tracker builds a call's Features turn by turn in constant space and
// without allocating, so that the session can predict after every turn
// without keeping the scores. The zero value is a call with no turns, no
// matched intent and no history.
type Tracker struct {
	f Features
	// Running sums of the least-squares fit of sentiment on turn index
	// (x = 0, 1, ...), the same fit as the stored call's sentiment summary.
	sum, sx, sxy, sxx float64
}

// SetHistory records the caller's earlier calls and escalations.
func (t *Tracker) SetHistory(previousCalls, previousEscalations int) {
	t.f.PreviousCalls = previousCalls
	t.f.PreviousEscalations = previousEscalations
}

// IntentMatched records that the caller's words matched a known intent.
func (t *Tracker) IntentMatched() { t.f.IntentMatched = true }

// Fallback records an agent reply that said it did not understand.
func (t *Tracker) Fallback() { t.f.Fallbacks++ }

// CallerTurn records a caller turn scored s, clamped to [-1, 1] (NaN reads as
// neutral).
func (t *Tracker) CallerTurn(s float64) {
	s = sentiment(s)
	x := float64(t.f.CallerTurns)
	t.f.CallerTurns++
	t.sum += s
	t.sx += x
	t.sxy += x * s
	t.sxx += x * x
	if t.f.CallerTurns == 1 || s < t.f.SentimentMin {
		t.f.SentimentMin = s
	}
	t.f.SentimentLast = s
	if s < NegativeBelow {
		t.f.NegativeStreak++
	} else {
		t.f.NegativeStreak = 0
	}
}

// Features returns the call's features after elapsed time since it began;
// the caller passes the time so that the tracker reads no clock.
func (t *Tracker) Features(elapsed time.Duration) Features {
	f := t.f
	f.Duration = elapsed
	if n := float64(f.CallerTurns); n > 0 {
		f.SentimentAvg = t.sum / n
		if d := n*t.sxx - t.sx*t.sx; d > 0 {
			f.SentimentTrend = (n*t.sxy - t.sx*t.sum) / d
		}
	}
	return f
}

// TrackerState is a Tracker's state, for a call that goes on elsewhere
// (moved to another node).
type TrackerState struct {
	Features Features   `json:"features"`
	Sums     [4]float64 `json:"sums"`
}

// State returns the tracker's state.
func (t *Tracker) State() TrackerState {
	return TrackerState{Features: t.f, Sums: [4]float64{t.sum, t.sx, t.sxy, t.sxx}}
}

// Restore puts a state back.
func (t *Tracker) Restore(s TrackerState) {
	t.f = s.Features
	t.sum, t.sx, t.sxy, t.sxx = s.Sums[0], s.Sums[1], s.Sums[2], s.Sums[3]
}
