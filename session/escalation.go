package session

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/predict"
	"github.com/iace/iace/store"
)

// SentimentScorer scores the mood of one caller utterance, -1..1 (the
// offline lexicon, or a JSON-mode model that falls back to it).
type SentimentScorer interface {
	Score(ctx context.Context, text string) (ai.Sentiment, error)
}

// sentimentResult is a caller turn's score, back on the run goroutine.
type sentimentResult struct {
	turn  int // index in the session's record
	score float64
}

// scoreTurn scores caller turn i in the background, under the configured
// deadline; the result comes back through s.sentiments. The caller's reply
// never waits for it, and one that comes too late is dropped.
func (s *Session) scoreTurn(ctx context.Context, i int, text string) {
	sc := s.eng.deps.Sentiment
	if sc == nil {
		return
	}
	s.scoring.Go(func() { // owned by run: it cancels scoreCtx and waits
		ctx, cancel := context.WithTimeout(ctx, s.eng.cfg.SentimentTimeout)
		defer cancel()
		got, err := sc.Score(ctx, text)
		if err != nil {
			s.eng.metrics.providerError.WithLabelValues("sentiment").Inc()
			return
		}
		deliver(s, s.sentiments, sentimentResult{turn: i, score: got.Score}, ctx.Done())
	})
}

// onSentiment keeps a caller turn's score and runs the sentiment rules.
func (s *Session) onSentiment(ctx context.Context, r sentimentResult) {
	if r.turn < 0 || r.turn >= len(s.record) {
		return
	}
	v := r.score
	s.record[r.turn].Sentiment = &v
	if s.watched() {
		s.emit(LiveEvent{Kind: LiveSentiment, Turn: r.turn + 1, Sentiment: v})
	}
	s.tracker.CallerTurn(v)
	s.callerTurns++
	if reason := s.policy.Scored(v); reason != "" {
		s.escalate(ctx, reason)
	}
	s.updatePrediction(ctx)
}

// isFallback reports whether an agent reply is the agent's fallback: it
// did not understand the caller.
func (s *Session) isFallback(text string) bool {
	fb := strings.TrimSpace(s.agent.Fallback)
	return fb != "" && strings.EqualFold(strings.TrimSpace(text), fb)
}

// escalate hands the caller to a human because reason fired: the handoff
// phrase, then the transfer. A reply being spoken is let finish first; the
// handoff follows it. It reports whether the call is being handed over:
// not in dry run (the rule's firing is recorded as a would_escalate event),
// not when the agent has no transfer number while Call Control could have
// made the transfer, and not twice.
func (s *Session) escalate(ctx context.Context, reason store.EscalationReason) bool {
	if s.ending != "" || s.escalation != "" || s.pendingEscalation != "" {
		return false
	}
	if s.moving {
		return false // the call's state has gone to another node, which decides from here
	}
	if s.entry.role() == RoleTakeover {
		return false // a human has the call already
	}
	if s.agent.Escalation.DryRun {
		s.addEvent(EventWouldEscalate, string(reason))
		s.log.Info("escalation rule fired (dry run: the call goes on)", "escalation_reason", string(reason))
		return false
	}
	if s.agent.TransferNumber == "" && s.eng.deps.Calls != nil {
		s.addEvent(EventWouldEscalate, string(reason))
		s.log.Warn("escalation rule fired but the agent has no transfer number: the call goes on", "escalation_reason", string(reason))
		return false
	}
	if t := s.turn; t != nil && t.kind != turnGreeting && s.state != StateListening {
		s.pendingEscalation = reason // said after the current reply
		return true
	}
	s.handOff(ctx, reason)
	return true
}

// handOff says the handoff phrase as a turn whose action is the transfer.
func (s *Session) handOff(ctx context.Context, reason store.EscalationReason) {
	s.pendingEscalation = ""
	s.stopTurn()
	s.log.Info("escalation rule fired: handing the caller to a human", "escalation_reason", string(reason))
	t := s.say(ctx, s.eng.cfg.HandoffPhrase, turnHandoff)
	t.action = ai.ToolCall{Name: toolTransfer, Arguments: `{"reason":"` + string(reason) + `"}`}
	t.escalation = reason
}

// escalationDeadline is when the max_duration rule fires; zero for none.
func (s *Session) escalationDeadline() time.Time {
	if d := s.policy.MaxDuration(); d > 0 {
		return s.begun.Add(d)
	}
	return time.Time{}
}

// predictor is the model a call's prediction runs on when its organization
// has no trained one: the documented prior.
var predictor = predict.Prior()

// Predictors give an organization's current outcome prediction model
// without blocking (a cache kept fresh in the background); nil when the
// organization has none yet.
type Predictors interface {
	Predictor(org store.OrgID) *predict.Model
}

// predictorFor is the model an organization's calls are predicted by now:
// its latest trained one, or the prior.
func (e *Engine) predictorFor(org store.OrgID) *predict.Model {
	if e.deps.Predictors != nil {
		if m := e.deps.Predictors.Predictor(org); m != nil {
			return m
		}
	}
	return e.predictor
}

// finalPrediction is the call's prediction at its end, with the features
// it was made from, for the call record and the next training.
func (s *Session) finalPrediction(elapsed time.Duration) *store.CallPrediction {
	f := s.tracker.Features(elapsed)
	p := s.predictor.Predict(f)
	raw, err := json.Marshal(f)
	if err != nil {
		return nil // a struct of numbers and a bool
	}
	return &store.CallPrediction{Resolution: p.Resolution, EscalationRisk: p.EscalationRisk,
		ModelVersion: s.predictor.Version, Features: raw}
}

// predictMinTurns is how many caller turns the predicted_risk rule waits
// for: before them the prediction rests on the caller's history alone.
const predictMinTurns = 2

// updatePrediction runs the call's prediction on what is known after a
// turn, publishes it on the live call, and checks the predicted_risk rule.
func (s *Session) updatePrediction(ctx context.Context) {
	p := s.predictor.Predict(s.tracker.Features(time.Since(s.begun)))
	s.entry.predict(p.Resolution, p.EscalationRisk)
	if s.followed() {
		s.emitListed(LiveEvent{Kind: LivePrediction, Resolution: p.Resolution, EscalationRisk: p.EscalationRisk})
	}
	if th := s.agent.Escalation.PredictedRiskAbove; th > 0 && s.callerTurns >= predictMinTurns && p.EscalationRisk >= th {
		s.escalate(ctx, store.EscalationPredictedRisk)
	}
}
