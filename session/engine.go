package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/escalate"
	"github.com/iace/iace/ai/predict"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/media/vad"
	"github.com/iace/iace/store"
)

// AgentSource finds the agent that answers a dialed number (a stream
// without a token) and an agent by its organization and id (a stream with
// a token names its agent).
type AgentSource interface {
	AgentForNumber(ctx context.Context, number store.PhoneNumber) (store.Agent, error)
	GetAgent(ctx context.Context, org store.OrgID, id store.AgentID) (store.Agent, error)
}

// StreamClaimer admits a call's media stream once and returns the call as
// the webhook recorded it (store.Store implements it): a stream token is
// single use, and the call's identity comes from this row, never from the
// stream's start frame.
type StreamClaimer interface {
	ClaimCallStream(ctx context.Context, org store.OrgID, id store.CallID, nonce string) (store.Call, error)
}

// OrgGetter reads an organization, for its transfer policy (store.Store
// implements it).
type OrgGetter interface {
	GetOrg(ctx context.Context, id store.OrgID) (store.Organization, error)
}

// ErrDuplicateStream refuses a second stream for a call whose first stream is
// still live on this node.
var ErrDuplicateStream = errors.New("session: the call already has a live stream")

// agentLookupTimeout bounds the agent lookup at the start of a call: the
// caller is waiting for the greeting.
const agentLookupTimeout = 2 * time.Second

// Deps are the parts an engine runs calls with.
type Deps struct {
	Agents AgentSource
	STT    Transcriber
	Chat   ChatModel
	Synth  Synthesizer
	Pacer  *media.Pacer
	// Calls, if set, transfers and hangs up calls through the telephony API;
	// without it an ending call only closes its media stream.
	Calls CallController
	// Streams checks that a stream token opens its call's one stream, and
	// gives the call's identity. Without it streams with a token are refused.
	Streams StreamClaimer
	// Orgs, if set, gives each organization's transfer policy: a transfer
	// to a destination the policy refuses (a premium-rate or unlisted
	// international number) becomes a hang-up. Without it transfers go to
	// the agent's number unchecked, as in tests without a store.
	Orgs OrgGetter
	// Sentiment, if set, scores each caller turn while the call runs, for
	// the record and the escalation rules on sentiment.
	Sentiment SentimentScorer
	// Patterns, if set, gives the model the agent's most used patterns as
	// context, read at the call's start under Config.MemoryDeadline, and
	// those nearest to the caller's first words (with Embedder).
	Patterns PatternSource
	// Customers, if set, lets the model look the caller up (lookup_customer).
	Customers CustomerLookup
	// History, if set, gives a returning caller's latest calls, read at the
	// call's start with their customer record under Config.MemoryDeadline.
	History CallHistory
	// Embedder, if set, lets the call read the patterns nearest to the
	// caller's first words (PatternSource.SimilarPatterns).
	Embedder ai.Embedder
	// Predictors, if set, gives each organization's trained outcome
	// prediction model; without it, or for an organization without one,
	// calls are predicted by the documented prior (predict.Prior).
	Predictors Predictors
	// Mover, if set, moves the calls of a draining node to other nodes
	// instead of ending them, and resumes here the calls moved from
	// another node (streams whose token says so).
	Mover Mover
	// Checkpoints, if set, keeps each call's state after every turn, for
	// the node that takes the call up if this one is lost.
	Checkpoints Checkpointer
	// Directory, if set, shares the node's live calls with the other
	// nodes and enforces each organization's concurrent-call limit.
	Directory Directory
	// OnEnd, if set, receives every call's summary once the call has ended,
	// to write the call record. Its context outlives the call's cancellation
	// (teardown); it must not block long.
	OnEnd   func(context.Context, CallSummary)
	Metrics *Metrics
	Log     *slog.Logger
	// Tracer, if set, receives a span per call and per turn with a child
	// span per stage of a reply (endpoint, stt, llm, tts); nil traces
	// nothing, at no cost. Spans never cover single frames.
	Tracer trace.TracerProvider
}

// CallStats are a call's counters.
type CallStats struct {
	FramesIn     uint64
	Reordered    uint64
	Concealed    uint64
	Late         uint64
	BargeIns     int
	DTMF         int
	ProtocolErrs int
}

