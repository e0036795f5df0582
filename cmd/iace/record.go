package main

import (
	"github.com/iace/iace/ai"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// callRecord turns a finished call's summary into the rows the store keeps:
// the call, the caller as a customer of the agent's organization, and the
// end of the call with its transcript.
func callRecord(sum session.CallSummary) (store.Call, *store.Customer, store.CallEnd) {
	info := sum.Info
	org := info.OrgID
	callerSpoke := false
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
		}
		if t.Speaker == ai.RoleUser {
			st.Speaker = store.SpeakerCaller
			callerSpoke = true
		}
		if t.ReplyLatency > 0 {
			st.Latency = &store.Latency{OverheadMs: int(t.ReplyLatency.Milliseconds())}
		}
		turns = append(turns, st)
	}
	call := store.Call{
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
	}
	var customer *store.Customer
	if info.From != "" {
		customer = &store.Customer{OrgID: org, Phone: info.From}
	}
	end := store.CallEnd{
		OrgID:     org,
		CallID:    info.ID,
		EndedAt:   sum.EndedAt,
		Outcome:   sum.EndReason.Outcome(callerSpoke),
		EndReason: string(sum.EndReason),
		Turns:     turns,
	}
	if sum.EndReason == session.EndTransfer {
		end.EscalationReason = "caller asked for a human"
	}
	return call, customer, end
}
