package session

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/escalate"
	"github.com/iace/iace/ai/predict"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/store"
)

// Session is one call. Its run goroutine owns every field below the line;
// the reader and the turn goroutines only send to it through channels.
type Session struct {
	id      CallID
	eng     *Engine
	log     *slog.Logger
	start   *telnyx.Start
	agent   store.Agent
	conn    *telnyx.Conn
	in      media.Format
	playout *media.Playout
	ctrl    chan inboundEvent
	turnEv  chan turnEvent
	cmds    chan endCmd
	// policy decides when the call goes to a human; sentiments brings the
	// caller turns' scores back from their scoring goroutines (scoring,
	// under runCtx, which run cancels and waits for at its end).
	policy            *escalate.Policy
	sentiments        chan sentimentResult
	scoring           sync.WaitGroup
	runCtx            context.Context //nolint:containedctx // run's own context, for what it starts from a timer or a played mark; cancelled when run returns
	pendingEscalation store.EscalationReason
	memory            chan []store.Pattern // the agent's patterns, read at start and after the caller's first words
	caller            chan callerMemory    // the caller's record and latest calls, read at start
	patterns          []store.Pattern
	predictor         *predict.Model // the organization's, at the call's start
	patternsUsed      []store.PatternID
	tracker           predict.Tracker // the prediction's features so far
	callerTurns       int             // scored caller turns
	refreshed         bool            // the caller's first words brought their patterns
	handed            bool            // the transfer was made outside the session (Engine.Handed)
	escalateAt        time.Time
	// escalation is why the call is being handed to a human, once it is;
	// handoff the summary the human is given.
	escalation store.EscalationReason
	handoff    string
	entry      *registryEntry
	begun      time.Time
	// tap, when a supervisor listens, gets the call's audio (monitor.go).
	tap tapPoint
	// superv brings supervision commands (supervise.go) to run; floor is
	// set by run while the supervisor's voice goes to the caller (a
	// takeover, or a barge while they speak), and read by their Voice.
	superv chan superCmd
	floor  atomic.Bool
	voiceState

	readerDone chan struct{}
	readErr    error // set before readerDone is closed
	// droppedEvents counts the stream events sendCtrl dropped; only the
	// reader touches it.
	droppedEvents int

	turns sync.WaitGroup

	stt TranscriptStream // Send from the reader, EndOfSpeech from run
	// sttFailed: the transcriber was configured but could not be opened.
	sttFailed bool

	// ---- owned by run ----
	sttOut    <-chan ai.Transcript
	state     State
	history   []ai.Message
	record    []Turn
	events    []Event
	turn      *turn
	nextTurn  int
	utterance utterance
	// lastUtterance is the caller's last finished utterance (its turn's times).
	lastUtterance utterance
	pending       []string // final transcript pieces not yet answered
	awaitText     time.Time
	speechEnd     time.Time // the caller's last utterance ended (the VAD's estimate)
	vadEnd        time.Time // the VAD decided it had ended
	finalAt       time.Time // the last final transcript arrived
	failedReplies int       // turns in a row that fell back to the holding phrase
	playedBy      time.Time // when the current reply is taken as played without its end mark
	endAt         time.Time // max duration
	ending        EndReason
	stats         CallStats
	whispers      []string // a supervisor's guidance for the next reply
	idle          idleClock
	// custTools answers the model's customer tools; made on first use and
	// shared with the turns, it locks its own state.
	custTools *customerTools
	timer     *time.Timer
	timerAt   time.Time
}

// utterance tracks the caller's current stretch of speech.
type utterance struct {
	active    bool
	startedAt time.Time
	// backchannel marks speech that began while the agent talked and has not
	// (yet) lasted long enough to interrupt: "mm-hm" is not a question.
	backchannel bool
}

type inboundKind uint8

const (
	inDTMF inboundKind = iota + 1
	inMark
	inError
	inSpeechStart
	inBargeIn
	inSpeechEnd
)