// CallSummary is what is known of a call once it has ended.
type CallSummary struct {
	Info      CallInfo
	EndedAt   time.Time
	EndReason EndReason
	// Escalation is why the call was to be handed to a human; "" when it
	// was not. With EndTransferFailed it says what was attempted.
	Escalation store.EscalationReason
	// PatternsUsed are the agent's patterns that informed replies the
	// caller heard.
	PatternsUsed []store.PatternID
	// Handoff is the warm handoff summary of a call handed to a human
	// (handed over, or attempted): why, the caller's issue, their mood and
	// who they are. "" when the call was not. Personal data: never logged.
	Handoff string
	// Prediction is the call's outcome prediction at its end, with the
	// features it was made from.
	Prediction *store.CallPrediction
	// Transcript holds the caller's and the agent's words. It is personal
	// data: never log it at info level.
	Transcript []Turn
	Events     []Event
	Stats      CallStats
}

// ErrDraining refuses new streams while the engine drains.
var ErrDraining = errors.New("session: draining, not accepting new calls")

// ErrNoCalls refuses a stream on a node that serves the API and the
// webhooks only (Config.NoCalls).
var ErrNoCalls = errors.New("session: this node takes no calls")

// Engine admits media streams and runs a Session for each.
type Engine struct {
	cfg      Config
	deps     Deps
	metrics  *Metrics
	log      *slog.Logger
	registry *Registry
	tracer   trace.Tracer
	holding  *holdingAudio
	// predictor runs every call's live prediction.
	predictor *predict.Model
	// patterns are the agents' context patterns, read once per patternTTL.
	patterns patternCache
	draining atomic.Bool
	// admit orders admissions (calls.Add) before Drain's calls.Wait: a call is
	// either counted before draining starts or refused.
	admit sync.Mutex
	calls sync.WaitGroup
}

// NewEngine checks cfg and returns an engine.
func NewEngine(cfg Config, deps Deps) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("session config: %w", err)
	}
	if deps.Agents == nil || deps.Chat == nil || deps.Synth == nil || deps.Pacer == nil {
		return nil, errors.New("session: agents, chat model, synthesizer and pacer are required")
	}
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics(nil)
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Tracer == nil {
		deps.Tracer = noop.NewTracerProvider()
	}
	return &Engine{cfg: cfg, deps: deps, metrics: deps.Metrics, log: deps.Log, registry: newRegistry(deps.Metrics),
		tracer: deps.Tracer.Tracer(tracerName), holding: newHoldingAudio(), predictor: &predictor}, nil
}

// Registry returns the live calls of this engine.
func (e *Engine) Registry() *Registry { return e.registry }

// Ready reports whether the node takes what it serves: not draining,
// and below its capacity (Config.MaxCalls) unless it takes no calls
// (Config.NoCalls).
func (e *Engine) Ready() bool {
	return !e.draining.Load() && (e.cfg.NoCalls || e.cfg.MaxCalls == 0 || e.registry.Len() < e.cfg.MaxCalls)
}

// Capacity is the node's capacity in calls: 0, no bound; -1, it takes
// none (Config.NoCalls).
func (e *Engine) Capacity() int {
	if e.cfg.NoCalls {
		return -1
	}
	return e.cfg.MaxCalls
}

// Draining reports whether the engine has begun to drain.
func (e *Engine) Draining() bool { return e.draining.Load() }

// Admit refuses new streams while draining, or beyond the node's capacity
// and its margin.
func (e *Engine) Admit() error {
	if e.cfg.NoCalls {
		e.metrics.refused.WithLabelValues("no_calls").Inc()
		return ErrNoCalls
	}
	if e.draining.Load() {
		return ErrDraining
	}
	if e.cfg.MaxCalls > 0 && e.registry.Len() >= hardCapacity(e.cfg.MaxCalls) {
		e.metrics.refused.WithLabelValues("capacity").Inc()
		return ErrAtCapacity
	}
	return nil
}

// endCmd asks a call to end, and says why it is handed to a human when it is.
type endCmd struct {
	reason     EndReason
	escalation store.EscalationReason
	// handed: the transfer was already made by someone else (a
	// supervisor through the API); the session asks Call Control nothing.
	handed bool
}

// Hangup asks a live call to end with reason. It reports whether the call was found.
func (e *Engine) Hangup(id CallID, reason EndReason) bool {
	return e.command(id, endCmd{reason: reason})
}

// Escalate asks a live call to be handed to the agent's transfer number
// for reason. It reports whether the call was found.
func (e *Engine) Escalate(id CallID, reason store.EscalationReason) bool {
	return e.command(id, endCmd{reason: EndTransfer, escalation: reason})
}

