// Package escalate decides, turn by turn, when a call should be handed to
// a human under an agent's escalation rules. It is pure: the session feeds
// it what happened (the caller's words, their sentiment, whether the agent
// understood, how long the call has lasted) and acts on the reason it gets.
// A turn costs a few microseconds and allocates nothing.
//
// Every rule is explainable from the turn it fired on: a keyword the
// caller asked for (CallerSaid), a run of negative turns or a mood below
// the threshold (Scored), misunderstandings in a row (AgentReplied), the
// call's length (Elapsed).
//
// How well the recommended rules (RecommendedRules) do with the offline
// lexicon scorer is measured on labelled scripted calls in testdata:
//   - a development set (conversations.json and dev_added.json, 83 calls),
//     which the rules, the policy and the lexicon were chosen on;
//   - a held-out set (heldout.json, 47 calls), written before any of that,
//     used to choose nothing, and pinned by its SHA-256.
//
// Precision is the share of the calls the policy handed over that a
// supervisor would have; recall is the share of the calls a supervisor
// would have handed over that the policy did. TestLabelledConversations
// logs both figures with the confusion counts and the misclassified calls
// for each set, and fails if either figure falls below what was measured.
// On the held-out set they are 0.875 and 0.875: short of the 0.9 of issue
// 10, because of sarcasm, risks told in calm words, and anger that is not
// the agent's to answer. testdata/README.md says how the sets were written
// and labelled, and gives the figures before and after this policy.
package escalate

