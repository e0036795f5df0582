package rtc

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/iace/iace/media"
	"github.com/iace/iace/media/rtc/rtctest"
)

// fakeMic is a call's voice input that keeps what it is given.
type fakeMic struct {
	*fakeCall
	mu      sync.Mutex
	pcm     []int16
	frames  int
	odd     int
	closed  chan struct{}
	closing sync.Once
}

func newFakeMic(id string, f media.Format) *fakeMic {
	c := newFakeCall(id)
	c.format = f
	return &fakeMic{fakeCall: c, closed: make(chan struct{})}
}

func (m *fakeMic) Audio(frame []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.closed:
		panic("Audio after Close")
	default:
	}
	if len(frame) != m.format.FrameBytes() {
		m.odd++
	}
	pcm := make([]int16, len(frame))
	m.pcm = append(m.pcm, pcm[:media.DecodeTo(pcm, frame, m.format.Encoding)]...)
	m.frames++
}

func (m *fakeMic) Close() { m.closing.Do(func() { close(m.closed) }) }

func (m *fakeMic) heard() (frames, odd int, pcm []int16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.frames, m.odd, append([]int16(nil), m.pcm...)
}

// talk connects a talker playing pcm to mic.
func talk(t *testing.T, s *Server, mic Mic, owner string, pcm []int16) (*rtctest.Talker, *Peer) {
	t.Helper()
	c, offer, err := rtctest.NewTalker()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	l, answer, err := s.Talk(t.Context(), mic, offer, TalkOptions{Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, "a=recvonly") || !strings.Contains(answer, "PCMU/8000") {
		t.Fatalf("the answer does not receive PCMU:\n%s", answer)
	}
	if err := c.Answer(answer); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.WaitState(ctx, webrtc.PeerConnectionStateConnected); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, l)
	c.Play(pcm)
	return c, l
}

// waitFrames waits until mic has been handed n frames.
func waitFrames(t *testing.T, m *fakeMic, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _, _ := m.heard()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call was handed %d frames of the microphone, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond) //nolint:forbidigo // the microphone's audio arrives in real time
	}
}

// TestATalkersMicrophoneReachesTheCallInItsFormat: a supervisor's PCMU
// microphone is handed to the call in whole 20 ms frames of the call's own
// format (here 16 kHz linear), carrying the tone that was sent; deleting
// the session closes the call's voice input and leaves no goroutine.
func TestATalkersMicrophoneReachesTheCallInItsFormat(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := testServer(t, nil)
	mic := newFakeMic("call-1", media.Format{Encoding: media.EncodingL16, SampleRate: 16000})
	c, l := talk(t, s, mic, "sup", rtctest.Tone(1000, 8000, time.Second, time.Second))
	waitFrames(t, mic, 25)
	frames, odd, pcm := mic.heard()
	if odd != 0 {
		t.Errorf("%d of %d frames were not 20 ms of the call's format", odd, frames)
	}
	// 16 kHz: the tone is at 1 kHz; Goertzel works at 8 kHz, so take every
	// other sample.
	half := make([]int16, len(pcm)/2)
	for i := range half {
		half[i] = pcm[2*i]
	}
	if p, q := rtctest.Goertzel(half, 1000), rtctest.Goertzel(half, 1700); p < 100*q || rtctest.RMS(half) < 1000 {
		t.Errorf("the call did not get the tone: power at 1 kHz %.0f, at 1.7 kHz %.0f, RMS %.0f", p, q, rtctest.RMS(half))
	}
	if err := s.Delete(l.ID(), "sup"); !errors.Is(err, ErrSessionNotFound) {
		t.Errorf("a talking session was deleted as a listening one: %v", err)
	}
	if err := s.DeleteTalk(l.ID(), "another"); !errors.Is(err, ErrSessionNotFound) {
		t.Errorf("another owner deleted the talking session: %v", err)
	}
	if err := s.DeleteTalk(l.ID(), "sup"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-mic.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the call's voice input was not closed")
	}
	_ = c.Close()
	if n := s.Listeners(); n != 0 {
		t.Errorf("%d sessions left", n)
	}
	_ = s.Close() // before the leak check; the cleanup's close is a no-op
}

// TestATalkerEndsWithItsCall: when the call ends, its talker is closed,
// and a call that has ended takes no new one.
func TestATalkerEndsWithItsCall(t *testing.T) {
	s := testServer(t, nil)
	mic := newFakeMic("call-1", media.PCMU8k)
	_, l := talk(t, s, mic, "sup", rtctest.Tone(1000, 8000, time.Second, time.Second))
	mic.end()
	select {
	case <-l.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the talker outlived its call")
	}
	select {
	case <-mic.closed:
	default:
		t.Error("the voice input of an ended call was not closed")
	}
	_, offer, err := rtctest.NewTalker()
	if err != nil {
		t.Fatal(err)
	}
	again := newFakeMic("call-1", media.PCMU8k)
	again.end()
	if _, _, err := s.Talk(t.Context(), again, offer, TalkOptions{Owner: "sup"}); !errors.Is(err, ErrCallEnded) {
		t.Errorf("talking on an ended call: %v, want ErrCallEnded", err)
	}
	select {
	case <-again.closed:
	default:
		t.Error("a refused talker's voice input was not closed")
	}
}

// TestTalkOffersAreChecked: a WHIP offer must send one PCMU audio track.
func TestTalkOffersAreChecked(t *testing.T) {
	_, listenOffer, err := rtctest.NewClient(1)
	if err != nil {
		t.Fatal(err)
	}
	_, talkOffer, err := rtctest.NewTalker()
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(talkOffer, "m=audio")
	if !ok {
		t.Fatalf("the talker's offer has no audio section:\n%s", talkOffer)
	}
	two := talkOffer + "m=audio" + section
	for name, tc := range map[string]struct {
		offer string
		ok    bool
	}{
		"a microphone":        {talkOffer, true},
		"a player (recvonly)": {listenOffer, false},
		"two tracks":          {two, false},
		"not SDP":             {"hello", false},
		"empty":               {"", false},
		"opus only":           {strings.ReplaceAll(strings.ReplaceAll(talkOffer, "PCMU/8000", "opus/48000/2"), " 0\r\n", " 111\r\n"), false},
	} {
		err := CheckTalkOffer(tc.offer)
		var oe *OfferError
		if tc.ok != (err == nil) || err != nil && !errors.As(err, &oe) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