// Handed tells a live call that it was handed to a human outside the
// session (a supervisor's transfer through Call Control): it ends as a
// transfer for reason, without asking Call Control again. It reports
// whether the call was found.
func (e *Engine) Handed(id CallID, reason store.EscalationReason) bool {
	return e.command(id, endCmd{reason: EndTransfer, escalation: reason, handed: true})
}

// List returns the calls this engine is running.
func (e *Engine) List() []CallInfo { return e.registry.List() }

// Call returns the call id if this engine is running it.
func (e *Engine) Call(id CallID) (CallInfo, bool) { return e.registry.Get(id) }

func (e *Engine) command(id CallID, c endCmd) bool {
	s := e.registry.session(id)
	if s == nil {
		return false
	}
	offer(s, s.cmds, c) // false: an end is already pending
	return true
}

// Drain stops admitting calls and waits for live ones to finish. When ctx is
// done first, the remaining calls are ended (reason drain) and Drain waits
// for them to close, which takes at most a few write timeouts.
func (e *Engine) Drain(ctx context.Context) error {
	e.admit.Lock()
	e.draining.Store(true)
	e.admit.Unlock()
	e.metrics.draining.Set(1)
	defer e.registry.endLive() // no call will start here again
	done := make(chan struct{})
	go func() { // ends with Drain: it waits on calls Drain also waits for
		e.calls.Wait()
		close(done)
	}()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	e.log.Info("draining: waiting for live calls to finish", "live_calls", e.registry.Len(), "moving", e.deps.Mover != nil)
	if e.deps.Mover != nil {
		mctx, stopMoving := context.WithCancel(ctx)
		moved := make(chan struct{})
		go func() { // ends with Drain, which cancels it and waits
			defer close(moved)
			e.moveCalls(mctx)
		}()
		defer func() {
			stopMoving()
			<-moved
		}()
	}
	for {
		select {
		case <-done:
			e.log.Info("drained: no live calls")
			return nil
		case <-tick.C:
			e.log.Info("draining", "live_calls", e.registry.Len())
		case <-ctx.Done():
			n := e.registry.Len()
			e.log.Warn("drain deadline passed: ending live calls", "live_calls", n)
			for _, s := range e.registry.sessions() {
				if s.movingNow.Load() {
					continue // its move ends it either way (moved, or drain when it fails)
				}
				e.Hangup(s.id, EndDrain)
			}
			<-done
			return fmt.Errorf("drain: ended %d calls at the deadline: %w", n, ctx.Err())
		}
	}
}

// AcceptStream runs one call on a media stream whose start frame has been
// read. It returns when the call has ended and every goroutine of it has
// finished. The calling goroutine becomes the stream's reader.
func (e *Engine) AcceptStream(ctx context.Context, conn *telnyx.Conn, start *telnyx.Start) error {
	c, err := e.admitCall(ctx, conn, start)
	if err != nil {
		return err
	}
	defer e.calls.Done()
	// The reader runs on a short stack: the setup's locals (the agent, the
	// configs, about 3 KiB) are in admitCall's and beginCall's frames,
	// gone before the first frame is read. Parked under 4 KiB deep, the
	// reader lets the garbage collector halve its stack to 8 KiB for the
	// rest of the call.
	c.s.readErr = c.s.read(c.pipe)
	close(c.s.readerDone)
	c.s.ring()
	e.endCall(ctx, c)
	return nil
}

// admitCall finds the stream's agent, admits the call (counted in
// e.calls: the caller calls Done when it has ended) and sets it up.
func (e *Engine) admitCall(ctx context.Context, conn *telnyx.Conn, start *telnyx.Start) (*liveCall, error) {
	if err := e.Admit(); err != nil {
		return nil, err
	}
	in, err := start.MediaFormat.Format()
	if err != nil {
		return nil, err
	}
	lctx, lcancel := context.WithTimeout(ctx, agentLookupTimeout)
	id, agent, res, err := e.streamAgent(lctx, start)
	lcancel()
	if err != nil {
		return nil, err
	}
	dir := e.deps.Directory
	if dir != nil {
		if err := dir.Admit(ctx, CallInfo{ID: id, OrgID: agent.OrgID, AgentID: agent.ID, CallControlID: start.CallControlID}); err != nil {
			if errors.Is(err, ErrOrgAtLimit) {
				e.metrics.refused.WithLabelValues("org_limit").Inc()
			}
			return nil, err
		}
	}
	e.admit.Lock()
	if e.draining.Load() {
		e.admit.Unlock()
		if dir != nil {
			dir.Ended(CallInfo{ID: id, OrgID: agent.OrgID, AgentID: agent.ID}, "")
		}
		return nil, ErrDraining
	}
	e.calls.Add(1)
	e.admit.Unlock()
	c, err := e.beginCall(ctx, id, agent, conn, start, in, res)
	if err != nil {
		e.calls.Done()
		if dir != nil {
			dir.Ended(CallInfo{ID: id, OrgID: agent.OrgID, AgentID: agent.ID}, "")
		}
		return nil, err
	}
	return c, nil
}

