package session_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/session"
)

// downModel is a chat model whose provider is down.
type downModel struct{}

func (downModel) Chat(context.Context, ai.ChatRequest) (ai.ChatStream, error) {
	return nil, errors.New("model provider down")
}

// TestWithoutATransferNumberTheCallGoesOnThenEnds: the agent has no number
// to transfer to; a failed reply gets the holding phrase and the caller may
// ask again; the second failure in a row ends the call as a provider failure.
func TestWithoutATransferNumberTheCallGoesOnThenEnds(t *testing.T) {
	ts := newTestServerWith(t, nil, func(d *session.Deps) { d.Chat = downModel{} })
	holding := session.DefaultConfig().HoldingPhrase
	p := dialPeer(t, ts.url, map[string]string{local.SimScriptParam: "what are your opening hours|how much does it cost"})
	p.expect("greeting end mark", 10*time.Second, isMark("t1-end"))
	waitFor(t, "the greeting to play", func() bool { return callState(ts) == session.StateListening })

	p.speak(readWAV(t, "testdata/what_are_your_opening_hours.wav"))
	p.expect("first holding phrase played", 15*time.Second, isMark("t3-end"))
	waitFor(t, "the call to listen again", func() bool { return callState(ts) == session.StateListening })

	p.speak(readWAV(t, "testdata/what_are_your_opening_hours.wav"))
	sum := ts.summary(t)
	p.close()
	if sum.EndReason != session.EndProviderFailure {
		t.Errorf("end reason %q, want provider_failure after two failed replies", sum.EndReason)
	}
	var agent []string
	for _, tr := range sum.Transcript {
		if tr.Speaker == ai.RoleAssistant {
			agent = append(agent, tr.Text)
		}
	}
	if want := []string{session.DefaultConfig().HoldingPhrase, holding}; len(agent) != 3 || !slices.Equal(agent[1:], want) {
		t.Errorf("the agent said %q: want the greeting, then the holding phrase twice", agent)
	}
	var holds int
	for _, ev := range sum.Events {
		if ev.Kind == session.EventHoldingPhrase {
			holds++
		}
	}
	if holds != 2 {
		t.Errorf("%d holding-phrase events, want 2", holds)
	}
}
