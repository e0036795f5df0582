package rtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// gatherTimeout bounds ICE gathering, which the answer waits for. With
// host candidates on a mux and no STUN it takes microseconds.
const gatherTimeout = 5 * time.Second

// Why a peer ended: the reason label of iace_rtc_peer_ends_total and the
// reason in the log line. The set is closed.
const (
	endDeleted          = "deleted"
	endCallEnded        = "call_ended"
	endICEFailed        = "ice_failed"
	endPeerClosed       = "peer_closed"
	endHandshakeTimeout = "handshake_timeout"
	endServerClosed     = "server_closed"
	endSetupFailed      = "setup_failed"
)

// Kinds of peer: the kind label of iace_rtc_peer_ends_total.
const (
	kindListener = "listener"
	kindTalker   = "talker"
)

var endReasons = []string{endDeleted, endCallEnded, endICEFailed, endPeerClosed, endHandshakeTimeout, endServerClosed, endSetupFailed}

// Peer is one browser's WebRTC session on a call: a listener (WHEP), whose
// PeerConnection sends the call's Monitor's tracks, or a talker (WHIP),
// whose PeerConnection receives the supervisor's microphone for the call's
// Mic. A listener's RTCP is read by one goroutine per sender, as pion's
// examples do, so the report interceptors run; a talker's track by one
// goroutine (receive).
type Peer struct {
	id      string
	srv     *Server
	mon     *Monitor // a listener's
	mic     Mic      // a talker's
	owner   string
	sides   bool
	log     *slog.Logger
	started time.Time
	timer   stopper
	done    chan struct{}

	closeOnce sync.Once
	mu        sync.Mutex
	pc        *webrtc.PeerConnection
	closed    bool
	reason    string
	connected bool
	rtcp      sync.WaitGroup
}

// ID is the session's id: 128 random bits in hex.
func (l *Peer) ID() string { return l.id }

// Done is closed once the listener has ended and released everything.
func (l *Peer) Done() <-chan struct{} { return l.done }

// start builds the PeerConnection and answers offer.
func (l *Peer) start(ctx context.Context, offer string) (string, error) {
	pc, err := l.srv.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", fmt.Errorf("rtc: peer connection: %w", err)
	}
	l.mu.Lock()
	if l.closed {
		err := l.endedErr()
		l.mu.Unlock()
		_ = pc.Close()
		return "", err
	}
	l.pc = pc
	if l.mic != nil {
		// One audio section, received: the answer to a sendonly offer.
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			l.mu.Unlock()
			return "", fmt.Errorf("rtc: add transceiver: %w", err)
		}
		pc.OnTrack(l.onTrack)
	} else {
		for _, track := range l.mon.tracks(l.sides) {
			sender, err := pc.AddTrack(track)
			if err != nil {
				l.mu.Unlock()
				return "", fmt.Errorf("rtc: add track: %w", err)
			}
			l.rtcp.Add(1)
			go l.readRTCP(sender) // ends when the PeerConnection closes; close waits for it
		}
	}
	l.mu.Unlock()
	pc.OnConnectionStateChange(l.onState)

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", &OfferError{Reason: "the offer was refused", Err: err}
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", &OfferError{Reason: "no answer can be made to the offer", Err: err}
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("rtc: local description: %w", err)
	}
	t := time.NewTimer(gatherTimeout)
	defer t.Stop()
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", context.Cause(ctx)
	case <-t.C:
		return "", errors.New("rtc: ICE gathering timed out")
	case <-l.done:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return "", l.endedErr()
	}
	return pc.LocalDescription().SDP, nil
}

// endedErr is why a listener closed while it was set up. l.mu is held.
func (l *Peer) endedErr() error {
	switch l.reason {
	case endCallEnded:
		return ErrCallEnded
	case endServerClosed:
		return ErrClosed
	}
	return fmt.Errorf("rtc: listener closed while starting (%s)", l.reason)
}

// readRTCP reads the sender's RTCP until the PeerConnection closes.
func (l *Peer) readRTCP(sender *webrtc.RTPSender) {
	defer l.rtcp.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := sender.Read(buf); err != nil {
			return
		}
	}
}

// onState follows the PeerConnection: connected stops the handshake
// deadline; failed (ICE consent lost, DTLS failed) or closed ends the
// listener. It is a pion callback: closing runs on another goroutine.
func (l *Peer) onState(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateConnected:
		l.mu.Lock()
		first := !l.connected && !l.closed
		l.connected = true
		l.mu.Unlock()
		if first {
			l.timer.Stop()
			l.srv.metrics.connected.Observe(time.Since(l.started).Seconds())
			l.log.Info(l.kind()+" connected", "tracks", l.tracksName(), "setup_ms", time.Since(l.started).Milliseconds())
		}
	case webrtc.PeerConnectionStateFailed:
		l.closeAsync(endICEFailed)
	case webrtc.PeerConnectionStateClosed:
		l.closeAsync(endPeerClosed)
	default:
	}
}

// handshakeExpired closes a listener still not connected at the deadline.
func (l *Peer) handshakeExpired() {
	l.mu.Lock()
	connected := l.connected
	l.mu.Unlock()
	if !connected {
		l.closeAsync(endHandshakeTimeout)
	}
}

// closeAsync closes l on a goroutine the server owns: pion callbacks and
// timers must not wait for a graceful close.
func (l *Peer) closeAsync(reason string) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return
	}
	s := l.srv
	s.mu.Lock()
	if s.closed { // Close is closing every listener itself
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() { // owned by the server: Close waits for it
		defer s.wg.Done()
		l.close(reason)
	}()
}

// close ends the listener once: the server forgets it, the PeerConnection
// closes gracefully (waiting for its goroutines) and so do the RTCP
// readers. Later calls wait for the first to finish.
func (l *Peer) close(reason string) {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed, l.reason = true, reason
		pc, connected := l.pc, l.connected
		l.mu.Unlock()
		l.timer.Stop()
		l.srv.release(l)
		if pc != nil {
			if err := pc.GracefulClose(); err != nil {
				l.log.Debug("listener close", "err", err)
			}
		}
		l.rtcp.Wait()
		if l.mic != nil {
			l.mic.Close()
		}
		l.srv.metrics.ends.WithLabelValues(l.kind(), reason).Inc()
		if connected || reason != endSetupFailed {
			l.log.Info(l.kind()+" stopped", "reason", reason, "connected", connected,
				"duration", time.Since(l.started).Round(time.Millisecond).String())
		}
		close(l.done)
	})
	<-l.done
}

// isConnected reports whether the PeerConnection has connected.
func (l *Peer) isConnected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connected
}

// kind is listener or talker: the label of the peer's metrics.
func (l *Peer) kind() string {
	if l.mic != nil {
		return kindTalker
	}
	return kindListener
}

func (l *Peer) tracksName() string {
	if l.mic != nil {
		return "microphone"
	}
	if l.sides {
		return "sides"
	}
	return "mixed"
}