// liveCall is what AcceptStream keeps of a call between its setup and its
// end: the run goroutine reports the end reason on reason.
type liveCall struct {
	s      *Session
	pipe   *inbound
	span   trace.Span
	cancel context.CancelFunc
	reason chan EndReason
}

// beginCall sets the call up and starts its run goroutine.
func (e *Engine) beginCall(ctx context.Context, id CallID, agent store.Agent, conn *telnyx.Conn, start *telnyx.Start, in media.Format, res *Resume) (*liveCall, error) {
	log := e.log.With(slog.String("call_id", string(id)), slog.String("stream_id", start.StreamID),
		slog.String("org_id", string(agent.OrgID)), slog.String("agent_id", string(agent.ID)))
	vcfg := callVAD(e.cfg.VAD, agent.Settings)
	v, err := vad.New(vcfg, in.SampleRate)
	if err != nil {
		return nil, err
	}
	// Reply audio goes out in the codec Telnyx sends us: PCMU in, PCMU out.
	out := in
	s := &Session{
		id:         id,
		eng:        e,
		log:        log,
		start:      start,
		agent:      agent,
		conn:       conn,
		in:         in,
		ctrl:       make(chan inboundEvent, ctrlQueue),
		turnEv:     make(chan *turnEvent, turnQueue),
		bell:       make(chan struct{}, 1),
		cmds:       make(chan endCmd, 1),
		superv:     make(chan superCmd, superQueue),
		policy:     escalate.New(agent.Escalation),
		sentiments: make(chan sentimentResult, 4),
		memory:     make(chan []store.Pattern, 1),
		caller:     make(chan callerMemory, 1),
		predictor:  e.predictorFor(agent.OrgID),
		readerDone: make(chan struct{}),
		moves:      make(chan moveReq, 1),
		moveEnd:    make(chan EndReason, 1),
		runDone:    make(chan struct{}),
		released:   make(chan struct{}),
		begun:      time.Now(),
		endAt:      time.Now().Add(e.cfg.MaxDuration),
	}
	if res != nil { // the call began on another node
		s.begun = res.StartedAt
		s.endAt = s.begun.Add(e.cfg.MaxDuration)
	}
	s.playout = e.deps.Pacer.NewPlayout(&tappedOutput{Output: conn, tap: &s.tap}, out)
	info := CallInfo{ID: id, OrgID: agent.OrgID, StreamID: start.StreamID, CallControlID: start.CallControlID, CallSessionID: start.CallSessionID, AgentID: agent.ID,
		From: store.PhoneNumber(start.From), To: store.PhoneNumber(start.To), StartedAt: s.begun}
	spanCtx, span := e.tracer.Start(ctx, "call", trace.WithTimestamp(s.begun), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attrCallID.String(string(id)), attrOrgID.String(string(agent.OrgID)), attrAgentID.String(string(agent.ID))))
	// Every line of the call names its trace.
	log = media.WithTraceID(log, span.SpanContext())
	s.log = log
	// Published last: from here on supervisors and the API find the
	// session, and read what is set above.
	e.registry.add(s, info)
	if res != nil {
		s.restore(res)
	}
	e.metrics.liveCalls.Inc()
	if e.deps.Directory != nil {
		e.deps.Directory.Started(info)
	}
	// Provider and Call Control requests of the call log its id.
	callCtx, cancel := context.WithCancel(media.WithCallID(spanCtx, string(id)))
	if e.deps.STT != nil {
		stream, err := s.openTranscriber(callCtx, ai.TranscribeConfig{Format: in, Language: agent.Language, Params: start.CustomParameters})
		if err != nil {
			s.sttFailed = true
			e.metrics.providerError.WithLabelValues("transcriber").Inc()
			log.Warn("transcriber unavailable; the caller gets the holding phrase", "err", err)
		} else {
			s.stt, s.sttOut = stream, stream.Results()
		}
	}
	s.vad = vcfg
	words := isInterim(s.stt)
	if words && vcfg.BackchannelMax > 0 {
		// The words tell backchannels from interruptions: the VAD need not
		// hold every interruption back by the longest backchannel.
		s.vad.BackchannelMax = 0
		if d, err := vad.New(s.vad, in.SampleRate); err == nil { // the same config but for a zero, valid
			v = d
		}
	}
	s.gate = bargeGate{words: words, wordWait: e.cfg.BargeInWordWait}
	if words { // only words are told apart as backchannels
		s.gate.backchannels = newBackchannelWords(agent.Settings.Backchannels)
	}
	log.Info("call started", "resumed", res != nil, "from", info.From, "to", info.To, "format", in.String(), "call_control_id", start.CallControlID)

	reason := make(chan EndReason, 1)
	go func() { // owned by AcceptStream: endCall waits on reason
		r := s.run(callCtx)
		close(s.runDone)
		if r == EndMoved { // the old stream is stopped at Telnyx first: it would otherwise count as failed
			t := time.NewTimer(2 * callControlTimeout)
			select {
			case <-s.released:
			case <-t.C:
			}
			t.Stop()
		}
		// A transfer that did not happen is recorded as what did.
		r = s.controlCall(context.WithoutCancel(callCtx), r)
		// Closing the stream ends the reader if the call ended on our side.
		_ = s.conn.Close(r.closeCode(), string(r)) // the peer may be gone already
		reason <- r
	}()
	return &liveCall{s: s, pipe: newInbound(s, v, s.stt, e.cfg.ReorderDepth), span: span, cancel: cancel, reason: reason}, nil
}

