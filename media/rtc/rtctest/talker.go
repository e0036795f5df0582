package rtctest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/iace/iace/media"
)

// Talker is a WHIP client for tests: a microphone that sends PCMU, as a
// browser does when the server answers with PCMU only.
type Talker struct {
	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticSample

	mu      sync.Mutex
	states  []webrtc.PeerConnectionState
	changed chan struct{}
	stop    chan struct{}
	playing sync.WaitGroup
	once    sync.Once
}

// NewTalker makes a talker with one sendonly audio track and returns its
// offer, with every candidate gathered. It offers PCMU only.
func NewTalker() (*Talker, string, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000},
		PayloadType:        0,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, "", err
	}
	pc, err := loopbackPeer(me)
	if err != nil {
		return nil, "", err
	}
	t := &Talker{pc: pc, changed: make(chan struct{}), stop: make(chan struct{})}
	t.track, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, "mic", "supervisor")
	if err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	if _, err := pc.AddTransceiverFromTrack(t.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		t.mu.Lock()
		t.states = append(t.states, s)
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
	})
	offer, err := offerGathered(pc)
	if err != nil {
		return nil, "", err
	}
	return t, offer, nil
}

// Answer applies the server's answer; ICE and DTLS start.
func (t *Talker) Answer(sdp string) error {
	return t.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp})
}

// WaitState waits until the connection has reached want.
func (t *Talker) WaitState(ctx context.Context, want webrtc.PeerConnectionState) error {
	for {
		t.mu.Lock()
		ok, changed, states := slices.Contains(t.states, want), t.changed, slices.Clone(t.states)
		t.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("connection never %s (states %v): %w", want, states, context.Cause(ctx))
		}
	}
}

// Play sends pcm (8 kHz, its whole 20 ms frames, at least one), a frame
// a packet in real time, over and over until Close.
func (t *Talker) Play(pcm []int16) {
	frame := make([]byte, 160)
	n := max(160, len(pcm)/160*160)
	pcm = append(slices.Clip(pcm), make([]int16, 160)...)[:n] // at least one frame, the caller's slice untouched
	t.playing.Go(func() {
		tick := time.NewTicker(media.FrameDuration)
		defer tick.Stop()
		for i := 0; ; i = (i + 160) % n {
			select {
			case <-t.stop:
				return
			case <-tick.C:
			}
			media.EncodeULawTo(frame, pcm[i:i+160])
			_ = t.track.WriteSample(pionmedia.Sample{Data: frame, Duration: media.FrameDuration})
		}
	})
}

// Close stops playing and closes the connection.
func (t *Talker) Close() error {
	t.once.Do(func() { close(t.stop) })
	t.playing.Wait()
	err := t.pc.GracefulClose()
	if errors.Is(err, webrtc.ErrConnectionClosed) {
		return nil
	}
	return err
}

// Tone is d of a sine at freq Hz (8 kHz), at amplitude amp, switched on
// and off every period (on half, off half) so that a voice detector takes
// it for speech, not steady noise.
func Tone(freq float64, amp int16, d, period time.Duration) []int16 {
	n := int(d.Seconds() * 8000)
	half := max(1, int(period.Seconds()*8000)/2)
	pcm := make([]int16, n)
	for i := range pcm {
		if (i/half)%2 == 1 {
			continue
		}
		pcm[i] = int16(float64(amp) * math.Sin(2*math.Pi*freq*float64(i)/8000))
	}
	return pcm
}
