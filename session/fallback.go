package session

import (
	"context"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/store"
)

// maxFailedReplies is how many replies in a row may fail before a call
// without a transfer number is ended: by then the caller has heard the
// holding phrase twice and nothing else.
const maxFailedReplies = 2

// What follows a holding phrase, the values of the holding metric's label.
const (
	holdingTransfer = "transfer"
	holdingContinue = "continue"
	holdingHangup   = "hangup"
)

// fallBack keeps a caller whose turn failed (the model before or while
// answering, or the synthesizer) from hearing silence: what was already
// queued plays out, then the holding phrase, then a transfer when the agent
// has a number to transfer to. Without one the call goes on, the caller can
// ask again, until maxFailedReplies in a row end it.
func (s *Session) fallBack(ctx context.Context, t *turn) {
	s.closeTurn(s.fullText(t), false)
	why := "synthesizer"
	if t.failed {
		why = "chat model"
	}
	s.failedReplies++
	s.holdOn(ctx, why, t.action, s.failedReplies >= maxFailedReplies)
}

// holdOn says the holding phrase as a turn of its own, pre-rendered when it
// can be (it plays even with the synthesizer down), and sets what follows it:
// action if the failed turn had one, else a transfer when the agent has a
// number, else a hang-up when giveUp, else nothing (the call goes on).
func (s *Session) holdOn(ctx context.Context, why string, action ai.ToolCall, giveUp bool) {
	escalation := store.EscalationReason("")
	if action.Name == toolTransfer {
		escalation = toolEscalation(action) // the model had asked for it before the failure
	}
	if action.Name == "" && s.agent.TransferNumber != "" {
		action = ai.ToolCall{Name: toolTransfer, Arguments: `{"reason":"` + why + ` failed"}`}
		escalation = store.EscalationProviderFailure
	}
	then := holdingContinue
	switch {
	case action.Name == toolTransfer:
		then = holdingTransfer
	case action.Name != "" || giveUp:
		then = holdingHangup
	}
	audio, rendered := s.eng.holding.get(s.holdingKey())
	var t *turn
	if rendered {
		tctx, w := s.newTurn(ctx, false, turnHolding)
		w.synth = renderedSpeech{audio: audio}
		t = s.turn
		sentences := make(chan string, 1)
		sentences <- s.eng.cfg.HoldingPhrase // one piece: the audio is the whole phrase
		close(sentences)
		s.turns.Go(func() { w.speak(tctx, sentences) })
	} else {
		t = s.say(ctx, s.eng.cfg.HoldingPhrase, turnHolding)
	}
	t.action = action
	t.escalation = escalation
	t.giveUp = giveUp && action.Name == ""
	s.eng.metrics.holding.WithLabelValues(then).Inc()
	s.addEvent(EventHoldingPhrase, why)
	switch then {
	case holdingContinue:
		s.log.Warn("provider failed: holding phrase said; no transfer number, the call goes on", "provider", why, "pre_rendered", rendered)
	case holdingHangup:
		s.log.Warn("provider failed: holding phrase said, then the call ends", "provider", why, "pre_rendered", rendered)
	default:
		s.log.Warn("provider failed: holding phrase said, then a transfer", "provider", why, "pre_rendered", rendered)
	}
}

// transcriberLost: without speech recognition the agent cannot hear the
// caller, so the call cannot go on with it. The caller hears the holding
// phrase and is transferred, or the call ends.
func (s *Session) transcriberLost(ctx context.Context) {
	s.stopTurn()
	s.holdOn(ctx, "transcriber", ai.ToolCall{}, true)
}
