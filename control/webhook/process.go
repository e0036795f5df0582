package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/media/telnyx/callcontrol"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// End reasons written by the webhook path, for calls no session recorded.
const (
	endHangupBeforeStream = "hangup_before_stream"
	endAnswerFailed       = "answer_failed"
	endStreamFailed       = "stream_failed"
	// A call refused at its start: its organization at its
	// concurrent-call limit, or every node at its capacity.
	endRefusedOrgLimit = "refused_org_limit"
	endRefusedCapacity = "refused_capacity"
)

// errUnknownNumber: no agent answers the dialed number and the policy is
// to reject.
var errUnknownNumber = errors.New("webhook: no agent for the dialed number")

// CallIDFor is the IACE call id of a Telnyx call: derived from its
// call_control_id, so every event of the call, on any node, in any order,
// and any redelivery finds the same row.
func CallIDFor(callControlID string) store.CallID {
	sum := sha256.Sum256([]byte("iace call|" + callControlID))
	return store.CallID("c" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:15])))
}

// clientState is what IACE asks Telnyx to echo in the call's later events:
// "<org id>/<call id>", so that events after the answer find the call's
// organization without looking the number up again.
func clientState(org store.OrgID, id store.CallID) []byte {
	return []byte(string(org) + "/" + string(id))
}

// parseClientState reads a client_state (base64, as Telnyx sends it) and
// trusts it only if it names the call of this call_control_id.
func parseClientState(b64, ccid string) (store.OrgID, bool) {
	if b64 == "" {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", false
	}
	i := strings.LastIndexByte(string(b), '/')
	if i <= 0 || store.CallID(b[i+1:]) != CallIDFor(ccid) {
		return "", false
	}
	return store.OrgID(b[:i]), true
}

// Span attribute keys.
const (
	attrEventType = attribute.Key("iace.webhook.event_type")
	attrEventID   = attribute.Key("iace.webhook.event_id")
	attrResult    = attribute.Key("iace.webhook.result")
	attrCallID    = attribute.Key("iace.call_id")
)

// handle processes one event and counts its result. Processing is
// idempotent: a replay after a crash does no harm. Its span continues the
// trace of the request that brought the event, though that request has
// been answered: the answer's media stream, and so the call, continue it
// in turn (the stream token carries the span's context).
func (h *Handler) handle(ctx context.Context, q queued) {
	ev := q.ev
	if q.parent.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, q.parent)
	}
	ctx, span := h.tracer.Start(ctx, "webhook "+ev.Type, trace.WithAttributes(attrEventType.String(ev.Type), attrEventID.String(ev.ID),
		attrCallID.String(string(CallIDFor(ev.Payload.CallControlID)))))
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ProcessTimeout)
	defer cancel()
	log := media.WithTraceID(h.log.With(slog.String("event_type", ev.Type), slog.String("event_id", ev.ID),
		slog.String("call_id", string(CallIDFor(ev.Payload.CallControlID)))), span.SpanContext())
	var (
		result string
		err    error
	)
	if ev.Payload.CallControlID == "" {
		result = resultIgnored
	} else {
		switch ev.Type {
		case TypeCallInitiated:
			result, err = h.initiated(ctx, log, ev)
		case TypeCallAnswered:
			result, err = h.answered(ctx, ev)
		case TypeCallHangup:
			result, err = h.hangup(ctx, log, ev)
		case TypeCallDTMF:
			result, err = h.dtmf(ctx, log, ev)
		case TypeStreamingFailed:
			result, err = h.streamFailed(ctx, log, ev)
		case TypeStreamingStopped:
			result = h.streamStopped(ctx, log, ev)
		case TypeStreamingStarted:
			log.Debug("media stream event")
			result = resultProcessed
		default:
			result = resultIgnored
		}
	}
	if err != nil {
		result = resultError
		if errors.Is(err, store.ErrUnavailable) && h.deps.StoreDown != nil {
			h.deps.StoreDown(err)
		}
		log.Error("webhook event failed", "err", err)
		span.SetStatus(codes.Error, "webhook event failed")
	}
	span.SetAttributes(attrResult.String(result))
	h.deps.Metrics.count(ev.Type, result)
}