type inboundEvent struct {
	kind  inboundKind
	digit byte
	mark  string
	code  int
	at    time.Time
}

// run is the call's one owner loop. It returns the end reason once every
// goroutine it started has finished.
func (s *Session) run(ctx context.Context) EndReason {
	s.timer = time.NewTimer(time.Hour)
	defer s.timer.Stop()
	// Everything the loop starts runs under ctx, which ends when run
	// returns: scoring goroutines are not waited for past the call.
	ctx, stopScoring := context.WithCancel(ctx)
	s.runCtx = ctx
	defer func() {
		stopScoring()
		s.scoring.Wait()
	}()
	s.escalateAt = s.escalationDeadline()
	s.idle = idleClock{timeout: s.idleTimeout()}
	s.idle.touch(time.Now())
	s.fetchPatterns(ctx)
	s.fetchCaller(ctx)
	s.updatePrediction(ctx) // the prior, from what is known before anyone speaks
	s.setState(StateListening)
	s.ensureHolding(ctx)
	if s.sttFailed {
		s.transcriberLost(ctx) // no greeting: the agent could not hear the answer
	} else {
		s.say(ctx, s.agent.Greeting, turnGreeting)
		s.addEvent(EventGreeting, "")
	}
	for s.ending == "" {
		s.armTimer()
		select {
		case <-ctx.Done():
			s.end(EndShutdown)
		case c := <-s.cmds:
			if c.escalation != "" && s.escalation == "" {
				s.escalation = c.escalation
				s.handed = c.handed
				s.addEvent(EventTransferRequested, string(c.escalation))
			}
			s.end(c.reason)
		case ev := <-s.ctrl:
			s.onInbound(ctx, ev)
		case <-s.readerDone:
			s.onReaderDone()
		case tr, ok := <-s.sttOut:
			if !ok {
				s.sttOut = nil
				s.eng.metrics.providerError.WithLabelValues("transcriber").Inc()
				s.log.Warn("transcriber stream ended early")
				s.transcriberLost(ctx)
				continue
			}
			s.onTranscript(ctx, tr)
		case ev := <-s.turnEv:
			s.onTurnEvent(ctx, ev)
		case r := <-s.sentiments:
			s.onSentiment(ctx, r)
		case c := <-s.superv:
			s.onSupervise(ctx, c)
		case ps := <-s.memory:
			s.addPatterns(ps)
		case m := <-s.caller:
			s.onCallerMemory(m)
		case <-s.playout.Failed():
			if err := s.playout.Err(); errors.Is(err, media.ErrOutputStalled) {
				s.log.Warn("the caller's side stopped reading the media stream", "err", err)
				s.end(EndPeerStalled)
			} else {
				s.log.Warn("writing to the media stream failed", "err", err)
				s.end(EndTransportError)
			}
		case now := <-s.timer.C:
			s.timerAt = time.Time{}
			s.onTimer(ctx, now)
		}
	}
	s.stopTurn()
	s.turns.Wait()
	return s.ending
}

func (s *Session) end(r EndReason) {
	if s.ending == "" {
		s.ending = r
		s.setState(StateEnding)
	}
}

func (s *Session) setState(st State) {
	changed := st != s.state
	s.state = st
	s.entry.state.Store(int32(st))
	if changed && s.followed() {
		s.emitListed(LiveEvent{Kind: LiveState, State: st})
	}
}

func (s *Session) agentTalking() bool { return s.turn != nil && s.turn.audio && !s.turn.cleared }

func (s *Session) onSpeechStart(at time.Time) {
	s.idle.callerSpoke(at)
	s.utterance = utterance{active: true, startedAt: at.Add(-s.eng.cfg.VAD.MinSpeech), backchannel: s.agentTalking()}
}

