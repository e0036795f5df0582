package session

import "github.com/iace/iace/store"

// EndReason is why a call ended. The call record, the metric label and the
// log line all come from this one value.
type EndReason string

// End reasons. The set is closed: it is a metric label.
const (
	// EndHangup: Telnyx sent stop (the caller or the network hung up).
	EndHangup EndReason = "hangup"
	// EndPeerGone: the media WebSocket closed without a stop frame.
	EndPeerGone EndReason = "peer_gone"
	// EndMediaTimeout: no frame arrived for the read timeout.
	EndMediaTimeout EndReason = "media_timeout"
	// EndAgentHangup: the agent ended the call (end_call tool or goodbye intent).
	EndAgentHangup EndReason = "agent_hangup"
	// EndTransfer: the call was handed to a human (Call Control accepted the
	// transfer, or there is no Call Control to ask).
	EndTransfer EndReason = "transfer"
	// EndTransferFailed: the call was to be handed to a human, but the
	// transfer could not be made (no transfer number, refused by the
	// organization's transfer policy or by Telnyx), so it was hung up.
	EndTransferFailed EndReason = "transfer_failed"
	// EndMaxDuration: the call reached the configured maximum length.
	EndMaxDuration EndReason = "max_duration"
	// EndDrain: the server was shutting down and the drain deadline passed.
	EndDrain EndReason = "drain"
	// EndShutdown: the server was stopped at once (second signal).
	EndShutdown EndReason = "shutdown"
	// EndTransportError: writing to the media stream failed.
	EndTransportError EndReason = "transport_error"
	// EndPeerStalled: the peer stopped reading the media stream (or reads
	// too slowly for the call's audio): what was written to it waited
	// longer than the write timeout.
	EndPeerStalled EndReason = "peer_stalled"
	// EndProviderFailure: a provider needed to hold the call failed for good.
	EndProviderFailure EndReason = "provider_failure"
	// EndOperator: an operator ended the call through the API.
	EndOperator EndReason = "operator"
	// EndCallerSilent: the caller said nothing for the idle timeout, was
	// asked whether they were still there, and said nothing again.
	EndCallerSilent EndReason = "caller_silent"
	// EndNodeLost: the node that held the call stopped heartbeating (it
	// died or lost Redis for longer than the bound); another node recorded
	// the call as ended (session/cluster).
	EndNodeLost EndReason = "node_lost"
	// EndMoved: the call goes on on another node (this one drained and
	// moved it there); this node records nothing of it, the other node
	// records the whole call when it ends.
	EndMoved EndReason = "moved"
)

var allEndReasons = []EndReason{EndHangup, EndPeerGone, EndMediaTimeout, EndAgentHangup, EndTransfer,
	EndTransferFailed, EndMaxDuration, EndDrain, EndShutdown, EndTransportError, EndPeerStalled, EndProviderFailure, EndOperator, EndCallerSilent, EndNodeLost, EndMoved}

// closeCode is the WebSocket close code IACE sends for the reason.
// endsAtTelnyx reports whether a call that ended for r must be transferred
// or hung up through Call Control: every end decided on this side. A caller
// who hung up, a call that moved to another node, or one whose node was
// lost (recorded by another) is not this session's to end.
func (r EndReason) endsAtTelnyx() bool {
	switch r {
	case EndTransfer, EndAgentHangup, EndProviderFailure, EndMaxDuration, EndCallerSilent, EndDrain, EndShutdown,
		EndTransportError, EndPeerStalled, EndMediaTimeout, EndPeerGone:
		return true
	}
	return false
}

func (r EndReason) closeCode() int {
	switch r {
	case EndDrain, EndShutdown:
		return 1001 // going away
	case EndTransportError, EndPeerStalled, EndProviderFailure:
		return 1011 // internal error
	}
	return 1000
}

// Outcome is how a call that ended for reason r went, for the organization:
// handed to a human is escalated; ended by the agent after its goodbye is
// resolved; hung up by the caller is resolved once they had said something,
// abandoned before; a failure on our side or the network's is failed (a
// transfer that could not be made included). See also CallOutcome.
func (r EndReason) Outcome(callerSpoke bool) store.Outcome {
	switch r {
	case EndTransfer:
		return store.OutcomeEscalated
	case EndAgentHangup:
		return store.OutcomeResolved
	case EndHangup, EndPeerGone, EndOperator, EndMaxDuration, EndCallerSilent:
		if callerSpoke {
			return store.OutcomeResolved
		}
		return store.OutcomeAbandoned
	}
	return store.OutcomeFailed
}

// CallOutcome is a call's outcome from its end reason and its escalation
// reason: a call handed over because a provider failed is failed, not
// escalated, since nobody chose to escalate it.
func CallOutcome(r EndReason, esc store.EscalationReason, callerSpoke bool) store.Outcome {
	if r == EndTransfer && esc == store.EscalationProviderFailure {
		return store.OutcomeFailed
	}
	return r.Outcome(callerSpoke)
}
