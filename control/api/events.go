package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/session"
	"github.com/iace/iace/session/cluster"
	"github.com/iace/iace/store"
)

// LiveEvents follows the calls in progress on every node (*cluster.Node;
// a session.Engine alone follows its own node's):
// one call's events, or an organization's live calls.
type LiveEvents interface {
	SubscribeCall(org store.OrgID, id session.CallID) (*session.Subscription, error)
	SubscribeLive(org store.OrgID) (*session.Subscription, error)
}

// Stream defaults (Config.EventHeartbeat, Config.EventWriteTimeout,
// Config.EventFollow).
const (
	defaultEventHeartbeat    = 15 * time.Second
	defaultEventWriteTimeout = 10 * time.Second
	defaultEventFollow       = 20 * time.Second
)

// droppedUnauthorized ends a stream whose token no longer authenticates
// (expired, revoked, its user disabled).
const droppedUnauthorized = "unauthorized"

// liveEvent is one Server-Sent Event's data.
type liveEvent struct {
	Seq    uint64       `json:"seq" doc:"The event's number, also its SSE id: the call's event number (a call's stream may skip some), or this stream's own in the live list"`
	At     time.Time    `json:"at" doc:"When it happened"`
	Type   string       `json:"type" enum:"snapshot,started,state,transcript,caller_turn,agent_text,barge_in,agent_turn,sentiment,prediction,latency,dtmf,transfer_requested,would_escalate,holding_phrase,supervisor_role,whisper,ended,dropped" doc:"Also the SSE event name"`
	CallID store.CallID `json:"call_id,omitempty" doc:"The call; absent on the live list's snapshot and its dropped"`
	State  string       `json:"state,omitempty" enum:"starting,listening,thinking,speaking,ending" doc:"state, snapshot of a call"`
	Text   string       `json:"text,omitempty" doc:"The caller's words (transcript, caller_turn) or the agent's (agent_text; barge_in: what the caller had heard when they cut in; agent_turn: what the caller heard, absent for nothing), or a supervisor's guidance for the AI (whisper). Personal data"`
	Role   string       `json:"role,omitempty" enum:"monitor,whisper,barge,takeover" doc:"supervisor_role: the call's new supervisor role"`
	Final  bool         `json:"final,omitempty" doc:"transcript: the words will not change; absent for an interim transcript"`
	Turn   int          `json:"turn,omitempty" doc:"The turn's place in the call's transcript (seq in GET /calls/{id}): the caller's for caller_turn and sentiment, the agent's for agent_text, barge_in, agent_turn and latency"`
	// Interrupted, on agent_turn: a barge-in (or a new reply) cut it.
	Interrupted    bool           `json:"interrupted,omitempty" doc:"agent_turn: the caller cut the agent off"`
	Sentiment      *float64       `json:"sentiment,omitempty" doc:"sentiment: the caller turn's score, -1..1"`
	Resolution     *float64       `json:"resolution_probability,omitempty" doc:"prediction, snapshot of a call: probability that the call ends resolved, 0..1"`
	EscalationRisk *float64       `json:"escalation_risk,omitempty" doc:"prediction, snapshot of a call: probability that the call goes to a human, 0..1"`
	ReplyLatency   *int64         `json:"reply_latency_ms,omitempty" doc:"latency: from the end of the caller's speech to the reply's first audio, milliseconds"`
	Latency        *store.Latency `json:"latency,omitempty" doc:"latency: the reply latency's stages, milliseconds"`
	Digit          string         `json:"digit,omitempty" doc:"dtmf: the key, only when the agent collects digits (settings.collect_digits), and never for viewers"`
	Reason         string         `json:"reason,omitempty" doc:"ended: the end reason; transfer_requested, would_escalate: the escalation reason; holding_phrase: the provider that failed; dropped: slow (the reader fell behind), unauthorized (the token expired or was revoked), draining (the node takes no more calls)"`
	Call           *liveCallBody  `json:"call,omitempty" doc:"snapshot of a call, started"`
	Calls          []liveCallBody `json:"calls,omitzero" doc:"snapshot of the live list: the organization's calls in progress, on every node"`
}

