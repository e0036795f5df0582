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

func TestKeywordsAskedForOnly(t *testing.T) {
	p := New(RecommendedRules())
	for _, tc := range []struct {
		said string
		want bool
	}{
		// asked for
		{"I'd like to speak to a manager, please.", true},
		{"Why can't I speak to a manager?", true},
		{"I'm not happy, get me a manager.", true},
		{"im not happy just get me a manager", true},
		{"no i want a supervisor", true},
		{"i dont want to wait i want a human", true},
		{"A live agent please, not a bot.", true},
		{"Can I talk to the manager?", true},
		{"Manager, please.", true},
		{"Who's in charge there?", true},
		{"get me ur manager now", true},
		{"Could you transfer me to a rep?", true},
		{"I want to make a formal complaint.", true},
		{"Someone's hacked my account.", true},
		{"Can I be transferred to your team leader?", true},
		{"I'd like this escalated, please.", true},
		{"Can I speak to someone more senior?", true},
		{"Is there anyone else I can talk to?", true},
		{"Is there nobody there that can help?", true},
		{"Can I have your MANAGER'S number?", true},
		{"Can I have your manager\u2019s number?", true},
		// a matter for a person, told calmly
		{"My father passed away last month.", true},
		{"My husband died in March.", true},
		{"It's about my late mother's account.", true},
		{"I'm the executor of her estate.", true},
		{"I'll be talking to my solicitor.", true},
		{"I'll see you in court.", true},
		{"Someone has stolen my card details.", true},
		{"I can smell gas in the hallway.", true},
		{"The pharmacy gave him the wrong dose.", true},
		{"I can\u2019t afford to pay this, I've nothing left.", true},
		// taken back
		{"I don't need a human, just my balance.", false},
		{"No, I don't want to talk to a human.", false},
		{"There's no need to put me through to anyone.", false},
		{"I'm not asking for a supervisor.", false},
		{"No, don't transfer me, you can do it.", false},
		{"I DON'T want a manager", false},
		{"I don\u2019t want a manager", false},
		// someone else's, or a statement about them
		{"My manager asked me to book a table.", false},
		{"Our account manager is away.", false},
		{"My mum's supervisor rang.", false},
		{"My solicitor needs a copy of the bill.", false},
		{"The manager at your shop was lovely.", false},
		{"Your supervisor said I'd get a refund.", false},
		{"The tour operator cancelled our transfer.", false},
		{"Your rep, Sam, was brilliant yesterday.", false},
		// who the caller is
		{"Hi, I'm the office manager at Greenway Dental.", false},
		{"I'm a solicitor acting for Mrs Green.", false},
		{"This is the duty manager at the Red Lion.", false},
		{"I work as a supervisor at the depot.", false},
		{"I'm in charge of ordering for the office.", false},
		// a compound noun
		{"I'm calling from the human resources department.", false},
		{"It was human error, I typed it wrong.", false},
		// not the keyword at all
		{"How much is it per person?", false},
		{"Can I pay in person?", false},
		{"Our management office.", false},
		{"My travel agent booked it.", false},
		{"No complaints at all.", false},
		{"My phone died, so I'm ringing back.", false},
		{"My son passed his driving test.", false},
		{"I have power of attorney for my mum.", false},
		{"I can't afford the premium plan, is there a cheaper one?", false},
	} {
		if got := p.CallerSaid(tc.said) != ""; got != tc.want {
			t.Errorf("%q: escalates %v, want %v", tc.said, got, tc.want)
		}
	}
}

func TestSentimentRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rules  store.EscalationRules
		scores []float64
		want   store.EscalationReason
		at     int // the turn it fires on, from 1; it fires on none before
	}{
		{"three negative turns in a row", store.EscalationRules{NegativeTurns: 3}, []float64{-0.3, -0.5, -0.6}, store.EscalationNegativeTurns, 3},
		{"a neutral turn breaks the run", store.EscalationRules{NegativeTurns: 3}, []float64{-0.3, -0.5, 0, -0.6}, "", 0},
		{"growing angrier below the threshold", store.EscalationRules{SentimentBelow: -0.3}, []float64{-0.1, -0.4, -0.7}, store.EscalationSentiment, 3},
		{"two angry turns, then a third", store.EscalationRules{SentimentBelow: -0.4}, []float64{-0.6, -0.6, -0.6}, store.EscalationSentiment, 3},
		{"two angry turns are the story", store.EscalationRules{SentimentBelow: -0.4}, []float64{-0.8, -0.8, 0.3, 0.6}, "", 0},
		{"one pleasant line between angry ones", store.EscalationRules{SentimentBelow: -0.4}, []float64{-0.6, 0.7, -0.8}, store.EscalationSentiment, 3},
		{"one sharp word is not enough", store.EscalationRules{SentimentBelow: -0.3}, []float64{-0.9}, "", 0},
		{"a sharp opening, then facts", store.EscalationRules{SentimentBelow: -0.4}, []float64{-0.9, 0, 0.1}, "", 0},
		{"facts do not water anger down", store.EscalationRules{SentimentBelow: -0.4}, []float64{0, 0, 0, -0.8}, store.EscalationSentiment, 4},
		{"angry once the agent has answered twice", store.EscalationRules{SentimentBelow: -0.4}, []float64{0, 0, -0.8}, store.EscalationSentiment, 3},
		{"a polite opening leaves the window", store.EscalationRules{SentimentBelow: -0.4}, []float64{0.5, -0.3, 0, -0.9}, store.EscalationSentiment, 4},
		{"a thank-you in the window lifts the mood", store.EscalationRules{SentimentBelow: -0.4}, []float64{0, 0.8, -0.7}, "", 0},
		{"calming down below the threshold", store.EscalationRules{SentimentBelow: -0.3}, []float64{-0.8, -0.2, 0.3}, "", 0},
		{"sentiment rules off", store.EscalationRules{}, []float64{-1, -1, -1, -1}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(tc.rules)
			for i, s := range tc.scores {
				got := p.Scored(s)
				if i+1 == tc.at {
					if got != tc.want {
						t.Errorf("after %v: %q, want %q", tc.scores[:i+1], got, tc.want)
					}
					return
				}
				if got != "" {
					t.Fatalf("fired %q after %v", got, tc.scores[:i+1])
				}
			}
			if tc.want != "" {
				t.Errorf("never fired, want %q at turn %d", tc.want, tc.at)
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

func TestATurnAllocatesNothing(t *testing.T) {
	p := New(RecommendedRules())
	p.CallerSaid("warm up the buffers, please")
	n := testing.AllocsPerRun(100, func() {
		p.CallerSaid("I'm not happy at all, I've been waiting for an hour and nobody called me back, it's not acceptable")
		p.Scored(-0.3)
		p.AgentReplied(false)
	})
	if n != 0 {
		t.Errorf("%v allocations a turn", n)
	}
}

func BenchmarkTurn(b *testing.B) {
	p := New(RecommendedRules())
	b.ReportAllocs()
	for b.Loop() {
		p.CallerSaid("I'm not happy at all, I've been waiting for an hour and nobody called me back, it's not acceptable")
		p.Scored(-0.3)
		p.AgentReplied(false)
	}
}