// endCall waits for the run goroutine once the reader has stopped, and
// records the call.
func (e *Engine) endCall(ctx context.Context, c *liveCall) {
	s := c.s
	r := <-c.reason
	c.cancel()
	c.pipe.addStats(&s.stats)
	// The call's span ends before its record is handed on: whoever reads
	// the record finds the trace complete.
	c.span.SetAttributes(attrEndReason.String(string(r)))
	if r.Outcome(true) == store.OutcomeFailed {
		c.span.SetStatus(codes.Error, string(r))
	}
	c.span.End()
	s.finish(context.WithoutCancel(ctx), r)
	s.playout.Close()
}

// Transcriber opening: the caller waits for the greeting meanwhile, so one
// quick retry covers a refused or failed upgrade, no more.
const (
	sttOpenAttempts = 2
	sttOpenBackoff  = 200 * time.Millisecond
)

// openTranscriber opens the call's speech-to-text stream, retrying once.
func (s *Session) openTranscriber(ctx context.Context, cfg ai.TranscribeConfig) (TranscriptStream, error) {
	var err error
	for attempt := 1; ; attempt++ {
		var stream TranscriptStream
		if stream, err = s.eng.deps.STT.Open(ctx, cfg); err == nil {
			return stream, nil
		}
		if attempt == sttOpenAttempts || ctx.Err() != nil {
			return nil, err
		}
		s.log.Warn("transcriber did not open; retrying", "attempt", attempt, "err", err)
		t := time.NewTimer(sttOpenBackoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, err
		}
	}
}

