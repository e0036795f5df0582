package rtc

import (
	"context"
	"log/slog"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/iace/iace/media"
)

// Mic is where a supervisor's microphone goes: a live call's voice input
// (the session's Voice, adapted by control/monitor). Audio gets whole 20 ms
// frames in Format, from one goroutine, and must not block; Close is
// called once, after the last Audio, when the talking session ends.
type Mic interface {
	// ID names the call (logs).
	ID() string
	// Format is the call's audio format, which Audio takes.
	Format() media.Format
	// Done is closed when the call has ended.
	Done() <-chan struct{}
	Audio(frame []byte)
	Close()
}

// TalkOptions are one talker's choices.
type TalkOptions struct {
	// Owner is who may end the session (DeleteTalk); opaque to the server.
	Owner string
	// Log receives the talker's start and end lines. nil: the server's.
	Log *slog.Logger
}

// Talk receives a supervisor's microphone for mic: it answers offer (a
// WHIP client's SDP offer, one sendonly audio section offering PCMU)
// once ICE gathering is complete. Every 20 ms of audio received is
// converted to the call's format and handed to mic.Audio. The talker is
// closed by DeleteTalk, when the call ends, when ICE fails or the peer
// closes, when it is not connected within Config.HandshakeTimeout, and by
// Close; mic.Close is called then. On an error mic is closed too.
func (s *Server) Talk(ctx context.Context, mic Mic, offer string, opt TalkOptions) (*Peer, string, error) {
	reserved, answer, l, err := s.open(ctx, mic.ID(), mic.Done(), offer, CheckTalkOffer(offer), opt.Log, func(l *Peer) error {
		l.mic, l.owner = mic, opt.Owner
		s.metrics.talkers.Inc()
		s.wg.Add(1)
		go func() { // owned by the server: Close waits for it
			defer s.wg.Done()
			select {
			case <-mic.Done():
				l.closeAsync(endCallEnded)
			case <-l.done:
			}
		}()
		return nil
	})
	if !reserved {
		mic.Close() // a reserved talker closes it when it ends
	}
	return l, answer, err
}

// onTrack starts receiving the supervisor's track. It is a pion callback;
// the track is read on its own goroutine, which close waits for.
func (l *Peer) onTrack(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	if track.Kind() != webrtc.RTPCodecTypeAudio || track.Codec().MimeType != codecMimeType {
		l.log.Warn("talker: ignoring a track that is not PCMU audio", "mime", track.Codec().MimeType)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.rtcp.Add(1)
	go l.receive(track)
}

// receive reads the microphone's RTP until the PeerConnection closes, and
// hands it to the call in 20 ms frames of the call's format. A packet
// older than the newest one received (reordered or repeated) is dropped:
// played late it would only garble what follows; a lost one leaves a gap.
func (l *Peer) receive(track *webrtc.TrackRemote) {
	defer l.rtcp.Done()
	f := l.mic.Format()
	conv, err := media.NewConverter(media.PCMU8k, f)
	if err != nil {
		l.log.Warn("talker: the call's format cannot be converted to", "err", err)
		return
	}
	frame := f.FrameBytes()
	buf := make([]byte, 1500)
	out := make([]byte, 0, 4*frame)
	var (
		pkt  rtp.Packet
		last uint16
		seen bool
	)
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) == 0 {
			continue
		}
		if seen && int16(pkt.SequenceNumber-last) <= 0 { //nolint:gosec // G115: sequence arithmetic wraps on purpose (RFC 3550 A.1)
			continue
		}
		last, seen = pkt.SequenceNumber, true
		out = conv.Convert(out, pkt.Payload)
		for len(out) >= frame {
			l.mic.Audio(out[:frame])
			l.srv.metrics.micFrames.Inc()
			out = out[:copy(out, out[frame:])]
		}
	}
}
