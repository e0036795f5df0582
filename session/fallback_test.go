package session_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/deepgram"
	"github.com/iace/iace/ai/deepgram/deepgramtest"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
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

// TestASpeakingCallerIsStillTransferredWhenTheTranscriberIsLost: Deepgram
// goes down half a second into the caller's question, so its socket drops
// and cannot be redialled. The caller hears the holding phrase to its end although
// they go on speaking over it (nothing can hear them, and an interruption
// would drop the transfer), and the call is transferred as a provider
// failure.
func TestASpeakingCallerIsStillTransferredWhenTheTranscriberIsLost(t *testing.T) {
	dg, stt := fakeDeepgram(t, deepgramtest.Config{Transcripts: []string{"What are your opening hours?"}},
		func(c *deepgram.Config) { c.Resilience.Redials = 1 })
	agent := store.DefaultAgent()
	agent.TransferNumber = "+15550100000"
	holding := "I am sorry, I cannot hear you well at the moment. Please stay on the line while I connect you with one of my colleagues, who will be with you in a moment."
	ts := newTestServerWith(t, func(c *session.Config, _ *telnyx.ConnConfig) { c.HoldingPhrase = holding }, func(d *session.Deps) {
		agents, err := store.NewStaticAgents([]store.Agent{agent})
		if err != nil {
			t.Fatal(err)
		}
		d.Agents, d.STT = agents, stt
	})

	p := dialPeer(t, ts.url, nil)
	p.expect("greeting end mark", 10*time.Second, isMark("-end"))
	waitFor(t, "the greeting to play", func() bool { return callState(ts) == session.StateListening })
	question := readWAV(t, "testdata/what_are_your_opening_hours.wav")
	heard := func() int { return dg.Listens()[0].AudioBytes }
	before := heard()
	p.speak(question)
	waitFor(t, "Deepgram to hear half a second of the question", func() bool { return heard() >= before+4000 })
	dg.Outage(true)
	p.expect("the holding phrase's start mark", 10*time.Second, isMark("-start"))
	p.speak(make([]int16, 2*8000)) // the question ends
	p.speak(question)              // and the caller asks again over the holding phrase
	noClearUntilEnd(t, p)
	sum := ts.summary(t)
	p.close()

	if sum.EndReason != session.EndTransfer || sum.Escalation != store.EscalationProviderFailure {
		t.Errorf("the call ended %q (escalation %q), want a transfer for a provider failure", sum.EndReason, sum.Escalation)
	}
	if sum.Stats.BargeIns != 0 {
		t.Errorf("%d barge-ins over the holding phrase, want 0", sum.Stats.BargeIns)
	}
	var said []string
	for _, tr := range sum.Transcript {
		if tr.Speaker == ai.RoleAssistant {
			said = append(said, tr.Text)
		}
	}
	if want := []string{agent.Greeting, holding}; !slices.Equal(said, want) {
		t.Errorf("the agent said %q, want the greeting and the whole holding phrase", said)
	}
}
