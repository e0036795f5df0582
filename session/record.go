package session

import (
	"strings"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/store"
)

// CallerSpoke reports whether the caller said anything on the call.
func (sum CallSummary) CallerSpoke() bool {
	for _, t := range sum.Transcript {
		if t.Speaker == ai.RoleUser {
			return true
		}
	}
	return false
}

// Outcome is how the call went for the organization (CallOutcome).
func (sum CallSummary) Outcome() store.Outcome {
	return CallOutcome(sum.EndReason, sum.Escalation, sum.CallerSpoke())
}

// CallRecord is what the store keeps of a finished call: the call, the
// caller as a customer of the agent's organization (nil for an unknown
// number), and the end of the call with its transcript and events.
type CallRecord struct {
	Call     store.Call
	Customer *store.Customer
	End      store.CallEnd
	// PatternsUsed informed the agent's replies: their use is counted,
	// and their success if the call was resolved.
	PatternsUsed []store.PatternID
}

// Record builds the call record of a finished call from its summary. The
// outcome and the escalation reason are the session's own: the end
// reason already says whether a transfer really happened.
func (sum CallSummary) Record() CallRecord {
	info := sum.Info
	org := info.OrgID
	turns := make([]store.Turn, 0, len(sum.Transcript))
	for i, t := range sum.Transcript {
		st := store.Turn{
			CallID:      info.ID,
			Seq:         i + 1,
			Speaker:     store.SpeakerAgent,
			Text:        t.Text,
			StartedAt:   t.StartedAt,
			EndedAt:     t.EndedAt,
			Interrupted: t.Interrupted,
			Sentiment:   t.Sentiment,
		}
		if t.Speaker == ai.RoleUser {
			st.Speaker = store.SpeakerCaller
		}
		if l := t.Latency; l != nil {
			ms := func(d time.Duration) int { return int(d.Milliseconds()) }
			st.Latency = &store.Latency{EndpointMs: ms(l.Endpoint), STTMs: ms(l.STT), LLMFirstToken: ms(l.LLMFirstToken),
				LLMFirstSentenceMs: ms(l.LLMFirstSentence), TTSFirstByteMs: ms(l.TTSFirstByte), OverheadMs: ms(l.Overhead)}
		}
		turns = append(turns, st)
	}
	rec := CallRecord{
		PatternsUsed: sum.PatternsUsed,
		Call: store.Call{
			ID:            info.ID,
			OrgID:         org,
			AgentID:       info.AgentID,
			CallControlID: info.CallControlID,
			CallSessionID: info.CallSessionID,
			Direction:     "incoming",
			From:          info.From,
			To:            info.To,
			Status:        store.CallActive,
			StartedAt:     info.StartedAt,
			AnsweredAt:    &info.StartedAt,
		},
		End: store.CallEnd{
			OrgID:            org,
			CallID:           info.ID,
			EndedAt:          sum.EndedAt,
			Outcome:          sum.Outcome(),
			EndReason:        string(sum.EndReason),
			EscalationReason: string(sum.Escalation),
			Turns:            turns,
			Events:           storeEvents(sum.Events),
			Summary:          sum.Handoff,
			Prediction:       sum.Prediction,
		},
	}
	if info.From != "" {
		rec.Customer = &store.Customer{OrgID: org, Phone: info.From}
	}
	return rec
}

// storeEvents turns the session's events into the store's, kept within the
// store's caps (store.CallEnd.Check) so that the record is never refused for
// them: the session already keeps at most as many and its details are a
// word; an event the store would refuse is dropped, a detail too long cut.
func storeEvents(evs []Event) []store.CallEvent {
	if len(evs) == 0 {
		return nil
	}
	out := make([]store.CallEvent, 0, min(len(evs), store.MaxCallEvents))
	for _, ev := range evs {
		if len(out) == store.MaxCallEvents {
			break
		}
		kind := string(ev.Kind)
		if kind == "" || len(kind) > store.MaxEventKindLen || ev.At.IsZero() {
			continue
		}
		detail := ev.Detail
		if len(detail) > store.MaxEventDetailLen {
			detail = strings.ToValidUTF8(detail[:store.MaxEventDetailLen], "")
		}
		out = append(out, store.CallEvent{At: ev.At, Kind: kind, Detail: detail})
	}
	return out
}
