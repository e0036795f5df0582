package session

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/store"
)

// The warm handoff: when a call goes to a human, the human is told why,
// what the caller wants, how they feel and who they are, in a few
// sentences. The summary is kept with the call (store.Call.Summary, shown
// by GET /calls/{id}) and rides on the transfer as the new leg's
// client_state (Telnyx target_leg_client_state), which Telnyx echoes in the
// webhooks of the human's leg.

// reasonWords say an escalation reason to a person.
var reasonWords = map[store.EscalationReason]string{
	store.EscalationCallerRequest:     "the caller asked for a person",
	store.EscalationKeyword:           "the caller used one of the agent's escalation keywords",
	store.EscalationSentiment:         "the caller is upset",
	store.EscalationNegativeTurns:     "the caller has been unhappy for several turns",
	store.EscalationRepeatedFallbacks: "the agent kept misunderstanding the caller",
	store.EscalationMaxDuration:       "the call went on too long",
	store.EscalationDTMF:              "the caller pressed 0",
	store.EscalationModelTool:         "the agent could not help",
	store.EscalationPredictedRisk:     "the call looked likely to need a person",
	store.EscalationProviderFailure:   "the AI agent failed",
	store.EscalationSupervisor:        "a supervisor transferred the call",
}

// maxIssueLen bounds the caller's words a summary quotes.
const maxIssueLen = 300

// handoffSummary is the summary a human gets with the call: at most
// store.MaxCallSummaryLen bytes, and nothing personal about a caller the
// agent did not verify beyond what they said on the call.
func (s *Session) handoffSummary() string {
	var b strings.Builder
	why := reasonWords[s.escalation]
	if why == "" {
		why = "the call was handed over"
	}
	b.WriteString("Handed over because ")
	b.WriteString(why)
	b.WriteString(". ")
	if issue := s.callerIssue(); issue != "" {
		b.WriteString(`The caller said: "`)
		b.WriteString(issue)
		b.WriteString(`". `)
	} else {
		b.WriteString("The caller said nothing the agent understood. ")
	}
	b.WriteString(moodSentence(s.record))
	b.WriteString(" ")
	b.WriteString(s.whoSentence())
	return cutText(b.String(), store.MaxCallSummaryLen)
}

// callerIssue is what the caller said that matters most: their first turn
// with some substance and, if different, their last, joined.
func (s *Session) callerIssue() string {
	var first, last string
	for _, t := range s.record {
		if t.Speaker != ai.RoleUser {
			continue
		}
		text := strings.Join(strings.Fields(t.Text), " ")
		if len(strings.Fields(text)) < 3 && first == "" {
			continue // "hello", "yes": not the issue
		}
		if first == "" {
			first = text
		}
		last = text
	}
	issue := first
	if last != "" && last != first {
		issue = first + " … " + last
	}
	return cutText(issue, maxIssueLen)
}

// moodSentence describes the caller's scored turns: their mean and where
// they were going.
func moodSentence(record []Turn) string {
	var scores []float64
	for _, t := range record {
		if t.Speaker == ai.RoleUser && t.Sentiment != nil {
			scores = append(scores, *t.Sentiment)
		}
	}
	if len(scores) == 0 {
		return "Their mood was not measured."
	}
	var sum float64
	for _, v := range scores {
		sum += v
	}
	avg := sum / float64(len(scores))
	mood := "neutral"
	switch {
	case avg <= -ai.SentimentThreshold:
		mood = "negative"
	case avg >= ai.SentimentThreshold:
		mood = "positive"
	}
	trend := ""
	if len(scores) >= 3 {
		switch t := ai.Trend(scores); {
		case t <= -0.1:
			trend = ", and getting worse"
		case t >= 0.1:
			trend = ", and improving"
		}
	}
	return fmt.Sprintf("Their mood is %s (%.2f over %d turns%s).", mood, avg, len(scores), trend)
}

// whoSentence says who the caller is, as far as the agent may tell: the
// customer's name only once the caller passed verification.
func (s *Session) whoSentence() string {
	ct := s.custTools
	switch {
	case ct == nil || s.start.From == "":
		return "The caller's number is not known to us."
	case ct.isVerified():
		if c, ok := ct.known(); ok && c.Name != "" {
			return fmt.Sprintf("They are %s, verified, a customer with %d earlier calls.", c.Name, c.CallCount)
		}
		return "They passed verification."
	default:
		if _, ok := ct.known(); ok {
			return "Their number belongs to a customer, but they were not verified on this call."
		}
		return "The caller's number is not a customer's, or was not checked."
	}
}

// maxHandoffState keeps the transfer's client_state within what the
// webhook takes back (1 KiB of base64) when Telnyx echoes it.
const maxHandoffState = 700

// handoffState is the new leg's client_state: the call, the reason and the
// summary, as JSON, the summary cut to fit maxHandoffState.
func handoffState(id CallID, reason store.EscalationReason, summary string) []byte {
	st := struct {
		Call    string `json:"iace_call_id"`
		Reason  string `json:"escalation_reason,omitempty"`
		Summary string `json:"summary,omitempty"`
	}{string(id), string(reason), summary}
	for {
		b, err := json.Marshal(st)
		if err == nil && len(b) <= maxHandoffState || st.Summary == "" {
			return b
		}
		st.Summary = cutText(st.Summary, len(st.Summary)-(len(b)-maxHandoffState)-1)
	}
}

// cutText shortens s to at most n bytes on a word boundary when one fits,
// else on a rune boundary, marking the cut with "…".
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	n = max(n-len(ellipsis), 0)
	if i := strings.LastIndexByte(s[:n+1], ' '); i > n/2 {
		return s[:i] + ellipsis
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}
