package session

import (
	"testing"

	"github.com/iace/iace/store"
)

func TestOutcomeOfEachEndReason(t *testing.T) {
	tests := []struct {
		reason      EndReason
		callerSpoke bool
		want        store.Outcome
	}{
		{EndTransfer, true, store.OutcomeEscalated},
		{EndAgentHangup, true, store.OutcomeResolved},
		{EndHangup, true, store.OutcomeResolved},
		{EndHangup, false, store.OutcomeAbandoned},
		{EndPeerGone, false, store.OutcomeAbandoned},
		{EndMediaTimeout, true, store.OutcomeFailed},
		{EndProviderFailure, true, store.OutcomeFailed},
		{EndTransportError, false, store.OutcomeFailed},
		{EndPeerStalled, true, store.OutcomeFailed},
		{EndDrain, true, store.OutcomeFailed},
	}
	for _, tt := range tests {
		if got := tt.reason.Outcome(tt.callerSpoke); got != tt.want {
			t.Errorf("%s (caller spoke %v): %q, want %q", tt.reason, tt.callerSpoke, got, tt.want)
		}
	}
	for _, r := range allEndReasons {
		if r.Outcome(true) == store.OutcomeNone {
			t.Errorf("%s has no outcome", r)
		}
	}
}