func liveCallOut(c session.CallInfo) liveCallBody {
	role := c.SupervisorRole
	if role == "" {
		role = session.RoleMonitor // every call's until a supervisor switches it
	}
	return liveCallBody{ID: c.ID, AgentID: c.AgentID, From: c.From, To: c.To, StartedAt: c.StartedAt, State: c.State.String(),
		SupervisorRole: string(role), Resolution: c.Resolution, EscalationRisk: c.EscalationRisk}
}

// liveEventOut is ev as a reader sees it: the digit only for supervisors
// and admins (as in GET /calls/{id}).
func liveEventOut(ev session.LiveEvent, showDigits bool) liveEvent {
	b := liveEvent{Seq: ev.Seq, At: ev.At, Type: string(ev.Kind), CallID: ev.CallID, Text: ev.Text, Role: string(ev.Role),
		Final: ev.Final, Turn: ev.Turn, Interrupted: ev.Interrupted, Reason: ev.Reason}
	switch ev.Kind {
	case session.LiveState:
		b.State = ev.State.String()
	case session.LiveSentiment:
		b.Sentiment = &ev.Sentiment
	case session.LivePrediction:
		b.Resolution, b.EscalationRisk = &ev.Resolution, &ev.EscalationRisk
	case session.LiveLatency:
		ms := func(d time.Duration) int { return int(d.Milliseconds()) }
		reply := ev.ReplyLatency.Milliseconds()
		l := ev.Latency
		b.ReplyLatency = &reply
		b.Latency = &store.Latency{EndpointMs: ms(l.Endpoint), STTMs: ms(l.STT), LLMFirstToken: ms(l.LLMFirstToken),
			LLMFirstSentenceMs: ms(l.LLMFirstSentence), TTSFirstByteMs: ms(l.TTSFirstByte), OverheadMs: ms(l.Overhead)}
	case session.LiveDTMF:
		if showDigits {
			b.Digit = ev.Digit
		}
	case session.LiveSnapshot:
		if ev.Call != nil {
			c := liveCallOut(*ev.Call)
			b.Call, b.State = &c, c.State
			b.Resolution, b.EscalationRisk = &c.Resolution, &c.EscalationRisk
		} else {
			b.Calls = make([]liveCallBody, 0, len(ev.Calls))
			for _, c := range ev.Calls {
				b.Calls = append(b.Calls, liveCallOut(c))
			}
		}
	case session.LiveStarted:
		if ev.Call != nil {
			c := liveCallOut(*ev.Call)
			b.Call = &c
		}
	}
	return b
}

// eventStream is the 200 answer of an SSE operation: text/event-stream,
// each event's data a liveEvent.
func (a *API) eventStream() map[string]*huma.Response {
	schema := a.huma.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[liveEvent](), true, "LiveEvent")
	return map[string]*huma.Response{"200": {
		Description: "Server-Sent Events: each `data:` a LiveEvent",
		Content:     map[string]*huma.MediaType{eventStream: {Schema: schema}},
	}}
}

const streamDoc = " Each event's `id:` is its `seq`, `event:` its `type` and `data:` the LiveEvent as JSON; " +
	"a comment line about every 15 s keeps the connection open. A reader that falls 256 events behind gets `dropped` " +
	"(reason `slow`) and the stream closes: the calls never wait for a reader. A token that expires or is revoked, " +
	"or a user disabled, ends the stream with `dropped` (reason `unauthorized`) within about 15 s. " +
	"Needs the bearer token header (a browser's EventSource cannot send one: read the stream with fetch)."