import (
	"math"
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
// rule looks at: enough to ride out one sharp word, few enough to follow a
// caller who is getting angrier.
const sentimentWindow = 3

// loneTurnAfter is the caller turn from which one turn below the sentiment
// threshold is enough, when it is the only one in the window that carried
// a mood: by then the agent has answered twice, and a caller who is angry
// now has not been helped. Before it the rule waits for a second such turn.
const loneTurnAfter = 3

// negationReach is how many words before a keyword a negator may stand
// and still take the request back ("I don't want to talk to a human").
const negationReach = 8

// maxScores bounds the scores a policy keeps (an hour-long call has a few
// hundred turns at most; the rules look at the last few).
const maxScores = 64

// Policy is one call's escalation state. The zero value has no rules. It
// is not safe for concurrent use: the session's run goroutine owns it.
type Policy struct {
	rules    store.EscalationRules
	keywords [][]string // each keyword as lower-case words
	said     []span     // the latest caller words, reused
	negRun   int
	fbRun    int
	turns    int // caller turns scored
	scores   []float64
}

// New returns the policy of a call under rules. Rules left at zero are off:
// no keywords, NegativeTurns 0, SentimentBelow 0, RepeatedFallbacks 0,
// MaxDurationSeconds 0.
func New(rules store.EscalationRules) *Policy {
	p := &Policy{rules: rules, scores: make([]float64, 0, 8)}
	for _, k := range rules.Keywords {
		var w []string
		for _, s := range split(k, nil) {
			if !s.brk {
				w = append(w, strings.ToLower(s.w))
			}
		}
		if len(w) > 0 {
			p.keywords = append(p.keywords, w)
		}
	}
	return p
}

// CallerSaid checks the caller's words against the keyword rule: a keyword
// matches as whole words, case-insensitively ("manager" matches "Get me
// your Manager!", not "management"), except where the caller is not asking
// for it:
//   - taken back by a negator earlier in the same clause that governs a
//     request ("I don't want to talk to a human", "no need to put me
//     through to a manager", "I'm not asking for a supervisor"), but not a
//     question ("can't I speak to a manager?") nor a negation of something
//     else ("I'm not happy, get me a manager");
//   - someone else's ("my manager asked me to book", "our account
//     manager", "my mum's supervisor");
//   - the subject of a statement about them ("the manager at your shop was
//     lovely", "your supervisor said...").
func (p *Policy) CallerSaid(text string) store.EscalationReason {
	if len(p.keywords) == 0 {
		return ""
	}
	p.said = split(text, p.said[:0])
	said := p.said
	for _, k := range p.keywords {
		for i := 0; i+len(k) <= len(said); i++ {
			if matchAt(said, i, k) && requested(said, i, len(k)) {
				return store.EscalationKeyword
			}
		}
	}
	return ""
}

// Scored records the sentiment score (-1..1) of the caller's latest turn
// and checks the sentiment rules:
//   - negative_turns: this many caller turns in a row at or below
//     NegativeScore;
//   - sentiment_below: the caller's latest turn and their mood are both
//     below the threshold. Their mood is the mean of those of the last
//     three caller turns that carried one (scored beyond
//     ±ai.SentimentThreshold): a turn that only gives facts ("order ending
//     552") says nothing of the caller's mood, and neither waters it down
//     nor lifts it. The rule waits for two such turns, or for caller turn
//     loneTurnAfter, so that one sharp word in the opening does not hand a
//     caller over; a caller who is calming down (the latest turn at or
//     above the threshold) is let be.
func (p *Policy) Scored(score float64) store.EscalationReason {
	if len(p.scores) == maxScores {
		copy(p.scores, p.scores[1:])
		p.scores = p.scores[:maxScores-1]
	}
	p.scores = append(p.scores, score)
	p.turns++
	if score <= NegativeScore {
		p.negRun++
	} else {
		p.negRun = 0
	}
	if n := p.rules.NegativeTurns; n > 0 && p.negRun >= n {
		return store.EscalationNegativeTurns
	}
	th := p.rules.SentimentBelow
	if th == 0 || score > NegativeScore || score >= th {
		return ""
	}
	var sum float64
	var moods int
	for _, s := range p.scores[max(0, len(p.scores)-sentimentWindow):] {
		if math.Abs(s) >= ai.SentimentThreshold {
			sum += s
			moods++
		}
	}
	if (moods >= 2 || p.turns >= loneTurnAfter) && sum/float64(moods) < th {
		return store.EscalationSentiment
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

// span is one word of an utterance, a slice of its text, or a clause
// break (punctuation, or "but").
type span struct {
	w   string
	brk bool
}

// split appends the words of s to into, with a break for each , ; : . ! ?
// and for "but". Apostrophes stay inside words ("don't").
func split(s string, into []span) []span {
	start := -1
	for i, r := range s {
		word := unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' || r == '\u2019'
		if word && start < 0 {
			start = i
		}
		if !word && start >= 0 {
			into = appendWord(into, s[start:i])
			start = -1
		}
		if !word && strings.ContainsRune(",;:.!?\u2013\u2014", r) {
			into = append(into, span{brk: true})
		}
	}
	if start >= 0 {
		into = appendWord(into, s[start:])
	}
	return into
}

func appendWord(into []span, w string) []span {
	if strings.EqualFold(w, "but") {
		return append(into, span{brk: true})
	}
	return append(into, span{w: w})
}

// matchAt reports whether keyword k starts at ws[i].
func matchAt(ws []span, i int, k []string) bool {
	for j, w := range k {
		if ws[i+j].brk || !strings.EqualFold(ws[i+j].w, w) {
			return false
		}
	}
	return true
}

// Words of the keyword rule's exceptions.
var (
	// negators take a request back when a request word follows them.
	negators = []string{"not", "no", "nope", "never", "nobody", "cannot", "dont", "doesnt", "didnt", "cant", "wont",
		"wouldnt", "shouldnt"}
	// requestWords, right after a negator, make it govern a request:
	// "don't want", "no need", "not asking", "don't put me through".
	requestWords = []string{"want", "wanna", "need", "needs", "ask", "asking", "require", "wish", "think", "speak",
		"talk", "transfer", "put", "get", "have", "a", "an", "any", "to", "for", "be", "looking"}
	// freshStart words end a negator's reach in speech without commas:
	// "i don't want to wait i want a manager", "not happy just get me a
	// manager".
	freshStart = []string{"i", "im", "just", "so", "and", "then", "now", "please"}
	// askers, right after an "n't" word, make it a question:
	// "can't I speak to a manager?", "why don't you put me through?".
	askers = []string{"i", "you", "we", "someone", "somebody", "anyone"}
	// owners, one or two words before a keyword, make it someone else's:
	// "my manager", "our account manager", "my mum's manager" (a bare
	// "'s" owns nothing: "someone's hacked it").
	owners = []string{"my", "our", "his", "her", "their"}
	// determiners may stand before the subject of a statement.
	determiners = []string{"the", "your", "that", "this", "a", "an"}
	// reports, after a subject, make the clause a statement about it:
	// "the manager at your shop was lovely".
	reports = []string{"was", "were", "is", "has", "had", "said", "says", "told", "came", "who", "that", "at",
		"from", "gave", "called", "rang", "sent", "did", "does"}
)

// oneOf reports whether w is one of list, ignoring case and apostrophes
// ("Don't" is "dont").
func oneOf(w string, list []string) bool {
	for _, l := range list {
		if equalFoldNoApostrophe(w, l) {
			return true
		}
	}
	return false
}

// equalFoldNoApostrophe compares w, less its apostrophes, with lower-case
// ASCII l.
func equalFoldNoApostrophe(w, l string) bool {
	j := 0
	for _, r := range w {
		if r == '\'' || r == '\u2019' {
			continue
		}
		if j >= len(l) || unicode.ToLower(r) != rune(l[j]) {
			return false
		}
		j++
	}
	return j == len(l)
}

// isNegator reports whether w negates: a negator, or any "n't" word.
func isNegator(w string) bool { return oneOf(w, negators) || endsNt(w) }

// endsNt reports whether w ends in "n't", in any case.
func endsNt(w string) bool {
	n := len(w)
	if n < 3 || w[n-1]|0x20 != 't' {
		return false
	}
	w = w[:n-1]
	switch {
	case strings.HasSuffix(w, "'"):
		w = w[:len(w)-1]
	case strings.HasSuffix(w, "\u2019"):
		w = w[:len(w)-len("\u2019")]
	default:
		return false
	}
	return len(w) > 0 && w[len(w)-1]|0x20 == 'n'
}

// requested reports whether the keyword of n words at ws[i] is asked for:
// not taken back by a negator, not someone else's, not the subject of a
// statement (see CallerSaid).
func requested(ws []span, i, n int) bool {
	// the clause before the keyword, nearest word first
	clauseStart := i
	for clauseStart > 0 && !ws[clauseStart-1].brk {
		clauseStart--
	}
	if i > clauseStart && oneOf(ws[i-1].w, owners) || i-1 > clauseStart && oneOf(ws[i-2].w, owners) {
		return false // "my manager", "our account manager"
	}
	subject := true
	for j := clauseStart; j < i; j++ {
		if !oneOf(ws[j].w, determiners) {
			subject = false
			break
		}
	}
	if subject && i+n < len(ws) && !ws[i+n].brk && oneOf(ws[i+n].w, reports) {
		return false
	}
	for j := i - 1; j >= clauseStart && j >= i-negationReach; j-- {
		w := ws[j].w
		if oneOf(w, freshStart) && (j == clauseStart || !isNegator(ws[j-1].w)) {
			// "i don't want to wait i want a manager", but not "don't
			// just transfer me"
			break
		}
		if !isNegator(w) {
			continue
		}
		next := ws[j+1]
		if next.brk || j+1 >= i+n {
			continue
		}
		if strings.ContainsAny(w, "'\u2019") && oneOf(next.w, askers) {
			continue // "can't I speak to a manager?"
		}
		if j+1 == i || oneOf(next.w, requestWords) {
			return false
		}
	}
	return true
}
