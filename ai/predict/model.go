package predict

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Prediction is what a Model expects of a call so far.
type Prediction struct {
	// Resolution is the probability that the call ends resolved.
	Resolution float64
	// EscalationRisk is the probability that the call goes to a human.
	EscalationRisk float64
	// ModelVersion is the Version of the model that predicted; 0 is the
	// Prior.
	ModelVersion int
}

// Logistic is one logistic regression over a standardised Vector:
// P = 1 / (1 + exp(-(Intercept + Σ Weights[i]·z[i]))), where z[i] is the
// entry standardised by the Model's Means and Scales.
type Logistic struct {
	Intercept float64
	Weights   [NumFeatures]float64
}

// logit is the regression's log-odds for a standardised vector.
func (l *Logistic) logit(z *Vector) float64 {
	s := l.Intercept
	for i, w := range l.Weights {
		s += w * z[i]
	}
	return s
}

// Model predicts a call's outcome: two logistic regressions over the same
// standardised features, one for resolution and one for escalation. The
// two outcomes exclude each other but neither covers the rest (a caller may
// hang up), so each has its own regression rather than one multinomial one;
// their probabilities need not add to one.
//
// Predict only reads a Model, so all of an organisation's calls may share
// one; its JSON form (MarshalJSON) is how it is stored.
type Model struct {
	// Version counts an organisation's trainings, from 1; 0 is the Prior.
	Version int
	// TrainedAt is when Train ran (TrainConfig.Now); zero for the Prior.
	TrainedAt time.Time
	// Examples is how many labelled calls the model was trained on; 0 for
	// the Prior.
	Examples int
	// Means and Scales standardise a Vector, z = (x - mean) / scale, so
	// that the L2 penalty weighs every feature alike whatever its unit.
	Means, Scales [NumFeatures]float64
	// Resolution predicts that the call ends resolved.
	Resolution Logistic
	// Escalation predicts that the call goes to a human.
	Escalation Logistic
}

// Predict returns the model's expectation of a call with features f. It
// runs after every turn of every call, so it allocates nothing: a few dozen
// multiplications and two exponentials.
func (m *Model) Predict(f Features) Prediction {
	z := f.Vector()
	for i := range z {
		z[i] = (z[i] - m.Means[i]) / m.Scales[i]
	}
	return Prediction{
		Resolution:     sigmoid(m.Resolution.logit(&z)),
		EscalationRisk: sigmoid(m.Escalation.logit(&z)),
		ModelVersion:   m.Version,
	}
}

// sigmoid is the logistic function; exp overflows to +Inf for very negative
// x, which still gives the right limit, 0.
func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// Prior returns the hand-set model used until an organisation has enough
// labelled calls to train its own (Counts.Enough). Its weights are in raw
// units (Means 0, Scales 1): each says how much one unit of a feature moves
// the log-odds, and each has its reason beside it. They were chosen so that
// a call with nothing said yet sits at the base rates (10% escalation, 60%
// resolution), a pleasant call with a matched intent reaches about 1%
// escalation and 95% resolution, and a call with falling sentiment, three
// negative turns in a row and two fallbacks about 90% escalation and 2%
// resolution.
func Prior() Model {
	m := Model{}
	for i := range m.Scales {
		m.Scales[i] = 1
	}
	m.Escalation = Logistic{
		// logit(0.10): most calls stay with the agent.
		Intercept: -2.2,
		Weights: [NumFeatures]float64{
			-1.5, // sentiment_avg: an unhappy call as a whole is the strongest sign.
			-0.5, // sentiment_min: one very bad moment adds to the average.
			-2.0, // sentiment_trend: falling sentiment, per turn; -0.2 a turn is +0.4.
			-1.0, // sentiment_last: how the caller feels now.
			0.4,  // negative_streak: a run of negative turns is what escalation rules react to.
			0.5,  // fallbacks: each misunderstanding pushes callers to ask for a person.
			0.02, // caller_turns: long conversations mean the agent is not getting there.
			0.05, // duration_minutes: the same, in time.
			-0.8, // intent_matched: the agent knows what the caller wants.
			0.2,  // log1p_previous_calls: a caller who keeps calling had no solution yet.
			0.7,  // log1p_previous_escalations: who went to a human before tends to again.
		},
	}
	m.Resolution = Logistic{
		// logit(0.60): most calls that stay with the agent end resolved.
		Intercept: 0.4,
		Weights: [NumFeatures]float64{
			1.5,   // sentiment_avg: satisfied callers are resolved callers.
			0.5,   // sentiment_min
			2.0,   // sentiment_trend: a caller warming up is being helped.
			1.0,   // sentiment_last: thanks at the end.
			-0.4,  // negative_streak
			-0.5,  // fallbacks: the agent did not understand.
			0,     // caller_turns: a resolved call can be short or long.
			-0.03, // duration_minutes: a very long call is rarely a clean resolution.
			1.0,   // intent_matched: the agent has an answer for it.
			-0.1,  // log1p_previous_calls
			-0.5,  // log1p_previous_escalations
		},
	}
	return m
}