// route finds the agent of a dialed number, applying the unknown-number policy.
func (h *Handler) route(ctx context.Context, to string) (store.Agent, error) {
	a, err := h.deps.Agents.AgentForNumber(ctx, store.PhoneNumber(to))
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrNoAgent) {
		return store.Agent{}, fmt.Errorf("agent for number: %w", err)
	}
	if h.cfg.UnknownNumber != UnknownDefault {
		return store.Agent{}, errUnknownNumber
	}
	a, err = h.deps.Agents.GetAgent(ctx, h.cfg.DefaultOrg, h.cfg.DefaultAgent)
	if err != nil {
		return store.Agent{}, fmt.Errorf("default agent: %w", err)
	}
	return a, nil
}

// initiated records an incoming call and answers it with a media stream.
func (h *Handler) initiated(ctx context.Context, log *slog.Logger, ev Event) (string, error) {
	p := ev.Payload
	if p.Direction != "incoming" {
		return resultIgnored, nil
	}
	agent, err := h.route(ctx, p.To)
	if errors.Is(err, errUnknownNumber) {
		// Hang up politely rather than leave the caller ringing.
		err := h.deps.Control.Hangup(ctx, p.CallControlID, callcontrol.HangupParams{CommandID: "reject-" + ev.ID})
		if err != nil {
			return "", fmt.Errorf("reject unknown number: %w", err)
		}
		log.Info("call to an unknown number rejected")
		return resultRejected, nil
	}
	if err != nil {
		return "", err
	}
	id := CallIDFor(p.CallControlID)
	call := store.Call{
		ID: id, OrgID: agent.OrgID, AgentID: agent.ID,
		CallControlID: p.CallControlID, CallSessionID: p.CallSessionID, Direction: "incoming",
		From: store.PhoneNumber(p.From), To: store.PhoneNumber(p.To),
		Status: store.CallRinging, StartedAt: h.when(ev),
	}
	if _, err := h.deps.Calls.CreateCall(ctx, call); errors.Is(err, store.ErrConflict) {
		// A replay: answer again unless the call is over (the hang-up came first).
		got, err := h.deps.Calls.GetCall(ctx, agent.OrgID, id)
		if err != nil {
			return "", fmt.Errorf("existing call: %w", err)
		}
		if got.Call.Status == store.CallEnded {
			return resultIgnored, nil
		}
	} else if err != nil {
		return "", fmt.Errorf("create call: %w", err)
	} else if h.deps.Admission != nil {
		// A new call (not a redelivery): the deployment must have room for
		// it, and its organization be under its concurrent-call limit.
		if why := h.deps.Admission.AdmitNew(ctx, agent.OrgID); why != nil {
			reason := endRefusedCapacity
			if errors.Is(why, session.ErrOrgAtLimit) {
				reason = endRefusedOrgLimit
			}
			log.Warn("call refused: "+why.Error(), "org_id", string(agent.OrgID), "end_reason", reason)
			herr := h.deps.Control.Hangup(ctx, p.CallControlID, callcontrol.HangupParams{CommandID: "refuse-" + ev.ID})
			return resultRejected, errors.Join(herr, h.finish(ctx, agent.OrgID, id, ev, store.OutcomeFailed, reason))
		}
	}
	// The call the stream brings continues this event's trace.
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	tok, err := telnyx.Mint(h.cfg.StreamSecret, telnyx.StreamClaims{
		CallID: string(id), OrgID: string(agent.OrgID), AgentID: string(agent.ID), CallControlID: p.CallControlID,
		TraceParent: carrier["traceparent"],
	}, h.deps.Now(), h.cfg.StreamTokenTTL)
	if err != nil {
		return "", err
	}
	stream := *h.stream
	stream.RawQuery = url.Values{telnyx.TokenParam: {tok}}.Encode()
	err = h.deps.Control.Answer(ctx, p.CallControlID, callcontrol.AnswerParams{
		StreamParams: callcontrol.StreamParams{
			StreamURL:               stream.String(),
			StreamTrack:             callcontrol.TrackInbound,
			BidirectionalMode:       callcontrol.ModeRTP,
			BidirectionalCodec:      callcontrol.CodecPCMU,
			BidirectionalTargetLegs: callcontrol.LegsSelf,
		},
		ClientState: clientState(agent.OrgID, id),
		CommandID:   "answer-" + ev.ID,
	})
	switch {
	case callcontrol.IsCallEnded(err):
		log.Info("the caller hung up before the answer")
		return resultProcessed, h.finish(ctx, agent.OrgID, id, ev, store.OutcomeAbandoned, endHangupBeforeStream)
	case err != nil:
		ferr := h.finish(ctx, agent.OrgID, id, ev, store.OutcomeFailed, endAnswerFailed)
		return "", errors.Join(fmt.Errorf("answer: %w", err), ferr)
	}
	log.Info("call answered with a media stream", "org_id", string(agent.OrgID), "agent_id", string(agent.ID))
	return resultProcessed, nil
}

