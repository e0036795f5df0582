package main

import (
	"context"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// callRecord turns a finished call's summary into the rows the store keeps:
// the call, the caller as a customer of the agent's organization, and the
// end of the call with its transcript and events.
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
		if l := t.Latency; l != nil {
			ms := func(d time.Duration) int { return int(d.Milliseconds()) }
			st.Latency = &store.Latency{EndpointMs: ms(l.Endpoint), STTMs: ms(l.STT), LLMFirstToken: ms(l.LLMFirstToken),
				LLMFirstSentenceMs: ms(l.LLMFirstSentence), TTSFirstByteMs: ms(l.TTSFirstByte), OverheadMs: ms(l.Overhead)}
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
		Events:    callEvents(sum.Events),
	}
	if sum.EndReason == session.EndTransfer {
		end.EscalationReason = "caller asked for a human"
	}
	return call, customer, end
}

// callEvents turns the session's events into the store's, kept within the
// store's caps (store.CallEnd.Check) so that the record is never refused for
// them: the session already keeps at most as many and its details are a
// word; an event the store would refuse is dropped, a detail too long cut.
func callEvents(evs []session.Event) []store.CallEvent {
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

// sentimentBudget bounds the scoring of a finished call's caller turns: the
// record waits for it, and the lexicon answers what the model has not.
const sentimentBudget = 3 * time.Second

// scoreSentiment scores each caller turn (at most four at once), writes the
// score on the turn and returns the call's summary; nil without caller turns.
func scoreSentiment(ctx context.Context, sc local.SentimentScorer, turns []store.Turn) *store.Sentiment {
	var idx []int
	for i, t := range turns {
		if t.Speaker == store.SpeakerCaller && strings.TrimSpace(t.Text) != "" {
			idx = append(idx, i)
		}
	}
	if sc == nil || len(idx) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, sentimentBudget)
	defer cancel()
	scores := make([]float64, len(idx))
	var g errgroup.Group
	g.SetLimit(4)
	for k, i := range idx {
		g.Go(func() error {
			s, _ := sc.Score(ctx, turns[i].Text) // a scorer with a fallback always answers
			scores[k] = s.Score
			return nil
		})
	}
	_ = g.Wait()
	for k, i := range idx {
		v := scores[k]
		turns[i].Sentiment = &v
	}
	return summarize(scores)
}

// summarize is the sentiment summary of a call's caller turn scores, in
// order: mean, minimum, last, and the least-squares slope per turn.
func summarize(scores []float64) *store.Sentiment {
	n := float64(len(scores))
	s := &store.Sentiment{Min: scores[0], Last: scores[len(scores)-1], Turns: len(scores)}
	var sum, sx, sxy, sxx float64
	for i, v := range scores {
		x := float64(i)
		sum += v
		sx += x
		sxy += x * v
		sxx += x * x
		s.Min = min(s.Min, v)
	}
	s.Average = sum / n
	if d := n*sxx - sx*sx; d > 0 {
		s.Trend = (n*sxy - sx*sum) / d
	}
	return s
}