func (a *API) eventRoutes() {
	o := op("callEvents", http.MethodGet, "/calls/{id}/events", "Follow a call in progress (Server-Sent Events)", "calls", store.RoleViewer)
	o.Description = "The events of a call in progress (on whichever node holds it), from now on: first a `snapshot` of the call " +
		"(state, prediction), then as they happen `state`, `transcript` (the caller's words as the transcriber hears them, " +
		"interim then `final`), `caller_turn` (the words the agent answers), `agent_text` (each sentence of the agent's as " +
		"its audio is queued), `barge_in` (the caller cut the agent off: what they had heard), `agent_turn` (what the " +
		"caller heard of the agent's turn), `sentiment`, `prediction`, `latency` (a reply's stages), `dtmf`, " +
		"`transfer_requested`, `would_escalate`, `holding_phrase`, `supervisor_role` (a supervisor switched their role on the call: " +
		"`role`, see POST /calls/{id}/role) and `whisper` (a supervisor's guidance for the AI: `text`); last `ended`, and the stream closes. " +
		"A call that moves to another node (a node's drain, or a lost node's call taken up) goes on in the same stream: a new " +
		"`snapshot` from its new node, whose `seq` numbers start again; if the call does not come back within 20 s, the stream " +
		"ends with `ended` (reason `moved`, or `moved_or_lost` when this node lost track of it). " +
		"Transcripts are personal data. A call that has ended or belongs to another organization is 404." +
		streamDoc
	o.Responses = a.eventStream()
	o.Errors = append(o.Errors, http.StatusServiceUnavailable)
	huma.Register(a.huma, o, func(ctx context.Context, in *CallIDPath) (*huma.StreamResponse, error) {
		return a.subscribe(ctx, true, func(ev LiveEvents, org store.OrgID) (*session.Subscription, error) {
			return ev.SubscribeCall(org, session.CallID(in.ID))
		})
	})

	o = op("liveEvents", http.MethodGet, "/calls/live/events", "Follow the calls in progress (Server-Sent Events)", "calls", store.RoleViewer)
	o.Description = "The organization's calls in progress, on every node, as they change: first a `snapshot` (`calls`, " +
		"as GET /calls/live), then each call's `started` (`call`), `state`, `prediction`, `supervisor_role` (`role`) and `ended`. A node that " +
		"drains ends the stream with `dropped` (reason `draining`); reconnect to reach another." + streamDoc
	o.Responses = a.eventStream()
	o.Errors = append(o.Errors, http.StatusServiceUnavailable)
	huma.Register(a.huma, o, func(ctx context.Context, _ *struct{}) (*huma.StreamResponse, error) {
		return a.subscribe(ctx, false, func(ev LiveEvents, org store.OrgID) (*session.Subscription, error) {
			return ev.SubscribeLive(org)
		})
	})
}

// subscribe opens the principal's subscription, scoped to their
// organization, and answers with its stream. A call's stream (follow)
// follows the call when it moves to another node.
func (a *API) subscribe(ctx context.Context, follow bool, open func(LiveEvents, store.OrgID) (*session.Subscription, error)) (*huma.StreamResponse, error) {
	if a.deps.Events == nil {
		return nil, huma.Error503ServiceUnavailable("live events are not available")
	}
	p := principal(ctx)
	sub, err := open(a.deps.Events, p.OrgID)
	switch {
	case errors.Is(err, session.ErrCallNotLive):
		return nil, huma.Error404NotFound("no call in progress with this id")
	case errors.Is(err, session.ErrTooManySubscribers):
		return nil, huma.ErrorWithHeaders(huma.Error503ServiceUnavailable("too many readers of these events; retry later"),
			http.Header{"Retry-After": {"5"}})
	case errors.Is(err, session.ErrDraining):
		return nil, huma.Error503ServiceUnavailable("this node is draining; retry to reach another")
	case errors.Is(err, cluster.ErrUnreachable):
		return nil, huma.ErrorWithHeaders(huma.Error503ServiceUnavailable("the node holding the call did not answer; retry in a moment"),
			http.Header{"Retry-After": {"1"}})
	case err != nil:
		return nil, a.internalError(ctx, "subscribe to live events", err)
	}
	var reopen func() (*session.Subscription, error)
	if follow {
		reopen = func() (*session.Subscription, error) { return open(a.deps.Events, p.OrgID) }
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		a.serveEvents(ctx, hctx, sub, reopen, p)
	}}, nil
}

// followRetry is how often a stream whose call moved asks for it again.
const followRetry = 250 * time.Millisecond

// moved reports whether ev ends a call's subscription because the call
// left its node (a drain moved it, or a reader on another node lost
// track of it: moved_or_lost), rather than because it ended.
func moved(ev session.LiveEvent) bool {
	return ev.Kind == session.LiveEnded && (ev.Reason == string(session.EndMoved) || ev.Reason == cluster.EndMovedOrLost)
}