// Validate reports a model that cannot predict: a value that is not finite
// or a scale that is not positive.
func (m *Model) Validate() error {
	bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }
	if m.Version < 0 || m.Examples < 0 {
		return fmt.Errorf("%w: negative version or examples", ErrInvalidModel)
	}
	if bad(m.Resolution.Intercept) || bad(m.Escalation.Intercept) {
		return fmt.Errorf("%w: intercept not finite", ErrInvalidModel)
	}
	for i, name := range featureNames {
		if bad(m.Means[i]) || bad(m.Resolution.Weights[i]) || bad(m.Escalation.Weights[i]) {
			return fmt.Errorf("%w: %s not finite", ErrInvalidModel, name)
		}
		if bad(m.Scales[i]) || m.Scales[i] <= 0 {
			return fmt.Errorf("%w: %s scale %v", ErrInvalidModel, name, m.Scales[i])
		}
	}
	return nil
}

// modelJSON is the stored form of a Model. It names the features, and holds
// slices rather than arrays, so that a model of another feature set is
// refused on load instead of being silently cut or padded to fit.
type modelJSON struct {
	Version    int          `json:"version"`
	TrainedAt  time.Time    `json:"trained_at"`
	Examples   int          `json:"examples"`
	Features   []string     `json:"features"`
	Means      []float64    `json:"means"`
	Scales     []float64    `json:"scales"`
	Resolution logisticJSON `json:"resolution"`
	Escalation logisticJSON `json:"escalation"`
}

type logisticJSON struct {
	Intercept float64   `json:"intercept"`
	Weights   []float64 `json:"weights"`
}

// MarshalJSON writes the model with its feature names.
func (m Model) MarshalJSON() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err // JSON cannot carry NaN, and a stored bad model would fail every load.
	}
	names := featureNames
	return json.Marshal(modelJSON{
		Version:    m.Version,
		TrainedAt:  m.TrainedAt,
		Examples:   m.Examples,
		Features:   names[:],
		Means:      m.Means[:],
		Scales:     m.Scales[:],
		Resolution: logisticJSON{m.Resolution.Intercept, m.Resolution.Weights[:]},
		Escalation: logisticJSON{m.Escalation.Intercept, m.Escalation.Weights[:]},
	})
}

// UnmarshalJSON reads a model written by MarshalJSON. It fails with
// ErrInvalidModel when the stored features are not this build's, in the same
// order, or when the model does not Validate.
func (m *Model) UnmarshalJSON(data []byte) error {
	var j modelJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	if len(j.Features) != NumFeatures {
		return fmt.Errorf("%w: %d features, want %d", ErrInvalidModel, len(j.Features), NumFeatures)
	}
	for i, name := range featureNames {
		if j.Features[i] != name {
			return fmt.Errorf("%w: feature %d is %q, want %q", ErrInvalidModel, i, j.Features[i], name)
		}
	}
	for _, s := range [][]float64{j.Means, j.Scales, j.Resolution.Weights, j.Escalation.Weights} {
		if len(s) != NumFeatures {
			return fmt.Errorf("%w: %d values, want %d", ErrInvalidModel, len(s), NumFeatures)
		}
	}
	out := Model{
		Version:    j.Version,
		TrainedAt:  j.TrainedAt,
		Examples:   j.Examples,
		Resolution: Logistic{Intercept: j.Resolution.Intercept},
		Escalation: Logistic{Intercept: j.Escalation.Intercept},
	}
	copy(out.Means[:], j.Means)
	copy(out.Scales[:], j.Scales)
	copy(out.Resolution.Weights[:], j.Resolution.Weights)
	copy(out.Escalation.Weights[:], j.Escalation.Weights)
	if err := out.Validate(); err != nil {
		return err
	}
	*m = out
	return nil
}
