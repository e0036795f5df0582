package predict

import (
	"slices"
	"testing"
)

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(42, 200), Generate(42, 200)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different calls")
	}
	if slices.Equal(a, Generate(43, 200)) {
		t.Error("different seeds gave the same calls")
	}
	if got := Generate(42, 50); !slices.Equal(got, a[:50]) {
		t.Error("a shorter run is not a prefix of a longer one")
	}
	if got := Generate(1, -1); len(got) != 0 {
		t.Errorf("%d calls for n = -1", len(got))
	}
}

func TestGenerateMakesPlausibleCalls(t *testing.T) {
	data := Generate(1, 2000)
	for i, e := range data {
		f := e.Features
		if f.CallerTurns < 1 || f.CallerTurns > 10 || f.Duration <= 0 ||
			f.SentimentMin < -1 || f.SentimentAvg < f.SentimentMin || f.SentimentAvg > 1 ||
			f.NegativeStreak > f.CallerTurns || f.PreviousEscalations > f.PreviousCalls {
			t.Fatalf("call %d: %+v", i, f)
		}
		if e.Resolved && e.Escalated {
			t.Fatalf("call %d both resolved and escalated", i)
		}
	}
	c := CountExamples(data)
	t.Logf("%+v", c)
	if c.Escalated < c.Total/10 || c.Escalated > c.Total/4 || c.Resolved < c.Total/2 || c.Resolved > c.Total*3/4 {
		t.Errorf("outcomes %+v, want 10-25%% escalated and 50-75%% resolved", c)
	}
}