// streamAgent returns the call's id and agent. A stream admitted with a
// token is the call the webhook recorded: it keeps that call's id, so the
// record written at its end lands on the same row, and the agent the token
// names. Any other stream gets a new id and the agent of the dialed number.
func (e *Engine) streamAgent(ctx context.Context, start *telnyx.Start) (CallID, store.Agent, *Resume, error) {
	c := start.Claims
	if c == nil {
		agent, err := e.deps.Agents.AgentForNumber(ctx, store.PhoneNumber(start.To))
		if err != nil {
			return "", store.Agent{}, nil, fmt.Errorf("agent for number: %w", err)
		}
		return CallID(rand.Text()), agent, nil, nil
	}
	id := CallID(c.CallID)
	if _, live := e.registry.Get(id); live {
		return "", store.Agent{}, nil, ErrDuplicateStream
	}
	var res *Resume
	switch {
	case c.Resume:
		// A call moved from another node: its state is that node's, taken
		// once with the token's nonce; the call was claimed by its first
		// stream.
		if e.deps.Mover == nil {
			return "", store.Agent{}, nil, fmt.Errorf("%w: this node does not resume moved calls", telnyx.ErrStreamForbidden)
		}
		r, err := e.deps.Mover.Take(ctx, id, c.Nonce)
		if err != nil {
			return "", store.Agent{}, nil, fmt.Errorf("%w: the moved call's state: %w", telnyx.ErrStreamForbidden, err)
		}
		if r.CallControlID != c.CallControlID || start.CallControlID != c.CallControlID || string(r.OrgID) != c.OrgID {
			return "", store.Agent{}, nil, fmt.Errorf("%w: the start frame or the token contradicts the moved call", telnyx.ErrStreamForbidden)
		}
		start.From, start.To, start.CallSessionID = string(r.From), string(r.To), r.CallSessionID
		res = &r
	case e.deps.Streams == nil:
		return "", store.Agent{}, nil, errors.New("session: no stream claimer; streams with a token cannot be served")
	default:
		if err := e.claimStream(ctx, start); err != nil {
			return "", store.Agent{}, nil, err
		}
	}
	agent, err := e.deps.Agents.GetAgent(ctx, store.OrgID(c.OrgID), store.AgentID(c.AgentID))
	if err != nil {
		return "", store.Agent{}, nil, fmt.Errorf("agent %s of the stream token: %w", c.AgentID, err)
	}
	return id, agent, res, nil
}

// claimStream spends the stream token of start on its call and puts the
// call's identity, as the webhook recorded it, in place of what the start
// frame says: whoever holds a token must not pick the caller's number, the
// dialed number or the call Call Control acts on. A token already spent, a
// call that has ended, or a start frame that contradicts the call is
// refused with telnyx.ErrStreamForbidden.
func (e *Engine) claimStream(ctx context.Context, start *telnyx.Start) error {
	c := start.Claims
	call, err := e.deps.Streams.ClaimCallStream(ctx, store.OrgID(c.OrgID), store.CallID(c.CallID), c.Nonce)
	switch {
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: the call's stream token was used already, or the call has ended", telnyx.ErrStreamForbidden)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: the token's call is not recorded", telnyx.ErrStreamForbidden)
	case err != nil:
		return fmt.Errorf("claim stream: %w", err)
	}
	var mismatch []string
	if call.CallControlID != c.CallControlID || start.CallControlID != c.CallControlID {
		mismatch = append(mismatch, "call_control_id")
	}
	if string(call.AgentID) != c.AgentID {
		mismatch = append(mismatch, "agent")
	}
	if start.From != "" && store.PhoneNumber(start.From) != call.From {
		mismatch = append(mismatch, "from")
	}
	if start.To != "" && store.PhoneNumber(start.To) != call.To {
		mismatch = append(mismatch, "to")
	}
	if len(mismatch) > 0 {
		return fmt.Errorf("%w: the start frame or the token contradicts the recorded call (%v)", telnyx.ErrStreamForbidden, mismatch)
	}
	start.From, start.To = string(call.From), string(call.To)
	if call.CallSessionID != "" {
		start.CallSessionID = call.CallSessionID
	}
	return nil
}

// callControlTimeout bounds the transfer or hang-up at the end of a call.
const callControlTimeout = 5 * time.Second

// controlCall carries out the end of a call decided on this side: a
// transfer to the agent's transfer number, or a hang-up (closing the media
// stream alone would leave the caller on a silent line: the stream is a
// fork of the call, not the call). It returns the reason the call really ended for: a transfer that
// cannot be made (no transfer number, refused by the organization's policy,
// refused by Telnyx) becomes a hang-up, EndTransferFailed. Without Call
// Control (the simulator) the reason stands.
func (s *Session) controlCall(ctx context.Context, r EndReason) EndReason {
	calls := s.eng.deps.Calls
	if calls == nil || !r.endsAtTelnyx() || r == EndTransfer && s.handed {
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, callControlTimeout)
	defer cancel()
	ccid := s.start.CallControlID
	if r == EndTransfer {
		s.handoff = s.handoffSummary()
		to := s.agent.TransferNumber
		switch err := s.transferAllowed(ctx, to); {
		case to == "":
			s.log.Warn("transfer requested but the agent has no transfer number; hanging up")
		case err != nil:
			s.log.Error("transfer refused by the organization's transfer policy; hanging up", "to", store.PhoneNumber(to), "err", err)
		default:
			if err := calls.Transfer(ctx, ccid, to, handoffState(s.id, s.escalation, s.handoff)); err != nil {
				s.log.Error("transfer failed; hanging up", "to", store.PhoneNumber(to), "err", err)
			} else {
				s.log.Info("call transferred", "to", store.PhoneNumber(to), "escalation_reason", string(s.escalation))
				return r
			}
		}
		r = EndTransferFailed
	}
	if err := calls.Hangup(ctx, ccid); err != nil {
		s.log.Error("hang-up failed", "err", err)
	}
	return r
}

