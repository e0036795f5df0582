package store

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// What the intelligence around a call keeps: the handoff summary a human
// gets with a transferred call, the call's outcome prediction at its end,
// and an organization's trained prediction models, versioned.

// Caps of the intelligence rows, checked by every backend before it writes.
const (
	MaxCallSummaryLen        = 1000     // bytes of Call.Summary
	MaxPredictionFeaturesLen = 1024     // bytes of CallPrediction.Features
	MaxPredictionModelLen    = 64 << 10 // bytes of PredictionModel.Model
	// MaxPredictionModels is how many versions of an organization's model
	// are kept: SavePredictionModel drops the oldest beyond it.
	MaxPredictionModels = 10
	// MaxLabelledCalls bounds one LabelledCalls read.
	MaxLabelledCalls = 10_000
	// MaxMemorySummaryLen bounds Customer.MemorySummary.
	MaxMemorySummaryLen = 2000
)

// CallPrediction is a call's outcome prediction when it ended (ai/predict),
// kept with the call: what the model said, which model said it, and the
// features it said it from, which are what a later training learns from.
type CallPrediction struct {
	// Resolution is the predicted probability that the call ends resolved,
	// EscalationRisk that it goes to a human, each 0..1.
	Resolution     float64 `json:"resolution"`
	EscalationRisk float64 `json:"escalation_risk"`
	// ModelVersion is the PredictionModel.Version that predicted; 0 is the
	// documented prior.
	ModelVersion int `json:"model_version"`
	// Features are the call's features at its end, as ai/predict encodes
	// them (a JSON object), at most MaxPredictionFeaturesLen bytes. The
	// store keeps the same JSON object, compacted: not necessarily the same
	// bytes (PostgreSQL's jsonb orders keys its own way), so a reader
	// decodes them rather than compares bytes.
	Features json.RawMessage `json:"features,omitempty"`
}

// PredictionModel is one trained version of an organization's outcome
// prediction model.
type PredictionModel struct {
	OrgID OrgID
	// Version is given by SavePredictionModel: 1 for the organization's
	// first model, then one more than its latest.
	Version   int
	TrainedAt time.Time
	// Examples is how many labelled calls it was trained on.
	Examples int
	// ResolutionAUC and EscalationAUC are measured on calls held out of
	// the training, 0..1 (0 when too few to measure).
	ResolutionAUC float64
	EscalationAUC float64
	// Model is the model itself as ai/predict encodes it (a JSON object),
	// at most MaxPredictionModelLen bytes. The store keeps the same JSON
	// object, compacted (see CallPrediction.Features).
	Model json.RawMessage
	// CreatedAt is when it was saved: now when zero.
	CreatedAt time.Time
}

// LabelledCall is a finished call a prediction model can learn from: its
// outcome and the features it ended with (CallPrediction.Features).
type LabelledCall struct {
	CallID   CallID
	EndedAt  time.Time
	Outcome  Outcome
	Features json.RawMessage
}

// LabelledQuery narrows LabelledCalls: the calls that ended after After
// (zero: any), at most Limit of them (default and at most
// MaxLabelledCalls).
type LabelledQuery struct {
	After time.Time
	Limit int
}

// PredictionStats says how well a bucket's predictions came true, over its
// ended calls that carry a prediction and an outcome.
type PredictionStats struct {
	// Predicted counts those calls.
	Predicted int
	// Accuracy is the share of them whose prediction came true: resolved
	// when Resolution was at least one half, not resolved otherwise (0
	// when Predicted is 0).
	Accuracy float64
	// Brier is the mean squared error of Resolution against the outcome
	// (1 for resolved, 0 for any other), 0..1, lower is better (0 when
	// Predicted is 0).
	Brier float64
}

// Check applies the write rules of a call's prediction: probabilities in
// 0..1, a model version of 0 (the prior) or more, and features that are
// absent or a JSON object of at most MaxPredictionFeaturesLen bytes. Its
// error wraps ErrInvalid.
func (p *CallPrediction) Check() error {
	switch {
	case !unitInterval(p.Resolution):
		return invalidf("prediction: resolution %v is not in 0..1", p.Resolution)
	case !unitInterval(p.EscalationRisk):
		return invalidf("prediction: escalation risk %v is not in 0..1", p.EscalationRisk)
	case p.ModelVersion < 0:
		return invalidf("prediction: model version %d is negative", p.ModelVersion)
	case len(p.Features) > MaxPredictionFeaturesLen:
		return invalidf("prediction: features are %d bytes, more than %d", len(p.Features), MaxPredictionFeaturesLen)
	case len(p.Features) > 0 && !isJSONObject(p.Features):
		return invalidf("prediction: features are not a JSON object")
	}
	return nil
}

// Check applies the write rules of a prediction model: an organization, a
// training time, a count of examples of 0 or more, AUCs in 0..1 and a Model
// that is a JSON object of at most MaxPredictionModelLen bytes. Version is
// not checked: SavePredictionModel gives it. Its error wraps ErrInvalid.
func (m *PredictionModel) Check() error {
	switch {
	case m.OrgID == "":
		return invalidf("prediction model: org id is empty")
	case m.TrainedAt.IsZero():
		return invalidf("prediction model: no training time")
	case m.Examples < 0:
		return invalidf("prediction model: %d examples", m.Examples)
	case !unitInterval(m.ResolutionAUC):
		return invalidf("prediction model: resolution AUC %v is not in 0..1", m.ResolutionAUC)
	case !unitInterval(m.EscalationAUC):
		return invalidf("prediction model: escalation AUC %v is not in 0..1", m.EscalationAUC)
	case len(m.Model) > MaxPredictionModelLen:
		return invalidf("prediction model: model is %d bytes, more than %d", len(m.Model), MaxPredictionModelLen)
	case !isJSONObject(m.Model):
		return invalidf("prediction model: model is not a JSON object")
	}
	return nil
}

// CheckMemorySummary trims a customer's memory summary and checks it: at
// most MaxMemorySummaryLen bytes of UTF-8 text without NUL. It returns the
// trimmed summary; its error wraps ErrInvalid.
func CheckMemorySummary(s string) (string, error) {
	s = strings.TrimSpace(s)
	if err := checkText("memory summary", s, MaxMemorySummaryLen); err != nil {
		return "", err
	}
	return s, nil
}

// checkText checks a free text field: at most limit bytes of UTF-8 without
// NUL (which no backend can keep in a text column).
func checkText(what, s string, limit int) error {
	switch {
	case len(s) > limit:
		return invalidf("%s is %d bytes, more than %d", what, len(s), limit)
	case !utf8.ValidString(s):
		return invalidf("%s is not UTF-8 text", what)
	case strings.IndexByte(s, 0) >= 0:
		return invalidf("%s holds a NUL character", what)
	}
	return nil
}

// unitInterval reports whether x is in 0..1 (NaN is not).
func unitInterval(x float64) bool { return x >= 0 && x <= 1 }

// isJSONObject reports whether b is one valid JSON object (surrounding
// white space allowed).
func isJSONObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(b)
}
