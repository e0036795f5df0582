package session

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
	"github.com/iace/iace/store"
)

// The tools the session offers the model and carries out itself.
const (
	toolTransfer = "transfer_to_human"
	toolEndCall  = "end_call"
)

var sessionTools = []ai.Tool{
	{Name: toolTransfer, Description: "Hand the call to a human colleague when the caller asks for one or you cannot help.",
		Parameters: `{"type":"object","properties":{"reason":{"type":"string",` +
			`"description":"caller_request when the caller asked for a person; otherwise, in a few words, why you cannot help"}},"required":["reason"]}`},
	{Name: toolEndCall, Description: "End the call after saying goodbye, when the caller is done.",
		Parameters: `{"type":"object","properties":{"reason":{"type":"string"}},"required":["reason"]}`},
}

// sessionToolsNoTransfer are the session's tools without transfer_to_human.
var sessionToolsNoTransfer = sessionTools[1:]

// Turn is one entry of a call's transcript.
type Turn struct {
	Speaker     ai.Role // user or assistant
	Text        string
	StartedAt   time.Time
	EndedAt     time.Time
	Interrupted bool
	// ReplyLatency, on an agent turn that answers the caller, is the time from
	// the end of the caller's speech to the reply's first audio.
	ReplyLatency time.Duration
	// Latency splits ReplyLatency into its stages; nil when the turn was
	// not a measured reply.
	Latency *TurnLatency
	// Sentiment is a caller turn's score (-1..1), scored while the call
	// ran; nil when it was not (no scorer, or the score came too late).
	Sentiment *float64
}

// EventKind names something that happened in a call.
type EventKind string

// Call events, kept with the call for monitoring and the call record.
const (
	EventGreeting   EventKind = "greeting"
	EventCallerTurn EventKind = "caller_turn"
	// EventWouldEscalate: an escalation rule fired but the call was not
	// handed over (the agent's rules are in dry run, or it has no transfer
	// number); the detail is the escalation reason.
	EventWouldEscalate     EventKind = "would_escalate"
	EventAgentTurn         EventKind = "agent_turn"
	EventBargeIn           EventKind = "barge_in"
	EventDTMF              EventKind = "dtmf"
	EventTransferRequested EventKind = "transfer_requested"
	EventHoldingPhrase     EventKind = "holding_phrase"
	// EventSupervisorRole: a supervisor switched the call's role; the
	// detail is the new role (monitor, whisper, barge, takeover).
	EventSupervisorRole EventKind = "supervisor_role"
	// EventWhisper: a supervisor gave the AI guidance (its text is not
	// kept in the record).
	EventWhisper EventKind = "whisper"
	// EventRecovered: the call's node was lost, and this node took the
	// call up again from its last checkpoint.
	EventRecovered EventKind = "recovered"
)

// Event is one thing that happened in a call.
type Event struct {
	Kind EventKind
	At   time.Time
	// Detail qualifies it in a word: the provider that failed; the digit
	// pressed only when the agent collects digits
	// (store.AgentSettings.CollectDigits). Never personal data.
	Detail string
}

// maxEvents bounds a call's event log.
const maxEvents = 256

func (s *Session) addEvent(k EventKind, detail string) {
	if len(s.events) < maxEvents {
		s.events = append(s.events, Event{Kind: k, At: time.Now(), Detail: detail})
	}
	// The events whose detail says it all go out live as they are; the
	// turns and the barge-in go out with their words where they happen.
	switch k {
	case EventDTMF:
		if s.watched() {
			s.emit(LiveEvent{Kind: LiveDTMF, Digit: detail})
		}
	case EventTransferRequested, EventWouldEscalate, EventHoldingPhrase:
		if s.watched() {
			s.emit(LiveEvent{Kind: LiveKind(k), Reason: detail})
		}
	}
}

// say speaks a fixed text (the greeting) as a turn.
func (s *Session) say(ctx context.Context, text, kind string) *turn {
	tctx, w := s.newTurn(ctx, false, kind)
	sentences := fixed(text)
	s.turns.Go(func() { w.speak(tctx, sentences) })
	return s.turn
}

// startReply asks the model to answer the caller's words.
func (s *Session) startReply(ctx context.Context, text string) {
	s.stopTurn()
	s.callerTurn(ctx, text)
	if r := s.policy.CallerSaid(text); r != "" && s.escalate(ctx, r) {
		return // the handoff is said instead of a reply
	}
	s.takeWhispers()
	set := s.agent.Settings // the agent's own model settings; zero values take the client's
	req := ai.ChatRequest{
		Model:       set.Model,
		Temperature: set.Temperature,
		MaxTokens:   set.MaxTokens,
		Messages:    s.messages(),
		Tools:       s.tools(),
		Intents:     s.intents(),
		Fallback:    s.agent.Fallback,
		Answers:     s.answers(),
	}
	tctx, w := s.newTurn(ctx, true, turnReply)
	s.turn.timing = replyTiming{speechEnd: s.speechEnd, vadEnd: s.vadEnd, final: s.finalAt, requested: time.Now()}
	sentences := make(chan string, 8)
	s.turns.Go(func() { w.think(tctx, req, sentences) })
	s.turns.Go(func() { w.speak(tctx, sentences) })
	s.setState(StateThinking)
}