// transferAllowed checks to against the organization's transfer policy at
// the moment of the transfer: the agent's number was checked when it was
// set, but the policy may have been tightened since, and an agents file is
// not checked against it. A policy that cannot be read refuses (toll fraud
// costs more than a caller who must call back).
func (s *Session) transferAllowed(ctx context.Context, to string) error {
	orgs := s.eng.deps.Orgs
	if orgs == nil || to == "" {
		return nil
	}
	org, err := orgs.GetOrg(ctx, s.agent.OrgID)
	if err != nil {
		return fmt.Errorf("transfer policy unreadable: %w", err)
	}
	return org.TransferPolicy.Allows(store.PhoneNumber(to))
}

// finish closes the stream and reports the call.
func (s *Session) finish(ctx context.Context, r EndReason) {
	e := s.eng
	if s.stt != nil {
		_ = s.stt.Close() // nothing more to read from it
	}
	e.registry.remove(s.id, r)
	if e.deps.Directory != nil {
		e.deps.Directory.Ended(s.entry.info, r)
	}
	s.tap.end() // listeners of the call are closed
	e.metrics.liveCalls.Dec()
	e.metrics.calls.WithLabelValues(string(r)).Inc()
	if r == EndMoved { // recorded whole by the node that has it now
		s.log.Info("call ended here: it goes on on another node", "duration_here", time.Since(s.begun).Round(time.Millisecond).String())
		return
	}
	dur := time.Since(s.begun)
	e.metrics.callDuration.Observe(dur.Seconds())
	s.log.Info("call ended", "end_reason", string(r), "duration", dur.Round(time.Millisecond).String(),
		"turns", len(s.record), "barge_ins", s.stats.BargeIns, "frames_in", s.stats.FramesIn,
		"frames_concealed", s.stats.Concealed, "protocol_errors", s.stats.ProtocolErrs)
	info := s.entry.snapshot()
	info.State = StateEnding
	if s.escalation != "" && s.handoff == "" {
		s.handoff = s.handoffSummary() // handed over by a supervisor, or without Call Control
	}
	sum := CallSummary{Info: info, EndedAt: time.Now(), EndReason: r, Escalation: s.escalation,
		Transcript: s.record, Events: s.events, Stats: s.stats, PatternsUsed: s.patternsUsed,
		Handoff: s.handoff, Prediction: s.finalPrediction(dur)}
	e.metrics.completed.WithLabelValues(string(sum.Outcome())).Inc()
	e.metrics.ended(sum, dur)
	if r == EndTransfer && s.escalation != "" {
		e.metrics.escalations.WithLabelValues(string(s.escalation)).Inc()
	}
	if e.deps.OnEnd != nil {
		e.deps.OnEnd(ctx, sum)
	}
}

// interimWords is a transcript stream that may send interim guesses while
// the caller speaks (the Deepgram stream).
type interimWords interface{ InterimResults() bool }

func isInterim(st TranscriptStream) bool {
	w, ok := st.(interimWords)
	return ok && w.InterimResults()
}

// callVAD is the node's VAD config with an agent's end-of-turn bounds.
func callVAD(c vad.Config, a store.AgentSettings) vad.Config {
	if a.EndOfTurnMinMS > 0 {
		c.MinSilence = time.Duration(a.EndOfTurnMinMS) * time.Millisecond
	}
	if a.EndOfTurnMaxMS > 0 {
		c.MaxSilence = time.Duration(a.EndOfTurnMaxMS) * time.Millisecond
	}
	if c.MaxSilence > 0 && c.MaxSilence < c.MinSilence {
		c.MaxSilence = c.MinSilence // an agent's min above the node's max
	}
	if c.PauseMin >= c.MinSilence {
		c.PauseMin = 0 // no pause before the end: a pause must come first
	}
	return c
}
