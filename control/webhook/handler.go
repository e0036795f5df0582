package webhook

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/iace/iace/media/telnyx/callcontrol"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// Agents finds the agent of a dialed number, or by id for the default agent.
type Agents interface {
	AgentForNumber(ctx context.Context, e164 store.PhoneNumber) (store.Agent, error)
	GetAgent(ctx context.Context, org store.OrgID, id store.AgentID) (store.Agent, error)
}

// Calls is where calls are recorded.
type Calls interface {
	CreateCall(ctx context.Context, c store.Call) (store.Call, error)
	GetCall(ctx context.Context, org store.OrgID, id store.CallID) (store.CallDetail, error)
	UpdateCall(ctx context.Context, c store.Call) (store.Call, error)
	FinishCall(ctx context.Context, end store.CallEnd) (store.Call, error)
}

// CallControl sends Telnyx Call Control commands; *callcontrol.Client is one.
type CallControl interface {
	Answer(ctx context.Context, callControlID string, p callcontrol.AnswerParams) error
	Hangup(ctx context.Context, callControlID string, p callcontrol.HangupParams) error
}

// LiveCalls ends a live session, on whichever node holds it, or has it
// hand the caller to the agent's transfer number for an escalation reason:
// *cluster.Node is one. Both report false when no node holds the call,
// and an error when the node holding it did not acknowledge.
type LiveCalls interface {
	Hangup(ctx context.Context, id session.CallID, reason session.EndReason) (bool, error)
	Escalate(ctx context.Context, id session.CallID, reason store.EscalationReason) (bool, error)
	// StreamOf is the media stream a live call uses now; live is false
	// when no node holds the call.
	StreamOf(ctx context.Context, id session.CallID) (streamID string, live bool, err error)
}

// LocalCalls is implemented by a LiveCalls that can tell the calls this
// node holds itself (*cluster.Node). While the shared event ids cannot be
// reached (Redis is away, and so is the routing of commands to other
// nodes) the Handler takes only the events it can carry out alone: a new
// call, or one about a call this node holds. Others are refused with 503,
// so that Telnyx delivers them again once Redis is back.
type LocalCalls interface {
	HoldsLocally(id session.CallID) bool
}

// Recoverer takes up again, on a new stream, a call whose node was lost
// (*cluster.Node with --recover-lost-calls). Telnyx's word that the
// call's stream failed or stopped is the first sign of a node's death.
type Recoverer interface {
	// RecoverStream reports whether the call of stream streamID moved to a
	// new stream: false, nil when the node holding it is alive (the
	// stream's end is the call's own) or there is nothing to take up.
	RecoverStream(ctx context.Context, id session.CallID, streamID string) (bool, error)
}

// Admission decides whether a new call may be answered: its organization
// under its concurrent-call limit and a node with room, across the nodes
// (*cluster.Node). An error says why not (session.ErrOrgAtLimit,
// session.ErrAtCapacity); a check that cannot be made admits.
type Admission interface {
	AdmitNew(ctx context.Context, org store.OrgID) error
}

// Deps are what a Handler works with. Live may be nil (no sessions to
// end), Admission too (every call is answered).
type Deps struct {
	Agents    Agents
	Calls     Calls
	Control   CallControl
	Live      LiveCalls
	Admission Admission
	// Recover, when set, takes up a lost node's call when its stream's
	// failure or stop arrives; nil: such a call ends.
	Recover Recoverer
	Dedupe  Deduper
	Metrics *Metrics
	Log     *slog.Logger
	// Ready, when set, says whether events can be processed now: while it
	// returns an error (the store every call is written to is down) each
	// event is refused with 503, unmarked, so that Telnyx delivers it
	// again later instead of its being accepted and lost.
	Ready func() error
	// StoreDown, when set, is told that processing an event failed because
	// the store could not be reached (store.ErrUnavailable), so that Ready
	// refuses the events after it at once rather than at its next check.
	StoreDown func(err error)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tracer, when set, traces each request and each event's processing,
	// which the call its answer starts continues; nil: no spans.
	Tracer trace.TracerProvider
}

// lane is one ordered processing queue. slots admits an event before its
// id is marked, so a full lane refuses without marking.
type lane struct {
	q     chan queued
	slots chan struct{}
}

// queued is an accepted event and the span of the request that brought
// it, whose trace its processing continues.
type queued struct {
	ev     Event
	parent trace.SpanContext
}

// Handler is the http.Handler of POST /webhooks/telnyx.
type Handler struct {
	cfg    Config
	deps   Deps
	stream *url.URL
	log    *slog.Logger
	lanes  []lane
	tracer trace.Tracer
	// local remembers every event id this node marked: the check while the
	// shared ids cannot be reached (ErrSharedDedupeDown).
	local *localDeduper
	// sharedDown is set from the shared ids' first failure to their next
	// answer, so that an outage is logged once, not per event.
	sharedDown atomic.Bool

	mu       sync.RWMutex
	closed   bool
	enqueing sync.WaitGroup
}

