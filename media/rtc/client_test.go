package rtc

import (
	"context"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/iace/iace/media"
	"github.com/iace/iace/media/rtc/rtctest"
)

// testServer is a Server on loopback with loopback candidates, closed at
// the end of the test.
func testServer(t *testing.T, edit func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ListenIP = netip.MustParseAddr("127.0.0.1")
	cfg.Loopback = true
	if edit != nil {
		edit(&cfg)
	}
	s, err := NewServer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fakeCall is a live call that a test feeds: its tap gets what the test
// plays, as the session's reader and pacer hand it over.
type fakeCall struct {
	id     string
	format media.Format
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	tap    Tap
	sets   atomic.Int32
}

func newFakeCall(id string) *fakeCall {
	return &fakeCall{id: id, format: media.PCMU8k, done: make(chan struct{})}
}

func (c *fakeCall) ID() string            { return c.id }
func (c *fakeCall) Format() media.Format  { return c.format }
func (c *fakeCall) Done() <-chan struct{} { return c.done }
func (c *fakeCall) end()                  { c.once.Do(func() { close(c.done) }) }
func (c *fakeCall) currentTap() Tap       { c.mu.Lock(); defer c.mu.Unlock(); return c.tap }
func (c *fakeCall) SetTap(t Tap)          { c.mu.Lock(); c.tap = t; c.mu.Unlock(); c.sets.Add(1) }
func (c *fakeCall) RemoveTap(t Tap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tap == t {
		c.tap = nil
	}
}

// tone is n samples of a sine at freq Hz, amplitude amp, 8 kHz, from
// sample offset at.
func tone(freq float64, amp float64, at, n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(at+i)/8000))
	}
	return pcm
}

// play feeds the call in real time until ctx ends or the call does: a caller frame every
// 20 ms (a callerHz tone, or silence when 0), and the agent's audio
// (agentHz, or none when 0) in 100 ms chunks kept 200 ms ahead, as the
// pacer sends it. It returns when it has stopped.
func (c *fakeCall) play(ctx context.Context, callerHz, agentHz float64) <-chan struct{} {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(media.FrameDuration)
		defer tick.Stop()
		frame := make([]byte, 160)
		chunk := make([]byte, 800)
		n := 0
		agentAhead := 0 // frames sent beyond the caller's clock
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.done:
				return
			case <-tick.C:
			}
			tap := c.currentTap()
			if tap == nil {
				continue
			}
			if callerHz > 0 {
				media.EncodeULawTo(frame, tone(callerHz, 8000, n*160, 160))
			} else {
				media.EncodingPCMU.FillSilence(frame)
			}
			tap.CallerAudio(frame)
			if agentHz > 0 {
				for agentAhead <= 5 {
					media.EncodeULawTo(chunk, tone(agentHz, 8000, (n+agentAhead)*160, 800))
					tap.AgentAudio(chunk)
					agentAhead += 5
				}
				agentAhead--
			}
			n++
		}
	}()
	return stopped
}

// client is rtctest's player bound to a test.
type client struct {
	t *testing.T
	*rtctest.Client
}

// newClient makes an offer with n recvonly audio sections (2 for sides).
func newClient(t *testing.T, n int) (*client, string) {
	t.Helper()
	c, offer, err := rtctest.NewClient(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &client{t: t, Client: c}, offer
}

func (c *client) answer(sdp string) {
	c.t.Helper()
	if err := c.Answer(sdp); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) waitState(want webrtc.PeerConnectionState, d time.Duration) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), d)
	defer cancel()
	if err := c.WaitState(ctx, want); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) waitPackets(id string, n int, d time.Duration) rtctest.TrackStats {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), d)
	defer cancel()
	st, err := c.WaitPackets(ctx, id, n)
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

func (c *client) close() {
	if err := c.Close(); err != nil {
		c.t.Logf("client close: %v", err)
	}
}

var (
	rms      = rtctest.RMS
	goertzel = rtctest.Goertzel
)
