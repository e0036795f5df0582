package session_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// recordingTap is a Tap that keeps what it is handed, as a listener would.
type recordingTap struct {
	mu                     sync.Mutex
	callerFrames           int
	callerEnergy           float64 // sum of squares of the decoded caller samples
	agentBytes, agentClear int
	agentEnergy            float64
	badFrames              int
}

func (r *recordingTap) CallerAudio(frame []byte) {
	pcm := make([]int16, len(frame))
	media.DecodeULawTo(pcm, frame)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.callerFrames++
	if len(frame) != 160 {
		r.badFrames++
	}
	for _, s := range pcm {
		r.callerEnergy += float64(s) * float64(s)
	}
}

func (r *recordingTap) AgentAudio(audio []byte) {
	pcm := make([]int16, len(audio))
	media.DecodeULawTo(pcm, audio)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(audio)%160 != 0 {
		r.badFrames++
	}
	r.agentBytes += len(audio)
	for _, s := range pcm {
		r.agentEnergy += float64(s) * float64(s)
	}
}

func (r *recordingTap) AgentCleared() {
	r.mu.Lock()
	r.agentClear++
	r.mu.Unlock()
}

func (r *recordingTap) snapshot() recordingTap {
	r.mu.Lock()
	defer r.mu.Unlock()
	return recordingTap{callerFrames: r.callerFrames, callerEnergy: r.callerEnergy, agentBytes: r.agentBytes,
		agentClear: r.agentClear, agentEnergy: r.agentEnergy, badFrames: r.badFrames}
}

// TestATapHearsBothSidesOfTheCall: a tap set on a live call gets the
// caller's frames from the reader and the agent's audio as the pacer sends
// it; a call of another organization is not found; when the call ends its
// Done closes and it can no longer be found.
func TestATapHearsBothSidesOfTheCall(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	ts := newTestServer(t, nil)
	hours := readWAV(t, "testdata/what_are_your_opening_hours.wav")
	p := dialPeer(t, ts.url, map[string]string{local.SimScriptParam: "what are your opening hours"})

	var id session.CallID
	waitFor(t, "the call to be registered", func() bool {
		calls := ts.engine.List()
		if len(calls) == 1 {
			id = calls[0].ID
		}
		return id != ""
	})
	org := store.DefaultAgent().OrgID
	if _, err := ts.engine.Monitor("another-org", id); !errors.Is(err, session.ErrCallNotFound) {
		t.Errorf("another organization's call: %v, want ErrCallNotFound", err)
	}
	if _, err := ts.engine.Monitor(org, "no-such-call"); !errors.Is(err, session.ErrCallNotFound) {
		t.Errorf("an unknown call: %v, want ErrCallNotFound", err)
	}
	var call *session.MonitoredCall
	waitFor(t, "the call's media to start", func() bool {
		c, err := ts.engine.Monitor(org, id)
		if err != nil && !errors.Is(err, session.ErrNotStreaming) {
			t.Fatalf("Monitor: %v", err)
		}
		call = c
		return c != nil
	})
	if call.ID() != id || call.Format() != media.PCMU8k {
		t.Errorf("call %s in %v, want %s in PCMU/8000", call.ID(), call.Format(), id)
	}
	tap := &recordingTap{}
	call.SetTap(tap)

	p.expect("greeting end mark", 10*time.Second, isMark("-end"))
	p.speak(hours)
	p.expect("reply audio", 10*time.Second, func(r received) bool { return r.event == "media" })
	got := tap.snapshot()
	if got.callerFrames < 50 || got.callerEnergy == 0 {
		t.Errorf("the tap got %d caller frames with energy %v: want the caller's speech", got.callerFrames, got.callerEnergy)
	}
	if got.agentBytes == 0 || got.agentEnergy == 0 {
		t.Errorf("the tap got %d bytes of agent audio with energy %v: want the greeting", got.agentBytes, got.agentEnergy)
	}
	if got.badFrames != 0 {
		t.Errorf("%d pieces of audio were not whole 20 ms frames", got.badFrames)
	}

	// Another tap replaces the first; removing the first then leaves the second.
	second := &recordingTap{}
	call.SetTap(second)
	call.RemoveTap(tap)
	before := tap.snapshot().callerFrames
	waitFor(t, "the second tap to hear the caller", func() bool { return second.snapshot().callerFrames > 5 })
	if after := tap.snapshot().callerFrames; after > before+1 {
		t.Errorf("the replaced tap still got %d frames", after-before)
	}

	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x", "stop": map[string]any{}})
	ts.summary(t)
	p.close()
	select {
	case <-call.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the call ended")
	}
	if _, err := ts.engine.Monitor(org, id); !errors.Is(err, session.ErrCallNotFound) {
		t.Errorf("an ended call: %v, want ErrCallNotFound", err)
	}
}