// callOf finds the org and row of the event's call; ok is false when IACE
// has no such call (a rejected number, or events of a call it never saw).
func (h *Handler) callOf(ctx context.Context, ev Event) (store.Call, bool, error) {
	org, ok := parseClientState(ev.Payload.ClientState, ev.Payload.CallControlID)
	if !ok {
		// Before the answer there is no client_state: route the number again.
		agent, err := h.route(ctx, ev.Payload.To)
		if errors.Is(err, errUnknownNumber) {
			return store.Call{}, false, nil
		}
		if err != nil {
			return store.Call{}, false, err
		}
		org = agent.OrgID
	}
	d, err := h.deps.Calls.GetCall(ctx, org, CallIDFor(ev.Payload.CallControlID))
	if errors.Is(err, store.ErrNotFound) {
		return store.Call{}, false, nil
	}
	if err != nil {
		return store.Call{}, false, fmt.Errorf("get call: %w", err)
	}
	return d.Call, true, nil
}

// answered marks a ringing call active.
func (h *Handler) answered(ctx context.Context, ev Event) (string, error) {
	call, ok, err := h.callOf(ctx, ev)
	if err != nil || !ok || call.Status != store.CallRinging {
		return resultIgnored, err // ended already (out of order) or answered before
	}
	at := h.when(ev)
	call.Status, call.AnsweredAt = store.CallActive, &at
	if _, err := h.deps.Calls.UpdateCall(ctx, call); err != nil {
		return "", fmt.Errorf("update call: %w", err)
	}
	return resultProcessed, nil
}

// hangup ends the call's live session, which records the call; a call that
// never got to a session (still ringing) is finished here as abandoned.
func (h *Handler) hangup(ctx context.Context, log *slog.Logger, ev Event) (string, error) {
	id := CallIDFor(ev.Payload.CallControlID)
	if h.deps.Live != nil {
		found, err := h.deps.Live.Hangup(ctx, id, session.EndHangup)
		if err != nil {
			// Telnyx stops the call's media stream too, which ends the
			// session on its node; the failure is reported, not retried.
			return "", fmt.Errorf("end the call's session on its node: %w", err)
		}
		if found {
			log.Info("call hung up: ending its session")
			return resultProcessed, nil
		}
	}
	call, ok, err := h.callOf(ctx, ev)
	if err != nil || !ok || call.Status != store.CallRinging {
		// Ended already, or answered: the session that held the stream
		// writes the record when its stream stops.
		return resultIgnored, err
	}
	log.Info("call hung up before its media stream", "hangup_cause", ev.Payload.HangupCause)
	return resultProcessed, h.finish(ctx, call.OrgID, id, ev, store.OutcomeAbandoned, endHangupBeforeStream)
}

// dtmf transfers the call to a human when the caller presses 0 and the
// agent's escalation rules say so.
func (h *Handler) dtmf(ctx context.Context, log *slog.Logger, ev Event) (string, error) {
	if ev.Payload.Digit != "0" || h.deps.Live == nil {
		return resultIgnored, nil
	}
	call, ok, err := h.callOf(ctx, ev)
	if err != nil || !ok {
		return resultIgnored, err
	}
	agent, err := h.deps.Agents.GetAgent(ctx, call.OrgID, call.AgentID)
	if err != nil {
		return "", fmt.Errorf("agent of the call: %w", err)
	}
	if !agent.Escalation.TransferOnDTMFZero {
		return resultIgnored, nil
	}
	found, err := h.deps.Live.Escalate(ctx, call.ID, store.EscalationDTMF)
	if err != nil {
		return "", fmt.Errorf("transfer the call on its node: %w", err)
	}
	if !found {
		log.Info("caller pressed 0 but the call is not live on any node")
		return resultIgnored, nil
	}
	log.Info("caller pressed 0: transferring to a human")
	return resultProcessed, nil
}

