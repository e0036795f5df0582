package learn

import (
	"cmp"
	"slices"
	"time"

	"github.com/iace/iace/store"
)

// Kinds of the patterns learned (store.Pattern.Kind).
const (
	// KindFAQ: a caller's question (Trigger) and the agent's answer that
	// resolved it (Response).
	KindFAQ = "faq"
	// KindEscalation: what a caller said (Trigger) before the call went to
	// a human, and why it did (Response, the call's escalation reason).
	KindEscalation = "escalation"
)

// Caps of what is learned from one call.
const (
	// MaxCandidates is the most patterns one call teaches.
	MaxCandidates = 3
	// MaxTriggerLen bounds a trigger, in bytes: it is also the pattern's
	// first example.
	MaxTriggerLen = store.MaxPatternExampleLen
	// MaxResponseLen bounds a response, in bytes.
	MaxResponseLen = 1000
)

// Call is a finished call as learning reads it: its record, its transcript
// and the configuration of the agent that answered it.
type Call struct {
	OrgID   store.OrgID
	AgentID store.AgentID
	CallID  store.CallID
	Outcome store.Outcome
	// Caller is the caller's number ("" when withheld) and StartedAt when
	// the call began: the caller's memory (Memory) is kept by them.
	Caller    store.PhoneNumber
	StartedAt time.Time
	// EscalationReason says why an escalated call went to a human (the
	// store's escalation reasons: "caller_request", "keyword"...).
	EscalationReason string
	// Turns are the transcript, in any order: they are read by Seq.
	Turns []store.Turn
	// Intents, Greeting and Fallback are the agent's: a reply that is an
	// intent's is a known answer; the greeting and the fallback answer
	// nothing.
	Intents  []store.Intent
	Greeting string
	Fallback string
	// Learning is the agent's setting: off learns nothing, approve keeps
	// new patterns pending.
	Learning store.LearningMode
	// Counted are patterns whose use on this call was already counted
	// (they informed its replies): merging the call into one of them keeps
	// its example and its id, and adds no second use.
	Counted []store.PatternID
}

// NewCall is the Call of a finished call's record, with its transcript and
// the agent that answered it.
func NewCall(a store.Agent, c store.Call, turns []store.Turn) Call {
	return Call{
		OrgID: c.OrgID, AgentID: c.AgentID, CallID: c.ID, Outcome: c.Outcome, Caller: c.From, StartedAt: c.StartedAt,
		EscalationReason: c.EscalationReason, Turns: turns,
		Intents: a.Intents, Greeting: a.Greeting, Fallback: a.Fallback, Learning: a.Settings.Learning,
	}
}

// turns returns the call's turns in Seq order, without the empty ones.
func (c *Call) turns() []store.Turn {
	out := make([]store.Turn, 0, len(c.Turns))
	for _, t := range c.Turns {
		if words(t.Text) != nil {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b store.Turn) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// Candidate is a pattern found in a call, before it is embedded and stored.
type Candidate struct {
	Kind     string // KindFAQ or KindEscalation
	Trigger  string // the caller's words, at most MaxTriggerLen bytes
	Response string // the answer or the escalation reason, at most MaxResponseLen bytes
}