// onBargeIn: the caller has spoken long enough to mean it. If the agent is
// talking or about to, it stops: the model and the synthesizer are cancelled,
// queued audio is dropped, Telnyx is told to clear its queue, and the history
// keeps only what the caller heard.
func (s *Session) onBargeIn() {
	s.utterance.backchannel = false
	t := s.turn
	if t == nil || !t.answers && !t.audio {
		return
	}
	if t.audio && !t.cleared {
		played, _ := s.playout.Clear()
		t.cleared = true
		s.eng.metrics.bargeIns.Inc()
		s.stats.BargeIns++
		s.eng.metrics.bargeLatency.Observe(float64(time.Since(s.utterance.startedAt).Milliseconds()))
		heard := s.heard(t, played)
		if s.watched() {
			s.emit(LiveEvent{Kind: LiveBargeIn, Turn: t.seq, Text: heard})
		}
		s.closeTurn(heard, true)
		s.addEvent(EventBargeIn, "")
		s.log.Info("caller barged in", "turn", t.id)
		return
	}
	// The caller went on speaking before any reply audio: drop the reply.
	s.closeTurn("", true)
}

func (s *Session) onSpeechEnd(ctx context.Context, at time.Time) {
	u := s.utterance
	s.utterance = utterance{}
	s.idle.touch(at)
	if !u.active || u.backchannel {
		return // a backchannel while the agent talked is not a turn
	}
	s.lastUtterance = u
	// The VAD ends an utterance after the hangover and the minimum silence.
	s.speechEnd = at.Add(-s.eng.cfg.VAD.MinSilence - s.eng.cfg.VAD.Hangover)
	s.vadEnd = at
	if s.stt != nil {
		if err := s.stt.EndOfSpeech(); err != nil {
			s.log.Warn("transcriber end of speech", "err", err)
		}
	}
	s.awaitText = time.Now().Add(s.eng.cfg.TranscriptTimeout)
	s.maybeAnswer(ctx)
}

func (s *Session) onTranscript(ctx context.Context, tr ai.Transcript) {
	text := strings.TrimSpace(tr.Text)
	if text == "" {
		return
	}
	if s.watched() { // what the caller says, interim or final, backchannel or not
		s.emit(LiveEvent{Kind: LiveTranscript, Text: text, Final: tr.Final})
	}
	if !tr.Final || s.utterance.backchannel {
		return
	}
	s.pending = append(s.pending, text)
	s.finalAt = time.Now()
	s.maybeAnswer(ctx)
}

// maybeAnswer starts a reply once the caller has stopped speaking and their
// words are in.
func (s *Session) maybeAnswer(ctx context.Context) {
	if s.awaitText.IsZero() || len(s.pending) == 0 || s.utterance.active && !s.utterance.backchannel {
		return
	}
	role := s.entry.role()
	if role == RoleBarge && s.agentHeld() {
		return // answered once the supervisor has finished speaking
	}
	text := strings.Join(s.pending, " ")
	s.pending = s.pending[:0]
	s.awaitText = time.Time{}
	if role == RoleTakeover {
		s.callerTurn(ctx, text) // the supervisor answers; the transcript keeps it
		return
	}
	s.startReply(ctx, text)
}

func (s *Session) onTimer(ctx context.Context, now time.Time) {
	if !s.endAt.IsZero() && !now.Before(s.endAt) {
		s.log.Info("call reached its maximum duration")
		s.end(EndMaxDuration)
		return
	}
	if !s.escalateAt.IsZero() && !now.Before(s.escalateAt) && s.entry.role() != RoleTakeover {
		s.escalateAt = time.Time{}
		s.escalate(ctx, s.policy.Elapsed(now.Sub(s.begun)))
	}
	if !s.awaitText.IsZero() && !now.Before(s.awaitText) {
		s.awaitText = time.Time{}
		s.log.Debug("no transcript for the caller's utterance")
	}
	if !s.playedBy.IsZero() && !now.Before(s.playedBy) {
		s.playedBy = time.Time{}
		s.log.Debug("end mark not echoed; taking the reply as played")
		s.onPlayed()
	}
	if s.ending == "" {
		s.onIdle(ctx, now)
	}
}

