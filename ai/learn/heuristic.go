package learn

import (
	"context"

	"github.com/iace/iace/store"
)

// Extractor finds what a finished call teaches. It returns at most
// MaxCandidates candidates, each with a non-empty trigger; none for a call
// that teaches nothing (abandoned, failed, or nothing but small talk).
type Extractor interface {
	Extract(ctx context.Context, c Call) ([]Candidate, error)
}

// Intent actions that end a caller's question rather than answer it
// (store.Intent.Action).
const (
	actionTransfer = "transfer"
	actionEndCall  = "end_call"
)

// minContentWords is how many words other than small talk a caller turn
// needs to be a question, and an agent turn to be an answer.
const minContentWords = 2

// Heuristic is the offline extractor: deterministic rules over the
// transcript and the agent's intents, no model.
//
// From a resolved call it takes each caller question and the agent reply
// that follows it: a question is a caller turn with at least two words that
// are not small talk (the last such turn when the caller spoke several
// times in a row); an answer is an agent reply heard whole (not
// interrupted) that is neither the greeting, nor the fallback, nor a
// goodbye or a hand-over (the reply of an intent whose action is end_call
// or transfer, or a reply of small talk). Questions asked twice count once;
// the first MaxCandidates are kept, as KindFAQ.
//
// From an escalated call it takes one KindEscalation candidate: the last
// caller turn with any word that is not small talk before the agent handed
// the call over (the reply of a transfer intent), or before the call ended
// if it never did, with the call's escalation reason as its response.
//
// Abandoned and failed calls teach nothing. The words kept are cleaned of
// what looks personal (numbers, e-mail addresses); an intent's reply, which
// the agent's configuration holds, is kept as it is.
type Heuristic struct{}

// Extract applies the rules. Its error is always nil.
func (Heuristic) Extract(_ context.Context, c Call) ([]Candidate, error) {
	switch c.Outcome {
	case store.OutcomeResolved:
		return faqs(&c), nil
	case store.OutcomeEscalated:
		if e, ok := escalation(&c); ok {
			return []Candidate{e}, nil
		}
	}
	return nil, nil
}

// intentOf is the intent whose reply reply is, or nil.
func (c *Call) intentOf(reply string) *store.Intent {
	for i := range c.Intents {
		if sameText(c.Intents[i].Reply, reply) {
			return &c.Intents[i]
		}
	}
	return nil
}

// answer reports whether an agent turn answers something, and the words to
// keep of it.
func (c *Call) answer(t store.Turn) (string, bool) {
	if t.Interrupted || sameText(t.Text, c.Greeting) || sameText(t.Text, c.Fallback) {
		return "", false
	}
	if in := c.intentOf(t.Text); in != nil {
		if in.Action == actionEndCall || in.Action == actionTransfer {
			return "", false
		}
		return cut(in.Reply, MaxResponseLen), true
	}
	if contentWords(t.Text) < minContentWords {
		return "", false
	}
	return clean(t.Text, MaxResponseLen), true
}

func faqs(c *Call) []Candidate {
	var (
		out      []Candidate
		question string // the caller's last question not yet answered
	)
	for _, t := range c.turns() {
		if len(out) == MaxCandidates {
			break
		}
		if t.Speaker == store.SpeakerCaller {
			if contentWords(t.Text) >= minContentWords {
				question = t.Text
			}
			continue
		}
		q := question
		question = "" // whatever the agent said, the question had its reply
		if q == "" {
			continue
		}
		resp, ok := c.answer(t)
		if !ok {
			continue
		}
		trigger := clean(q, MaxTriggerLen)
		if contentWords(trigger) < minContentWords || asked(out, trigger) {
			continue
		}
		out = append(out, Candidate{Kind: KindFAQ, Trigger: trigger, Response: resp})
	}
	return out
}

// asked reports whether a candidate of cs has the trigger's words.
func asked(cs []Candidate, trigger string) bool {
	for _, c := range cs {
		if sameText(c.Trigger, trigger) {
			return true
		}
	}
	return false
}

func escalation(c *Call) (Candidate, bool) {
	last := ""
	for _, t := range c.turns() {
		if t.Speaker == store.SpeakerCaller {
			if contentWords(t.Text) > 0 {
				last = t.Text
			}
			continue
		}
		if in := c.intentOf(t.Text); in != nil && in.Action == actionTransfer && last != "" {
			break
		}
	}
	trigger := clean(last, MaxTriggerLen)
	if trigger == "" {
		return Candidate{}, false
	}
	return Candidate{Kind: KindEscalation, Trigger: trigger, Response: escalationResponse(c)}, true
}

// escalationResponse is what an escalation pattern answers: the call's
// escalation reason.
func escalationResponse(c *Call) string {
	if r := cut(c.EscalationReason, MaxResponseLen); r != "" {
		return r
	}
	return "escalated"
}