// callerTurn keeps what the caller said: in the history the model reads,
// the transcript and the live events; it is scored, and the caller's first
// words bring the patterns nearest to them.
func (s *Session) callerTurn(ctx context.Context, text string) {
	s.appendHistory(ai.Message{Role: ai.RoleUser, Content: text})
	s.record = append(s.record, Turn{Speaker: ai.RoleUser, Text: text, StartedAt: s.lastUtterance.startedAt, EndedAt: s.speechEnd})
	s.addEvent(EventCallerTurn, "")
	if s.watched() {
		s.emit(LiveEvent{Kind: LiveCallerTurn, Turn: len(s.record), Text: text})
	}
	s.scoreTurn(ctx, len(s.record)-1, text)
	if !s.refreshed {
		s.refreshed = true
		s.refreshPatterns(ctx, text)
	}
}

// newTurn makes t the current turn and returns the context its goroutines run
// under (cancelled when the turn closes) and their worker. The turn's span
// starts here; a reply's starts when the caller stopped speaking.
func (s *Session) newTurn(ctx context.Context, answers bool, kind string) (context.Context, *turnWorker) {
	now := time.Now()
	s.nextTurn++
	spanStart := now
	if answers && !s.speechEnd.IsZero() {
		spanStart = s.speechEnd
	}
	sctx, span := s.eng.tracer.Start(ctx, "turn", trace.WithTimestamp(spanStart),
		trace.WithAttributes(attrTurn.Int(s.nextTurn), attrTurnKind.String(kind)))
	tctx, cancel := context.WithCancel(sctx)
	t := &turn{id: s.nextTurn, seq: len(s.record) + 1, kind: kind, cancel: cancel, answers: answers, startedAt: now,
		gen: s.playout.Generation(), span: span}
	s.turn = t
	w := &turnWorker{id: t.id, gen: t.gen, events: s.turnEv, playout: s.playout, model: s.eng.deps.Chat,
		synth: s.eng.deps.Synth, voice: s.agent.Voice, lang: s.agent.Language, tools: s.customerTools()}
	return tctx, w
}

func (s *Session) onTurnEvent(ctx context.Context, ev *turnEvent) {
	t := s.turn
	if t == nil || ev.turn != t.id {
		return // from a turn already closed
	}
	switch ev.kind {
	case evFirstToken:
		t.firstToken = ev.at
	case evFirstAudio:
		t.audio = true
		if t.answers && !s.speechEnd.IsZero() {
			t.replyLatency = ev.at.Sub(s.speechEnd)
			media.ObserveSpan(t.span.SpanContext(), s.eng.metrics.replyLatency, float64(t.replyLatency.Milliseconds()))
			if !t.timing.requested.IsZero() {
				fa := firstAudio{firstToken: t.firstToken, ttsStart: ev.ttsStart, ttsFirstByte: ev.ttsFirstByte, at: ev.at}
				l := t.timing.split(fa)
				t.latency = &l
				s.eng.metrics.observeTurn(l, t.span.SpanContext())
				if s.watched() {
					s.emit(LiveEvent{Kind: LiveLatency, Turn: t.seq, ReplyLatency: t.replyLatency, Latency: l})
				}
				traceStages(trace.ContextWithSpan(ctx, t.span), s.eng.tracer, t.timing, fa)
			}
		}
	case evSentence:
		if n := len(t.sentences); n > 0 && t.sentences[n-1].start == ev.sentence.start {
			t.sentences[n-1].end = ev.sentence.end // its real end, once all its audio is queued
			break
		}
		t.sentences = append(t.sentences, ev.sentence)
		if s.watched() {
			s.emit(LiveEvent{Kind: LiveAgentText, Turn: t.seq, Text: ev.sentence.text})
		}
	case evToolCall:
		switch ev.tool.Name {
		case toolEndCall:
			t.action = ev.tool
		case toolTransfer:
			if !s.agent.Escalation.TransferToHumanTools {
				s.log.Warn("model called transfer_to_human, which the agent does not offer; ignored")
				break
			}
			t.action = ev.tool
			t.escalation = toolEscalation(ev.tool)
		default:
			s.log.Warn("model called an unknown tool", "tool", ev.tool.Name)
		}
	case evThinkError:
		t.failed = true
		s.eng.metrics.providerError.WithLabelValues("chat").Inc()
		s.log.Warn("chat model failed", "turn", t.id, "err", ev.err)
		traceFailure(trace.ContextWithSpan(ctx, t.span), s.eng.tracer, "llm", t.timing.requested, ev.err)
	case evSpeakError:
		t.speakFailed = true
		s.eng.metrics.providerError.WithLabelValues("synthesizer").Inc()
		s.log.Warn("synthesizer failed", "turn", t.id, "err", ev.err)
		traceFailure(trace.ContextWithSpan(ctx, t.span), s.eng.tracer, "tts", time.Time{}, ev.err)
	case evDone:
		t.generated = true
		if t.kind != turnHolding && (t.speakFailed || t.failed && t.answers) {
			s.fallBack(ctx, t)
			return
		}
		if ev.endPos < 0 { // nothing to play
			s.onPlayed()
			return
		}
		// If Telnyx never echoes the end mark, take the reply as played once
		// its audio must have run out.
		ahead := s.playout.Format().Duration(int(ev.endPos - s.playout.Played()))
		s.playedBy = time.Now().Add(ahead + s.eng.cfg.PlaybackGrace)
	}
}

