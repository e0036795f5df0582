package session

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/store"
)

func score(v float64) *float64 { return &v }

// TestAnEndedCallFeedsTheBusinessSeries: a resolved call is timed to its
// resolution, its caller's scored turns averaged, its patterns counted and
// its prediction checked against its outcome; an escalated one is not
// timed as resolved.
func TestAnEndedCallFeedsTheBusinessSeries(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	resolved := CallSummary{EndReason: EndAgentHangup,
		Transcript: []Turn{
			{Speaker: ai.RoleAssistant, Text: "Hello."},
			{Speaker: ai.RoleUser, Text: "hours?", Sentiment: score(0.5)},
			{Speaker: ai.RoleUser, Text: "thanks", Sentiment: score(-0.1)},
			{Speaker: ai.RoleUser, Text: "bye"}, // not scored in time: left out
		},
		PatternsUsed: []store.PatternID{"p1", "p2"},
		Prediction:   &store.CallPrediction{Resolution: 0.8}}
	m.ended(resolved, 42*time.Second)
	escalated := CallSummary{EndReason: EndTransfer, Escalation: store.EscalationKeyword,
		Transcript: []Turn{{Speaker: ai.RoleUser, Text: "a human"}},
		Prediction: &store.CallPrediction{Resolution: 0.7}}
	m.ended(escalated, 10*time.Second)

	if got := histogram(t, m.resolution); got.GetSampleCount() != 1 || got.GetSampleSum() != 42 {
		t.Errorf("resolution time: %d observations summing to %v, want the resolved call's 42 s only",
			got.GetSampleCount(), got.GetSampleSum())
	}
	if got := histogram(t, m.sentiment); got.GetSampleCount() != 1 || got.GetSampleSum() != 0.2 {
		t.Errorf("sentiment: %d observations summing to %v, want one, the mean 0.2 of the scored turns",
			got.GetSampleCount(), got.GetSampleSum())
	}
	if v := testutil.ToFloat64(m.patternsUsed); v != 2 {
		t.Errorf("%v patterns used, want 2", v)
	}
	if hit, miss := testutil.ToFloat64(m.predictions.WithLabelValues(predictionHit)),
		testutil.ToFloat64(m.predictions.WithLabelValues(predictionMiss)); hit != 1 || miss != 1 {
		t.Errorf("predictions: %v hit, %v miss; want the resolved call a hit and the escalated one a miss", hit, miss)
	}
}

// histogram is h's one series as exported.
func histogram(t *testing.T, h prometheus.Histogram) *dto.Histogram {
	t.Helper()
	var pb dto.Metric
	if err := h.Write(&pb); err != nil {
		t.Fatal(err)
	}
	return pb.GetHistogram()
}
