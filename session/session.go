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
	"github.com/iace/iace/media/vad"
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
	turnEv  chan *turnEvent
	// bell wakes run for what comes rarely: whoever sends on cmds,
	// sentiments, memory, caller, superv, moves or moveEnd, or closes
	// readerDone, rings it after (ring), and run then looks at each of
	// them (onBell). A select over all of them would park run on a dozen
	// channels, with a waiter and a case of the frame for each.
	bell chan struct{}
	cmds chan endCmd
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
	// endVAD asks the reader to end the VAD's utterance: run ended the
	// caller's turn in a pause.
	endVAD atomic.Bool
	voiceState

	readerDone chan struct{}
	readErr    error // set before readerDone is closed
	// moves brings a draining engine's requests for the call's state
	// (move.go); runDone is closed when run has returned; released when
	// a moved call's old stream has been stopped at Telnyx.
	moves    chan moveReq
	moveEnd  chan EndReason
	runDone  chan struct{}
	released chan struct{}
	// movingNow mirrors moving for the draining engine, which leaves a
	// call being moved alone at its deadline, and for supervision
	// commands, refused while it is set; moveMu orders those commands
	// with the moment the state is taken.
	movingNow atomic.Bool
	moveMu    sync.Mutex
	// resumed: the call moved here from another node (no greeting);
	// recovered: from the checkpoint of a node that was lost.
	resumed, recovered bool
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
	// pendingComplete: the last of them ends a sentence (endsTurn).
	pendingComplete bool
	// dropFinals: final transcripts are a backchannel's, until the caller
	// next speaks.
	dropFinals bool
	// pauseEnd: the caller's words end a sentence; their turn ends then
	// if they stay silent (maybeEndAtPause).
	pauseEnd time.Time
	// gate decides whether the caller's sound over the agent interrupts it.
	gate          bargeGate
	vad           vad.Config // the call's: the node's with the agent's end-of-turn bounds
	awaitText     time.Time
	speechEnd     time.Time // the caller's last utterance ended (the VAD's estimate)
	vadEnd        time.Time // the VAD decided it had ended
	finalAt       time.Time // the last final transcript arrived
	failedReplies int       // turns in a row that fell back to the holding phrase
	playedBy      time.Time // when the current reply is taken as played without its end mark
	endAt         time.Time // max duration
	ending        EndReason
	// moving: the call's state was taken for a move; no reply starts.
	moving bool
	// streamGone: the call's stream stopped or failed while it moved
	// (Telnyx stopped it for the new one); the move decides the end.
	streamGone bool
	stats      CallStats
	whispers   []string // a supervisor's guidance for the next reply
	idle       idleClock
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
	// (yet) been found to interrupt it: "mm-hm" is not a question.
	backchannel bool
	// paused: the caller is silent inside the utterance (the VAD's Pause);
	// finalized: the transcriber was asked for its final words at it,
	// and the caller has not spoken since.
	paused, finalized bool
	// pausedAt is when the current pause began (its Pause event, which
	// comes Hangover + PauseMin into the silence).
	pausedAt time.Time
}

type inboundKind uint8

const (
	inDTMF inboundKind = iota + 1
	inMark
	inError
	inSpeechStart
	inBargeIn
	inSpeechEnd
	inNotSpeech
	inPause
	inResumed // the caller spoke again after a Pause, in the same utterance
)

type inboundEvent struct {
	kind  inboundKind
	digit byte
	mark  string
	code  int
	at    time.Time
	// silence is, for inSpeechEnd, how long the caller had been silent
	// when the VAD ended the utterance.
	silence time.Duration
	// fresh is, for inPause and inSpeechEnd, whether the caller spoke
	// since the utterance's last pause (or its start): words the
	// transcriber has not been asked for yet.
	fresh bool
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
	s.begin(ctx)
	outputFailed := s.playout.Failed()
	for s.ending == "" {
		s.armTimer()
		// Seven cases, each handled in a function of its own: the loop's
		// frame stays small, so that run parks under the depth at which
		// the collector halves its stack (see loadtest/README.md).
		select {
		case <-ctx.Done():
			s.end(EndShutdown)
		case ev := <-s.ctrl:
			s.onInbound(ctx, ev)
		case tr, ok := <-s.sttOut:
			s.onTranscriptOrEnd(ctx, tr, ok)
		case ev := <-s.turnEv:
			s.onTurnEvent(ctx, ev)
		case <-s.bell:
			s.onBell(ctx)
		case <-outputFailed:
			outputFailed = s.onOutputFailed()
		case now := <-s.timer.C:
			s.timerAt = time.Time{}
			s.onTimer(ctx, now)
		}
	}
	s.stopTurn()
	s.turns.Wait()
	return s.ending
}