// serveEvents writes sub's events as Server-Sent Events until the
// subscription ends, the client goes away (ctx, the request's), a write
// does not finish within Config.EventWriteTimeout, or the token stops
// authenticating. With reopen, a call's subscription that ends because
// the call moved to another node is opened again there: the stream goes
// on with a new snapshot, and ends with the "ended" it had if the call
// does not come back within Config.EventFollow.
func (a *API) serveEvents(ctx context.Context, hctx huma.Context, sub *session.Subscription, reopen func() (*session.Subscription, error), p auth.Principal) {
	defer func() { sub.Close() }() // the last one opened
	w, ok := hctx.BodyWriter().(http.ResponseWriter)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	// The request has been read: a read deadline the server set for it
	// would, once passed, cancel the request's context and end the stream.
	_ = rc.SetReadDeadline(time.Time{}) // an error: the writer takes no deadlines (a test recorder)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // a proxy that buffers would hold the events back
	w.WriteHeader(http.StatusOK)

	token, _ := auth.BearerToken(hctx.Header("Authorization"))
	showDigits := rank(p.Role) >= rank(store.RoleSupervisor)
	heartbeat := time.NewTicker(a.cfg.EventHeartbeat)
	defer heartbeat.Stop()
	write := func(b []byte) bool {
		// Each write gets its own deadline, in place of the one the server
		// set for the whole answer: a reader that stops reading is cut off.
		_ = rc.SetWriteDeadline(time.Now().Add(a.cfg.EventWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte(": stream open\n\n")) { // the headers go out now
		return
	}
	var (
		buf    []byte
		events = sub.Events()
		// While the call is followed to its new node: the "ended" held
		// back, the next try and when to give up.
		held   []byte
		retry  *time.Timer
		retryC <-chan time.Time
		giveUp time.Time
	)
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	for {
		select {
		case ev, open := <-events:
			if !open {
				return // after its last event, written
			}
			if reopen != nil && moved(ev) {
				held = appendSSE(nil, liveEventOut(ev, showDigits), true)
				events, giveUp = nil, time.Now().Add(a.cfg.EventFollow)
				if retry == nil {
					retry = time.NewTimer(0)
				} else {
					retry.Reset(0)
				}
				retryC = retry.C
				continue
			}
			buf = appendSSE(buf[:0], liveEventOut(ev, showDigits), true)
			if !write(buf) {
				return
			}
		case <-retryC:
			if next, err := reopen(); err == nil {
				sub.Close()
				sub, events, held, retryC = next, next.Events(), nil, nil
				continue
			}
			if time.Now().After(giveUp) {
				write(held)
				return
			}
			retry.Reset(followRetry)
		case <-heartbeat.C:
			// The token is checked again: an expired or revoked one, or a
			// disabled user, ends the stream; a role change applies.
			np, err := a.deps.Auth.Authenticate(ctx, token)
			switch {
			case err == nil:
				showDigits = rank(np.Role) >= rank(store.RoleSupervisor)
			case errors.Is(err, store.ErrUnavailable) || errors.Is(err, auth.ErrBusy) || ctx.Err() != nil:
				// Not the reader's doing: the stream goes on.
			default:
				end := liveEvent{At: time.Now(), Type: string(session.LiveDropped), Reason: droppedUnauthorized}
				write(appendSSE(buf[:0], end, false))
				return
			}
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// appendSSE appends ev as one Server-Sent Event (WHATWG HTML, "Server-sent
// events"): its id when withID, its type as the event name, its JSON as
// one data line (encoding/json escapes every line break).
func appendSSE(b []byte, ev liveEvent, withID bool) []byte {
	if withID {
		b = append(b, "id: "...)
		b = strconv.AppendUint(b, ev.Seq, 10)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, ev.Type...)
	b = append(b, "\ndata: "...)
	data, err := json.Marshal(ev)
	if err != nil {
		data = []byte(`{"type":"` + ev.Type + `"}`) // a struct of strings, numbers and times: cannot fail
	}
	b = append(b, data...)
	return append(b, "\n\n"...)
}