// New checks cfg and deps and returns a Handler; Run processes its events.
func New(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Agents == nil || deps.Calls == nil || deps.Control == nil || deps.Dedupe == nil {
		return nil, errors.New("webhook: agents, calls, call control and dedupe are required")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	base, err := streamBase(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	tp := deps.Tracer
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	h := &Handler{cfg: cfg, deps: deps, stream: base, log: deps.Log, lanes: make([]lane, cfg.Workers), tracer: tp.Tracer(tracerName),
		local: newLocalDeduper(localDedupeTTL, localDedupeMax)}
	for i := range h.lanes {
		h.lanes[i] = lane{q: make(chan queued, cfg.QueueDepth), slots: make(chan struct{}, cfg.QueueDepth)}
	}
	return h, nil
}

// tracerName is the package's tracer, named by import path.
const tracerName = "github.com/iace/iace/control/webhook"

// ServeHTTP checks, dedupes and queues one event, and answers at once.
// The request is a server span; a traceparent it carries (W3C Trace
// Context) is its parent.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := h.tracer.Start(ctx, r.Method+" /webhooks/telnyx", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	r = r.WithContext(ctx)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.refuse(w, resultOversize, http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		h.refuse(w, resultMalformed, http.StatusBadRequest, "unreadable body")
		return
	}
	err = VerifySignature(h.cfg.PublicKey, r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp), body, h.deps.Now(), h.cfg.Tolerance)
	switch {
	case errors.Is(err, ErrStale):
		h.log.WarnContext(ctx, "webhook refused: timestamp outside the replay window", "remote", r.RemoteAddr, "err", err)
		h.refuse(w, resultStale, http.StatusUnauthorized, "stale timestamp")
		return
	case err != nil:
		h.log.WarnContext(ctx, "webhook refused: bad signature", "remote", r.RemoteAddr)
		h.refuse(w, resultBadSig, http.StatusUnauthorized, "bad signature")
		return
	}
	ev, err := ParseEvent(body)
	if err != nil {
		h.log.WarnContext(ctx, "webhook refused: malformed event", "err", err)
		h.refuse(w, resultMalformed, http.StatusBadRequest, "malformed event")
		return
	}
	span.SetAttributes(attrEventType.String(ev.Type), attrEventID.String(ev.ID))
	if !slices.Contains(handledTypes, ev.Type) {
		h.deps.Metrics.count(ev.Type, resultIgnored)
		w.WriteHeader(http.StatusOK)
		return
	}
	status, result := h.enqueue(ctx, ev)
	if result != "" {
		h.deps.Metrics.count(ev.Type, result)
	}
	if status != http.StatusOK {
		w.Header().Set("Retry-After", "1")
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// enqueue reserves a place in the event's lane, then marks its id, then
// queues it: a refused event is never marked, a marked one never refused.
// The id is marked in the shared deduper and in this node's memory, which
// decides alone while the shared ids cannot be reached. It returns the
// status to answer and the result to count now ("" when the worker counts
// it).
func (h *Handler) enqueue(ctx context.Context, ev Event) (int, string) {
	h.mu.RLock()
	if h.closed {
		h.mu.RUnlock()
		return http.StatusServiceUnavailable, resultUnavailable
	}
	h.enqueing.Add(1)
	h.mu.RUnlock()
	defer h.enqueing.Done()
	if h.deps.Ready != nil {
		if err := h.deps.Ready(); err != nil {
			h.log.DebugContext(ctx, "webhook refused while the store is down, so that Telnyx retries it", "event_type", ev.Type, "event_id", ev.ID, "err", err)
			return http.StatusServiceUnavailable, resultUnavailable
		}
	}

	l := h.lanes[h.laneOf(ev.Payload.CallControlID)]
	select {
	case l.slots <- struct{}{}:
	default:
		h.log.WarnContext(ctx, "webhook queue full: refusing the event so Telnyx retries it", "event_type", ev.Type, "event_id", ev.ID)
		return http.StatusServiceUnavailable, resultQueueFull
	}
	dctx, cancel := context.WithTimeout(ctx, h.cfg.DedupeTimeout)
	fresh, err := h.deps.Dedupe.Mark(dctx, ev.ID)
	cancel()
	switch {
	case errors.Is(err, ErrSharedDedupeDown) && ctx.Err() == nil:
		// Redis is away. Refusing would leave every new call ringing
		// until it is back; processing is idempotent (Handler.handle), so
		// this node's memory decides. A redelivery that reaches another
		// node may be processed there again, to no effect. An event about
		// a call another node holds cannot reach it now: refused, retried.
		h.sharedFailed(ctx, err)
		if !h.aloneCanCarryOut(ev) {
			<-l.slots
			h.log.DebugContext(ctx, "webhook refused while Redis is away: another node holds the call", "event_type", ev.Type, "event_id", ev.ID)
			return http.StatusServiceUnavailable, resultUnavailable
		}
		h.deps.Metrics.countLocal()
		fresh = h.local.mark(ev.ID, h.deps.Now())
	case err != nil:
		<-l.slots
		h.log.ErrorContext(ctx, "webhook dedupe unavailable: refusing the event so Telnyx retries it", "event_id", ev.ID, "err", err)
		return http.StatusServiceUnavailable, resultUnavailable
	default:
		h.sharedAnswered(ctx)
		// Remembered here too, so that a switch to this node's memory, or
		// back, does not take an event twice: a redelivery during an
		// outage of what was marked before it, or after it of what was
		// taken during it (which the shared ids never saw).
		fresh = h.local.mark(ev.ID, h.deps.Now()) && fresh
	}
	if !fresh {
		<-l.slots
		h.log.DebugContext(ctx, "webhook redelivery dropped", "event_type", ev.Type, "event_id", ev.ID)
		return http.StatusOK, resultDuplicate
	}
	l.q <- queued{ev: ev, parent: trace.SpanContextFromContext(ctx)} // never blocks: the slot taken above is this event's place
	return http.StatusOK, ""
}

// aloneCanCarryOut reports whether this node can process ev without the
// other nodes: a new call, or an event about a call it holds (or when it
// cannot tell, a single node's).
func (h *Handler) aloneCanCarryOut(ev Event) bool {
	local, ok := h.deps.Live.(LocalCalls)
	if !ok || ev.Type == TypeCallInitiated {
		return true
	}
	return local.HoldsLocally(CallIDFor(ev.Payload.CallControlID))
}

// sharedFailed logs the first failure of an outage of the shared ids.
func (h *Handler) sharedFailed(ctx context.Context, err error) {
	if h.sharedDown.CompareAndSwap(false, true) {
		h.log.WarnContext(ctx, "webhook dedupe: the shared event ids cannot be reached; events are deduplicated on this node alone until they can",
			"err", err)
	}
}

// sharedAnswered logs the end of an outage of the shared ids.
func (h *Handler) sharedAnswered(ctx context.Context) {
	if h.sharedDown.CompareAndSwap(true, false) {
		h.log.InfoContext(ctx, "webhook dedupe: the shared event ids answer again")
	}
}

func (h *Handler) laneOf(ccid string) int {
	f := fnv.New32a()
	_, _ = io.WriteString(f, ccid)
	return int(f.Sum32() % uint32(len(h.lanes))) //nolint:gosec // G115: a handful of lanes, set by the config
}

func (h *Handler) refuse(w http.ResponseWriter, result string, status int, msg string) {
	h.deps.Metrics.count(typeOther, result) // refused before its type was known
	http.Error(w, msg, status)
}

// Run processes queued events until ctx ends, then stops taking events
// (503), finishes the queued ones (they were acknowledged) for up to
// DrainTimeout, and returns when every worker has stopped. Events that
// arrive while Run is not running wait in the queues; Run may be called again
// after it has returned, never twice at once.
func (h *Handler) Run(ctx context.Context) error {
	// Events are refused only while Run drains; before and after, they
	// wait in the queues for the next Run.
	defer func() {
		h.mu.Lock()
		h.closed = false
		h.mu.Unlock()
	}()
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	draining := make(chan struct{})
	var wg sync.WaitGroup
	for i := range h.lanes {
		l := h.lanes[i]
		wg.Go(func() { h.work(wctx, l, draining) })
	}
	<-ctx.Done()
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.enqueing.Wait() // no event is between its mark and its queue
	left := 0
	for _, l := range h.lanes {
		left += len(l.q)
	}
	if left > 0 {
		h.log.Info("webhook: finishing queued events", "queued", left)
	}
	close(draining)
	done := make(chan struct{})
	go func() { // ends when the workers have, which the select below ensures
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(h.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		cancel()
		<-done
		return fmt.Errorf("webhook: drain deadline passed with events still queued: %w", context.DeadlineExceeded)
	}
}

// work processes one lane in order until draining is closed and the lane
// is empty.
func (h *Handler) work(ctx context.Context, l lane, draining <-chan struct{}) {
	for {
		select {
		case q := <-l.q:
			<-l.slots
			h.handle(ctx, q)
		case <-draining:
			for {
				select {
				case q := <-l.q:
					<-l.slots
					h.handle(ctx, q)
				default:
					return
				}
			}
		}
	}
}