// begin starts the call: what the agent knows before anyone speaks, and
// its first words.
func (s *Session) begin(ctx context.Context) {
	s.escalateAt = s.escalationDeadline()
	s.idle = idleClock{timeout: s.idleTimeout()}
	s.idle.touch(time.Now())
	s.fetchPatterns(ctx)
	s.fetchCaller(ctx)
	s.updatePrediction(ctx) // the prior, from what is known before anyone speaks
	s.setState(StateListening)
	s.ensureHolding(ctx)
	switch {
	case s.sttFailed:
		s.transcriberLost(ctx) // no greeting: the agent could not hear the answer
	case s.recovered:
		// The caller has heard nothing since the lost node's last turn,
		// and what they said after it is gone: ask, in the agent's words.
		s.log.Info("call recovered here from a lost node's checkpoint: asking whether the caller is still there")
		s.addEvent(EventRecovered, "")
		s.say(ctx, s.repromptText(), turnReprompt)
	case s.resumed:
		s.log.Info("call resumed here after a move: listening")
	default:
		s.say(ctx, s.agent.Greeting, turnGreeting)
		s.addEvent(EventGreeting, "")
	}
}

// ring wakes run to look at its rarely used channels (onBell). Every send
// on one of them is followed by a ring; a ring already pending covers it.
func (s *Session) ring() {
	select {
	case s.bell <- struct{}{}:
	default:
	}
}

// offer sends v on ch if it has room, and wakes the session's run loop.
func offer[T any](s *Session, ch chan<- T, v T) bool {
	select {
	case ch <- v:
		s.ring()
		return true
	default:
		return false
	}
}

// deliver sends v on ch, waiting for room until done is closed, and wakes
// the session's run loop.
func deliver[T any](s *Session, ch chan<- T, v T, done <-chan struct{}) bool {
	select {
	case ch <- v:
		s.ring()
		return true
	case <-done:
		return false
	}
}

// onBell carries out what waits on run's rarely used channels, until the
// call is ending. An end comes first, a move's before a command's (the new
// node holds the call by then): a select would pick among them at random.
func (s *Session) onBell(ctx context.Context) {
	select {
	case r := <-s.moveEnd:
		s.end(r)
		return
	default:
	}
	select {
	case c := <-s.cmds:
		if c.escalation != "" && s.escalation == "" {
			s.escalation = c.escalation
			s.handed = c.handed
			s.addEvent(EventTransferRequested, string(c.escalation))
		}
		s.end(c.reason)
		return
	default:
	}
	for s.ending == "" {
		select {
		case <-s.readerDone:
			s.onReaderDone()
		case r := <-s.moves:
			s.onMoveReq(ctx, r)
		case c := <-s.superv:
			s.onSupervise(ctx, c)
		case r := <-s.sentiments:
			s.onSentiment(ctx, r)
		case ps := <-s.memory:
			s.addPatterns(ps)
		case m := <-s.caller:
			s.onCallerMemory(m)
		default:
			return
		}
	}
}

// onTranscriptOrEnd takes a transcript, or the end of the transcriber's
// stream (ok false) before the call's.
func (s *Session) onTranscriptOrEnd(ctx context.Context, tr ai.Transcript, ok bool) {
	if ok {
		s.onTranscript(ctx, tr)
		return
	}
	s.sttOut = nil
	s.eng.metrics.providerError.WithLabelValues("transcriber").Inc()
	s.log.Warn("transcriber stream ended early")
	s.transcriberLost(ctx)
}

