// Package escalate decides, turn by turn, when a call should be handed to
// a human under an agent's escalation rules. It is pure: the session feeds
// it what happened (the caller's words, their sentiment, whether the agent
// understood, how long the call has lasted) and acts on the reason it gets.
package escalate

import (
	"strings"
	"time"
	"unicode"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/store"
)

// NegativeScore is the score at or below which a caller turn counts as
// negative for the negative_turns rule: the same line the analytics draw
// between neutral and negative.
const NegativeScore = -ai.SentimentThreshold

// sentimentWindow is how many of the latest caller turns the sentiment
// rule averages: enough to ride out one sharp word, few enough to follow
// a caller who is getting angrier.
const sentimentWindow = 3

// maxScores bounds the scores a policy keeps (an hour-long call has a few
// hundred turns at most; the rules look at the last few).
const maxScores = 64

// Policy is one call's escalation state. The zero value has no rules. It
// is not safe for concurrent use: the session's run goroutine owns it.
type Policy struct {
	rules    store.EscalationRules
	keywords [][]string // each keyword as lower-case words
	negRun   int
	fbRun    int
	scores   []float64
}

// New returns the policy of a call under rules. Rules left at zero are off:
// no keywords, NegativeTurns 0, SentimentBelow 0, RepeatedFallbacks 0,
// MaxDurationSeconds 0.
func New(rules store.EscalationRules) *Policy {
	p := &Policy{rules: rules, scores: make([]float64, 0, 8)}
	for _, k := range rules.Keywords {
		if w := words(k); len(w) > 0 {
			p.keywords = append(p.keywords, w)
		}
	}
	return p
}

// CallerSaid checks the caller's words against the keyword rule: a keyword
// matches as whole words, case-insensitively ("manager" matches "Get me
// your Manager!", not "management").
func (p *Policy) CallerSaid(text string) store.EscalationReason {
	if len(p.keywords) == 0 {
		return ""
	}
	said := words(text)
	for _, k := range p.keywords {
		if containsRun(said, k) {
			return store.EscalationKeyword
		}
	}
	return ""
}

// Scored records the sentiment score (-1..1) of the caller's latest turn
// and checks the sentiment rules:
//   - negative_turns: this many caller turns in a row at or below
//     NegativeScore;
//   - sentiment_below: from the second scored turn, the mean of the last
//     three is below the threshold and not rising (the trend over them is
//     flat or falling), so one sharp word does not hand a caller over, and
//     a caller who is calming down is let be.
func (p *Policy) Scored(score float64) store.EscalationReason {
	if len(p.scores) == maxScores {
		copy(p.scores, p.scores[1:])
		p.scores = p.scores[:maxScores-1]
	}
	p.scores = append(p.scores, score)
	if score <= NegativeScore {
		p.negRun++
	} else {
		p.negRun = 0
	}
	if n := p.rules.NegativeTurns; n > 0 && p.negRun >= n {
		return store.EscalationNegativeTurns
	}
	if th := p.rules.SentimentBelow; th != 0 && len(p.scores) >= 2 {
		last := p.scores[max(0, len(p.scores)-sentimentWindow):]
		if mean(last) < th && ai.Trend(last) <= 0 {
			return store.EscalationSentiment
		}
	}
	return ""
}

// AgentReplied records whether the agent's latest reply was its fallback
// (it did not understand) and checks the repeated_fallbacks rule: this many
// fallbacks in a row.
func (p *Policy) AgentReplied(fallback bool) store.EscalationReason {
	if fallback {
		p.fbRun++
	} else {
		p.fbRun = 0
	}
	if n := p.rules.RepeatedFallbacks; n > 0 && p.fbRun >= n {
		return store.EscalationRepeatedFallbacks
	}
	return ""
}

// MaxDuration is how long the agent may hold a call before handing it to a
// human; 0 for no limit.
func (p *Policy) MaxDuration() time.Duration {
	return time.Duration(p.rules.MaxDurationSeconds) * time.Second
}

// Elapsed checks the max_duration rule against how long the call has lasted.
func (p *Policy) Elapsed(d time.Duration) store.EscalationReason {
	if m := p.MaxDuration(); m > 0 && d >= m {
		return store.EscalationMaxDuration
	}
	return ""
}

// Trend is the least-squares slope of the call's caller scores per turn so
// far (0 with fewer than two), for the record and the live view.
func (p *Policy) Trend() float64 { return ai.Trend(p.scores) }

// words splits s into lower-case words of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
}

// containsRun reports whether run appears in ws as consecutive words.
func containsRun(ws, run []string) bool {
	for i := 0; i+len(run) <= len(ws); i++ {
		match := true
		for j, w := range run {
			if ws[i+j] != w {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