// closeTurn ends the current turn: its goroutines are cancelled and what the
// caller heard of it joins the history and the transcript.
func (s *Session) closeTurn(heard string, interrupted bool) {
	t := s.turn
	if t == nil {
		return
	}
	t.cancel()
	s.turn = nil
	s.releaseGate()
	s.playedBy = time.Time{}
	s.idle.touch(time.Now()) // the silence, if any, starts when the agent stops
	if heard != "" {
		if t.answers {
			s.appendHistory(ai.Message{Role: ai.RoleAssistant, Content: heard})
		}
		s.record = append(s.record, Turn{Speaker: ai.RoleAssistant, Text: heard, StartedAt: t.startedAt, EndedAt: time.Now(),
			Interrupted: interrupted, ReplyLatency: t.replyLatency, Latency: t.latency})
		s.addEvent(EventAgentTurn, "")
	}
	if s.watched() {
		s.emit(LiveEvent{Kind: LiveAgentTurn, Turn: t.seq, Text: heard, Interrupted: interrupted})
	}
	t.span.SetAttributes(attrInterrupted.Bool(interrupted))
	if t.replyLatency > 0 {
		t.span.SetAttributes(attrReplyLatency.Int64(t.replyLatency.Milliseconds()))
	}
	if t.failed || t.speakFailed {
		t.span.SetStatus(codes.Error, "provider failed")
	}
	t.span.End()
	if s.state != StateEnding {
		s.setState(StateListening)
	}
	s.checkpoint()
}

// stopTurn cancels the current turn without recording it (the call is ending
// or a new reply replaces it).
func (s *Session) stopTurn() {
	if s.turn != nil {
		t := s.turn
		if t.audio && !t.cleared && s.ending == "" {
			played, _ := s.playout.Clear()
			t.cleared = true
			s.closeTurn(s.heard(t, played), true)
			return
		}
		s.closeTurn(s.heard(t, s.playout.Played()), t.audio && !t.generated)
	}
}

// heard returns the text of t the caller heard up to timeline position played.
func (s *Session) heard(t *turn, played int64) string {
	var b strings.Builder
	for _, sn := range t.sentences {
		if played <= sn.start {
			break
		}
		frac := 1.0
		if played < sn.end && sn.end > sn.start {
			frac = float64(played-sn.start) / float64(sn.end-sn.start)
		}
		if p := heardPrefix(sn.text, frac); p != "" {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(p)
		}
	}
	return b.String()
}

func (s *Session) fullText(t *turn) string {
	parts := make([]string, 0, len(t.sentences))
	for _, sn := range t.sentences {
		parts = append(parts, sn.text)
	}
	return strings.Join(parts, " ")
}

func (s *Session) appendHistory(m ai.Message) {
	s.history = append(s.history, m)
	if over := len(s.history) - s.eng.cfg.MaxHistory; over > 0 {
		s.history = append(s.history[:0], s.history[over:]...)
	}
}

// messages builds the model's view: the agent's prompt, then the history.
func (s *Session) messages() []ai.Message {
	out := make([]ai.Message, 0, len(s.history)+2)
	if s.agent.SystemPrompt != "" {
		out = append(out, ai.Message{Role: ai.RoleSystem, Content: s.agent.SystemPrompt})
	}
	if m, ok := patternsMessage(s.patterns); ok {
		out = append(out, m)
	}
	return append(out, s.history...)
}

// answers are the call's patterns as the offline model takes them.
func (s *Session) answers() []ai.Answer {
	if len(s.patterns) == 0 {
		return nil
	}
	out := make([]ai.Answer, len(s.patterns))
	for i, p := range s.patterns {
		out[i] = ai.Answer{Question: p.Trigger, Answer: p.Response}
	}
	return out
}

func (s *Session) intents() []ai.Intent {
	out := make([]ai.Intent, len(s.agent.Intents))
	for i, in := range s.agent.Intents {
		out[i] = ai.Intent{Name: in.Name, Keywords: in.Keywords, Reply: in.Reply, Action: in.Action}
	}
	return out
}

// toolEscalation is the escalation reason of the model's transfer_to_human
// call: the caller asked for a person (the tool's reason says
// caller_request), or the model gave up on its own.
func toolEscalation(call ai.ToolCall) store.EscalationReason {
	var args struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal([]byte(call.Arguments), &args) == nil && strings.TrimSpace(args.Reason) == string(store.EscalationCallerRequest) {
		return store.EscalationCallerRequest
	}
	return store.EscalationModelTool
}
