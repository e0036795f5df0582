package escalate

import (
	"testing"
	"time"

	"github.com/iace/iace/store"
)

func TestKeywordsMatchWholeWordsInAnyCase(t *testing.T) {
	p := New(store.EscalationRules{Keywords: []string{"manager", "Cancel my account", "  "}})
	for _, tc := range []struct {
		said string
		want store.EscalationReason
	}{
		{"Get me your MANAGER, now!", store.EscalationKeyword},
		{"I want to cancel my account today", store.EscalationKeyword},
		{"our management team said so", ""},
		{"cancel the order, not my account", ""},
		{"", ""},
	} {
		if got := p.CallerSaid(tc.said); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.said, got, tc.want)
		}
	}
	if got := New(store.EscalationRules{}).CallerSaid("manager"); got != "" {
		t.Errorf("no keywords configured: %q", got)
	}
}

func TestSentimentRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rules  store.EscalationRules
		scores []float64
		want   store.EscalationReason // after the last score; none before
	}{
		{"three negative turns in a row", store.EscalationRules{NegativeTurns: 3}, []float64{-0.3, -0.5, -0.6}, store.EscalationNegativeTurns},
		{"a neutral turn breaks the run", store.EscalationRules{NegativeTurns: 3}, []float64{-0.3, -0.5, 0, -0.6}, ""},
		{"growing angrier below the threshold", store.EscalationRules{SentimentBelow: -0.3}, []float64{-0.1, -0.4, -0.7}, store.EscalationSentiment},
		{"one sharp word is not enough", store.EscalationRules{SentimentBelow: -0.3}, []float64{-0.9}, ""},
		{"calming down below the threshold", store.EscalationRules{SentimentBelow: -0.3}, []float64{-0.8, -0.6, -0.3}, ""},
		{"sentiment rules off", store.EscalationRules{}, []float64{-1, -1, -1, -1}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(tc.rules)
			for i, s := range tc.scores {
				got := p.Scored(s)
				if i < len(tc.scores)-1 && got != "" && tc.want != "" {
					t.Fatalf("fired %q after turn %d of %d", got, i+1, len(tc.scores))
				}
				if i == len(tc.scores)-1 && got != tc.want {
					t.Errorf("after %v: %q, want %q", tc.scores, got, tc.want)
				}
			}
		})
	}
}

func TestRepeatedFallbacksCountInARow(t *testing.T) {
	p := New(store.EscalationRules{RepeatedFallbacks: 2})
	if p.AgentReplied(true) != "" || p.AgentReplied(false) != "" || p.AgentReplied(true) != "" {
		t.Fatal("fired before two fallbacks in a row")
	}
	if got := p.AgentReplied(true); got != store.EscalationRepeatedFallbacks {
		t.Errorf("two fallbacks in a row: %q", got)
	}
}

func TestMaxDuration(t *testing.T) {
	p := New(store.EscalationRules{MaxDurationSeconds: 300})
	if p.Elapsed(299*time.Second) != "" || p.Elapsed(300*time.Second) != store.EscalationMaxDuration {
		t.Error("max duration fires at 300 s, not before")
	}
	if New(store.EscalationRules{}).Elapsed(10*time.Hour) != "" || New(store.EscalationRules{}).MaxDuration() != 0 {
		t.Error("no limit configured, yet it fired")
	}
}

func TestScoresAreBounded(t *testing.T) {
	p := New(store.EscalationRules{SentimentBelow: -0.5})
	for range 1000 {
		p.Scored(0.5)
	}
	if len(p.scores) > maxScores || cap(p.scores) > 2*maxScores {
		t.Errorf("%d scores kept (cap %d)", len(p.scores), cap(p.scores))
	}
}