// onOutputFailed ends the call whose media stream could not be written,
// unless the stream went with a move; it returns the channel to wait on
// for the next failure (nil: none).
func (s *Session) onOutputFailed() <-chan struct{} {
	if s.moving || s.streamGone {
		s.streamGone = true
		return nil // the stream went with the move: the move decides
	}
	if err := s.playout.Err(); errors.Is(err, media.ErrOutputStalled) {
		s.log.Warn("the caller's side stopped reading the media stream", "err", err)
		s.end(EndPeerStalled)
	} else {
		s.log.Warn("writing to the media stream failed", "err", err)
		s.end(EndTransportError)
	}
	return s.playout.Failed()
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

// committed: the current turn plays to its end whatever the caller says.
func (s *Session) committed() bool { return s.turn != nil && s.turn.committed() }

func (s *Session) onSpeechStart(at time.Time) {
	s.idle.callerSpoke(at)
	talking := s.agentTalking() && !s.committed() // no barge-in decision over a committed turn
	s.dropFinals, s.pauseEnd = false, time.Time{}
	s.utterance = utterance{active: true, startedAt: at.Add(-s.vad.MinSpeech), backchannel: talking}
	s.act(s.gate.speechStart(at, talking), at)
}

// act carries out what the barge-in gate decided.
func (s *Session) act(a bargeAction, at time.Time) {
	switch a {
	case bargeHold:
		s.playout.Hold()
	case bargeResume:
		s.playout.Resume()
		held := at.Sub(s.gate.heldAt)
		s.eng.metrics.bargeHolds.WithLabelValues(holdResumed).Inc()
		gap := float64(max(held-s.eng.deps.Pacer.HoldLead(), 0).Milliseconds())
		if s.turn != nil {
			media.ObserveSpan(s.turn.span.SpanContext(), s.eng.metrics.bargeGaps, gap)
		} else {
			s.eng.metrics.bargeGaps.Observe(gap)
		}
		s.log.Debug("the caller's sound was no interruption; the agent goes on", "held_ms", held.Milliseconds(), "gate", s.gate.String())
	case bargeCut:
		s.eng.metrics.bargeHolds.WithLabelValues(holdCut).Inc()
		s.log.Debug("the caller's speech over the agent interrupts it", "held_ms", at.Sub(s.gate.heldAt).Milliseconds())
		s.cutAgent()
	}
}

// releaseGate ends a barge-in decision in progress when the agent's turn
// ends another way, so its held audio does not stay held.
func (s *Session) releaseGate() {
	if !s.gate.holding() {
		s.gate.reset() // words after a backchannel no longer cut a turn that is over
		return
	}
	s.gate.reset()
	s.playout.Resume()
	s.eng.metrics.bargeHolds.WithLabelValues(holdEnded).Inc()
}

// onBargeIn: the VAD heard the caller speak long enough to mean it. While
// the gate holds the agent's audio the gate decides; otherwise (the agent
// was not talking when the caller began) the caller's speech wins at once.
func (s *Session) onBargeIn(at time.Time) {
	if !s.gate.holding() && s.utterance.backchannel && s.agentTalking() {
		// Speech that follows a sound the gate let pass, in the same
		// utterance ("Stop, ... I want to speak to someone"): it is decided
		// as one that began now.
		s.act(s.gate.speechStart(at, true), at)
	}
	if s.gate.holding() {
		s.act(s.gate.bargeIn(at), at)
		return
	}
	s.cutAgent()
}

// cutAgent: the caller interrupted. If the agent is talking or about to,
// it stops: the model and the synthesizer are cancelled, queued audio is
// dropped, Telnyx is told to clear its queue, and the history keeps only
// what the caller heard.
func (s *Session) cutAgent() {
	s.utterance.backchannel = false
	t := s.turn
	if t == nil || !t.answers && !t.audio || t.committed() {
		return
	}
	if t.audio && !t.cleared {
		played, _ := s.playout.Clear()
		t.cleared = true
		s.eng.metrics.bargeIns.Inc()
		s.stats.BargeIns++
		media.ObserveSpan(t.span.SpanContext(), s.eng.metrics.bargeLatency, float64(time.Since(s.utterance.startedAt).Milliseconds()))
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

func (s *Session) onSpeechEnd(ctx context.Context, at time.Time, silence time.Duration, fresh bool) {
	s.act(s.gate.speechEnd(), at)
	u := s.utterance
	u.finalized = u.finalized && !fresh
	s.utterance, s.pauseEnd = utterance{}, time.Time{}
	s.idle.touch(at)
	if u.active && u.backchannel && s.gate.words && s.stt != nil {
		// The transcriber heard the backchannel too: its words are
		// flushed now and dropped, not taken into the caller's next turn.
		s.dropFinals = true
		s.endOfSpeech()
	}
	if !u.active || u.backchannel {
		return // a backchannel while the agent talked is not a turn (nor a turn ended in a pause)
	}
	s.endUtterance(ctx, u, at, silence)
}

// endUtterance: the caller's turn is over, at the VAD's end of the
// utterance or at a pause whose words end a sentence; the reply starts
// once their words are in.
func (s *Session) endUtterance(ctx context.Context, u utterance, at time.Time, silence time.Duration) {
	s.lastUtterance = u
	s.speechEnd = at.Add(-silence)
	s.vadEnd = at
	if s.stt != nil && !u.finalized {
		s.endOfSpeech()
	}
	s.awaitText = at.Add(s.eng.cfg.TranscriptTimeout)
	s.maybeAnswer(ctx)
}

// endOfSpeech asks the transcriber for its final words of what it heard.
func (s *Session) endOfSpeech() {
	if err := s.stt.EndOfSpeech(); err != nil {
		s.log.Warn("transcriber end of speech", "err", err)
	}
}

// onPause: the caller has been silent a moment inside their utterance. The
// transcriber is asked for its final words now; if they end a sentence the
// turn ends here, without the rest of the VAD's silence.
func (s *Session) onPause(ctx context.Context, at time.Time, fresh bool) {
	s.act(s.gate.pause(), at)
	u := &s.utterance
	if !u.active || u.backchannel {
		return
	}
	u.paused, u.pausedAt = true, at
	if fresh {
		u.finalized = false // the caller went on after an earlier pause
	}
	if s.stt != nil && !u.finalized {
		u.finalized = true
		s.endOfSpeech()
	}
	s.maybeEndAtPause(ctx, at)
}

// maybeEndAtPause ends the turn in a pause when the caller's words so far
// end a sentence, once the pause is as long as the VAD's short bound
// (MinSilence): a caller whose words end a sentence but whose pitch did
// not fall (a question) is answered as soon as one whose pitch fell; one
// who pauses mid-sentence still gets the long bound, unless the
// transcriber guessed a sentence end.
func (s *Session) maybeEndAtPause(ctx context.Context, now time.Time) {
	u := s.utterance
	if !u.active || !u.paused || len(s.pending) == 0 || !s.pendingComplete {
		s.pauseEnd = time.Time{}
		return
	}
	if due := u.pausedAt.Add(s.vad.MinSilence - s.vad.PauseMin); now.Before(due) {
		s.pauseEnd = due
		return
	}
	// The turn ends here; the reader ends the VAD's utterance too, so
	// that what the caller says next starts one of its own.
	s.pauseEnd = time.Time{}
	s.utterance = utterance{}
	s.endVAD.Store(true)
	s.endUtterance(ctx, u, now, now.Sub(u.pausedAt)+s.vad.Hangover+s.vad.PauseMin)
}

func (s *Session) onTranscript(ctx context.Context, tr ai.Transcript) {
	text := strings.TrimSpace(tr.Text)
	if text == "" {
		return
	}
	if s.watched() { // what the caller says, interim or final, backchannel or not
		s.emit(LiveEvent{Kind: LiveTranscript, Text: text, Final: tr.Final})
	}
	now := time.Now()
	if s.gate.listening() {
		s.act(s.gate.transcript(text), now)
	}
	if !tr.Final || s.utterance.backchannel || s.dropFinals {
		return
	}
	s.pending = append(s.pending, text)
	s.pendingComplete = endsTurn(text, tr.SpeechFinal)
	s.finalAt = now
	s.maybeEndAtPause(ctx, now)
	s.maybeAnswer(ctx)
}

// maybeAnswer starts a reply once the caller has stopped speaking and their
// words are in.
func (s *Session) maybeAnswer(ctx context.Context) {
	if s.moving || s.awaitText.IsZero() || len(s.pending) == 0 || s.utterance.active && !s.utterance.backchannel {
		return
	}
	role := s.entry.role()
	if role == RoleBarge && s.agentHeld() {
		return // answered once the supervisor has finished speaking
	}
	text := strings.Join(s.pending, " ")
	s.pending, s.pendingComplete = s.pending[:0], false
	s.awaitText = time.Time{}
	if role == RoleTakeover || s.committed() {
		// The supervisor answers, or the call is being handed on: the
		// transcript keeps the words, nobody replies to them here.
		s.callerTurn(ctx, text)
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
	if !s.escalateAt.IsZero() && !now.Before(s.escalateAt) && s.entry.role() != RoleTakeover && !s.moving {
		s.escalateAt = time.Time{}
		s.escalate(ctx, s.policy.Elapsed(now.Sub(s.begun)))
	}
	if !s.awaitText.IsZero() && !now.Before(s.awaitText) {
		s.awaitText = time.Time{}
		s.log.Debug("no transcript for the caller's utterance")
	}
	s.act(s.gate.tick(now), now)
	if !s.pauseEnd.IsZero() && !now.Before(s.pauseEnd) {
		s.maybeEndAtPause(ctx, now)
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
	for _, t := range []time.Time{s.awaitText, s.playedBy, s.escalateAt, s.idle.at, s.gate.due(), s.pauseEnd} {
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
		s.onBargeIn(ev.at)
	case inNotSpeech:
		s.act(s.gate.notSpeech(), ev.at)
	case inPause:
		s.onPause(ctx, ev.at, ev.fresh)
	case inResumed:
		// The pause is over: the turn does not end in it.
		s.utterance.paused, s.pauseEnd = false, time.Time{}
	case inSpeechEnd:
		s.onSpeechEnd(ctx, ev.at, ev.silence, ev.fresh)
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
	if s.moving {
		// Telnyx stopped the stream for the move (one stream per call):
		// the move decides how the call ends.
		s.streamGone = true
		s.log.Info("the call's stream stopped while it moves; waiting for the move")
		return
	}
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
