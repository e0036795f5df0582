// Package rtctest is a WHEP player for tests: a pion PeerConnection that
// offers recvonly audio as a browser does, takes the server's answer, and
// decodes what it receives on each track, so that tests can check that
// audio, and not only packets, arrived.
package rtctest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/iace/iace/media"
)

// Client is one player. It reaches servers on loopback only.
type Client struct {
	pc *webrtc.PeerConnection

	mu      sync.Mutex
	tracks  map[string]*TrackStats
	states  []webrtc.PeerConnectionState
	changed chan struct{} // closed and replaced on every change
	readers sync.WaitGroup
}

// TrackStats is what arrived on one track: its codec, its packets and the
// decoded samples (PCMU).
type TrackStats struct {
	MimeType    string
	PayloadType uint8
	Packets     int
	// OddSizes counts packets whose payload was not one 20 ms frame.
	OddSizes int
	PCM      []int16
}

// NewClient makes a player with sections recvonly audio transceivers (1 for
// strict WHEP, 2 for a server's two-track extension) and returns its offer,
// with every candidate gathered. Its codecs are pion's defaults, what a
// browser offers: Opus, G722, PCMU, PCMA.
func NewClient(sections int) (*Client, string, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, "", err
	}
	pc, err := loopbackPeer(me)
	if err != nil {
		return nil, "", err
	}
	c := &Client{pc: pc, tracks: make(map[string]*TrackStats), changed: make(chan struct{})}
	for range sections {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			_ = pc.Close()
			return nil, "", err
		}
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		c.mu.Lock()
		c.states = append(c.states, s)
		c.notifyLocked()
		c.mu.Unlock()
	})
	pc.OnTrack(c.read)
	offer, err := offerGathered(pc)
	if err != nil {
		return nil, "", err
	}
	return c, offer, nil
}

// loopbackPeer is a PeerConnection with the codecs of me that gathers
// loopback IPv4 candidates only, as the servers under test listen there.
func loopbackPeer(me *webrtc.MediaEngine) (*webrtc.PeerConnection, error) {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
}

// offerGathered makes pc's offer and returns it once every candidate is
// gathered in it; on failure pc is closed.
func offerGathered(pc *webrtc.PeerConnection) (string, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		_ = pc.Close()
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		_ = pc.Close()
		return "", err
	}
	<-gathered
	return pc.LocalDescription().SDP, nil
}

func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// read decodes one remote track until the connection closes.
func (c *Client) read(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	st := &TrackStats{MimeType: tr.Codec().MimeType}
	c.mu.Lock()
	c.tracks[tr.ID()] = st
	c.readers.Add(1)
	c.mu.Unlock()
	defer c.readers.Done()
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		pcm := make([]int16, len(p.Payload))
		media.DecodeULawTo(pcm, p.Payload)
		c.mu.Lock()
		st.Packets++
		st.PayloadType = p.PayloadType
		if len(p.Payload) != 160 {
			st.OddSizes++
		}
		st.PCM = append(st.PCM, pcm...)
		c.notifyLocked()
		c.mu.Unlock()
	}
}

// PeerConnection is the client's connection, to break it in tests.
func (c *Client) PeerConnection() *webrtc.PeerConnection { return c.pc }

// Answer applies the server's answer; ICE and DTLS start.
func (c *Client) Answer(sdp string) error {
	return c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp})
}

// wait waits until cond, checked under the lock after every change.
func (c *Client) wait(ctx context.Context, cond func() bool) error {
	for {
		c.mu.Lock()
		ok, changed := cond(), c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// WaitState waits until the connection has reached want.
func (c *Client) WaitState(ctx context.Context, want webrtc.PeerConnectionState) error {
	err := c.wait(ctx, func() bool { return slices.Contains(c.states, want) })
	if err != nil {
		return fmt.Errorf("connection never %s (states %v): %w", want, c.statesLocked(), err)
	}
	return nil
}

func (c *Client) statesLocked() []webrtc.PeerConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.states)
}

// WaitPackets waits until track id has received n packets and returns
// what it received.
func (c *Client) WaitPackets(ctx context.Context, id string, n int) (TrackStats, error) {
	err := c.wait(ctx, func() bool { st := c.tracks[id]; return st != nil && st.Packets >= n })
	if err != nil {
		return c.Track(id), fmt.Errorf("track %q: %d packets, want %d (tracks %v): %w", id, c.Track(id).Packets, n, c.TrackIDs(), err)
	}
	return c.Track(id), nil
}

// Track returns a copy of what track id received.
func (c *Client) Track(id string) TrackStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.tracks[id]
	if st == nil {
		return TrackStats{}
	}
	cp := *st
	cp.PCM = slices.Clone(st.PCM)
	return cp
}

// TrackIDs names the tracks received, sorted.
func (c *Client) TrackIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.tracks))
	for id := range c.tracks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Close closes the connection and waits for its goroutines.
func (c *Client) Close() error {
	err := c.pc.GracefulClose()
	c.readers.Wait()
	if errors.Is(err, webrtc.ErrConnectionClosed) {
		return nil
	}
	return err
}

// RMS is the root mean square of pcm.
func RMS(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, s := range pcm {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}

// Goertzel is the power of pcm (8 kHz) at freq Hz, normalized by length.
func Goertzel(pcm []int16, freq float64) float64 {
	if len(pcm) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / 8000
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	return p / float64(len(pcm)*len(pcm))
}