// streamFailed hangs up a call whose media stream could not be opened: the
// caller would otherwise hear silence.
func (h *Handler) streamFailed(ctx context.Context, log *slog.Logger, ev Event) (string, error) {
	log.Warn("media stream failed", "failure_reason", ev.Payload.FailureReason)
	id := CallIDFor(ev.Payload.CallControlID)
	if h.movedOn(ctx, id, ev) {
		log.Info("a stream the call no longer uses failed; the call goes on")
		return resultIgnored, nil
	}
	if h.recover(ctx, log, ev) {
		return resultProcessed, nil
	}
	// Looked at again: another path (a restarted node, the reaper) may
	// have taken the call up while recover waited for it.
	if h.movedOn(ctx, id, ev) {
		log.Info("the call was taken up on a new stream meanwhile; it goes on")
		return resultIgnored, nil
	}
	if h.deps.Live != nil {
		found, err := h.deps.Live.Hangup(ctx, id, session.EndTransportError)
		if err != nil {
			return "", fmt.Errorf("end the call's session on its node: %w", err)
		}
		if found {
			return resultProcessed, nil
		}
	}
	call, ok, err := h.callOf(ctx, ev)
	if err != nil || !ok || call.Status == store.CallEnded {
		return resultIgnored, err
	}
	err = h.deps.Control.Hangup(ctx, ev.Payload.CallControlID, callcontrol.HangupParams{CommandID: "hangup-" + ev.ID})
	return resultProcessed, errors.Join(err, h.finish(ctx, call.OrgID, id, ev, store.OutcomeFailed, endStreamFailed))
}

// movedOn reports whether the call of the event's failed stream has
// another stream now (it moved to another node, or was taken up): the old
// stream's failure is not the call's.
func (h *Handler) movedOn(ctx context.Context, id store.CallID, ev Event) bool {
	if h.deps.Live == nil || ev.Payload.StreamID == "" {
		return false
	}
	cur, live, err := h.deps.Live.StreamOf(ctx, id)
	return err == nil && live && cur != "" && cur != ev.Payload.StreamID
}

// streamStopped: a stream stops when its call ends, when a moved call's
// old stream is let go, and when its node dies (Telnyx may report the lost
// socket either way). Only the last needs anything done.
func (h *Handler) streamStopped(ctx context.Context, log *slog.Logger, ev Event) string {
	log.Debug("media stream event")
	h.recover(ctx, log, ev)
	return resultProcessed
}

// recover takes up the call of the event's stream on a new one if the node
// holding it was lost; it reports whether it did. A failure is logged and
// left to what follows: the call ends, now or when the node counts as
// lost.
func (h *Handler) recover(ctx context.Context, log *slog.Logger, ev Event) bool {
	if h.deps.Recover == nil || ev.Payload.StreamID == "" {
		return false
	}
	ok, err := h.deps.Recover.RecoverStream(ctx, CallIDFor(ev.Payload.CallControlID), ev.Payload.StreamID)
	switch {
	case err != nil:
		log.Warn("the call's node seems lost, and the call could not be taken up", "err", err)
	case ok:
		log.Warn("the call's node was lost: the call goes on, on a new stream, from its last turn")
	}
	return ok
}

func (h *Handler) finish(ctx context.Context, org store.OrgID, id store.CallID, ev Event, o store.Outcome, reason string) error {
	_, err := h.deps.Calls.FinishCall(ctx, store.CallEnd{OrgID: org, CallID: id, EndedAt: h.when(ev), Outcome: o, EndReason: reason})
	if err != nil {
		return fmt.Errorf("finish call: %w", err)
	}
	return nil
}

// when is the event's time, or now when Telnyx did not say.
func (h *Handler) when(ev Event) time.Time {
	if !ev.OccurredAt.IsZero() {
		return ev.OccurredAt
	}
	return h.deps.Now().UTC()
}