// armTimer points the session's one timer at the earliest deadline.
func (s *Session) armTimer() {
	next := s.endAt
	for _, t := range []time.Time{s.awaitText, s.playedBy, s.escalateAt, s.idle.at} {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if next.IsZero() || next.Equal(s.timerAt) {
		return
	}
	s.timerAt = next
	s.timer.Reset(time.Until(next))
}

func (s *Session) onInbound(ctx context.Context, ev inboundEvent) {
	switch ev.kind {
	case inSpeechStart:
		s.onSpeechStart(ev.at)
	case inBargeIn:
		s.onBargeIn()
	case inSpeechEnd:
		s.onSpeechEnd(ctx, ev.at)
	case inDTMF:
		s.eng.metrics.dtmf.Inc()
		s.stats.DTMF++
		// Callers type PINs and card numbers: the call keeps that a key
		// was pressed, and which only for an agent that collects digits
		// for a stated purpose. The log never holds the digit.
		detail := ""
		if s.agent.Settings.CollectDigits != "" {
			detail = string(ev.digit)
		}
		s.addEvent(EventDTMF, detail)
		s.log.Debug("dtmf")
		// 0 asks for a person, on the media stream as by webhook (whichever
		// comes first; the other finds the call ending).
		if ev.digit == '0' && s.agent.Escalation.TransferOnDTMFZero && s.ending == "" {
			s.escalation = store.EscalationDTMF
			s.addEvent(EventTransferRequested, string(store.EscalationDTMF))
			s.log.Info("caller pressed 0: transferring to a human")
			s.end(EndTransfer)
		}
	case inError:
		s.log.Warn("telnyx reported a stream error", "code", ev.code)
	case inMark:
		s.onMark(ev.mark)
	}
}

func (s *Session) onMark(name string) {
	id, what, ok := parseMark(name)
	t := s.turn
	if !ok || t == nil || t.id != id || t.cleared {
		return // an echo of a turn already over, or of audio cleared before it played
	}
	switch what {
	case "start":
		s.setState(StateSpeaking)
	case "end":
		if t.generated {
			s.onPlayed()
		}
	}
}

// onPlayed: the current turn's audio has finished playing.
func (s *Session) onPlayed() {
	t := s.turn
	if t == nil {
		return
	}
	s.playedBy = time.Time{}
	text := s.fullText(t)
	s.closeTurn(text, false)
	s.setState(StateListening)
	if t.answers {
		s.failedReplies = 0
		if t.kind == turnReply {
			s.notePatternUse(text)
		}
		if t.kind == turnReply && t.action.Name == "" {
			fallback := s.isFallback(text)
			if fallback {
				s.tracker.Fallback()
			} else {
				s.tracker.IntentMatched() // the agent understood the caller
			}
			s.updatePrediction(s.runCtx)
			if reason := s.policy.AgentReplied(fallback); reason != "" {
				s.escalate(s.runCtx, reason)
			}
		}
	}
	if r := s.pendingEscalation; r != "" && t.action.Name == "" && s.ending == "" {
		s.handOff(s.runCtx, r)
		return
	}
	if t.giveUp {
		s.log.Warn("providers failed and the agent has no transfer number: ending the call")
		s.end(EndProviderFailure)
		return
	}
	switch t.action.Name {
	case toolEndCall:
		s.log.Info("agent ended the call")
		s.end(EndAgentHangup)
	case toolTransfer:
		s.escalation = t.escalation
		s.addEvent(EventTransferRequested, string(t.escalation))
		s.log.Info("transfer to a human requested", "escalation_reason", string(t.escalation))
		s.end(EndTransfer)
	}
}

func (s *Session) onReaderDone() {
	s.readerDone = nil
	switch {
	case s.readErr == nil:
		s.end(EndHangup)
	case isTimeout(s.readErr):
		s.log.Info("no media within the read timeout")
		s.end(EndMediaTimeout)
	default:
		s.log.Info("media stream closed", "err", s.readErr)
		s.end(EndPeerGone)
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
