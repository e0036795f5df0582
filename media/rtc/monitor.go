package rtc

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/iace/iace/media"
)

// Call is a live call a Monitor listens to. control/monitor adapts the
// session engine's call to it.
type Call interface {
	// ID names the call (logs; one Monitor per id).
	ID() string
	// Format is the format of the audio the tap receives, both sides.
	Format() media.Format
	// Done is closed when the call has ended.
	Done() <-chan struct{}
	// SetTap makes t the call's tap; RemoveTap removes t if it still is.
	SetTap(t Tap)
	RemoveTap(t Tap)
}

// Tap is what a call hands its audio to; *Monitor implements it. The
// methods run on the call's media path and never block.
type Tap interface {
	CallerAudio(frame []byte)
	AgentAudio(audio []byte)
	AgentCleared()
}

var _ Tap = (*Monitor)(nil)

// pcmuFrame is one 20 ms frame of PCMU at 8 kHz, what every track carries.
const pcmuFrame = 160

// callerBuffer is how much caller audio waits for the Monitor's goroutine:
// it is woken for every frame, so a few frames are plenty.
const callerBuffer = 200 * time.Millisecond

// Stream and track ids of the answer's tracks. A listener gets the mixed
// track, or the two sides; all share one stream so that one <audio>
// element plays them.
const (
	streamID      = "iace-call"
	trackMixed    = "mixed"
	trackCaller   = "caller"
	trackAgent    = "agent"
	codecMimeType = webrtc.MimeTypePCMU
)

// Monitor turns one call's audio into three PCMU tracks, the caller, the
// agent as the caller hears it, and both mixed, shared by every listener
// of the call: each frame is written once, and pion sends it to every
// PeerConnection bound to the track. The call hands frames to its tap
// methods, which copy them into rings and return; the Monitor's own
// goroutine converts, mixes and writes, so a listener's trouble never
// reaches the call. Caller frames drive the 20 ms clock (Telnyx streams
// the caller continuously, silence included); the agent's audio, sent by
// the pacer ahead of playback, waits in its ring and is taken one frame
// per caller frame, silence (0xFF) when there is none.
type Monitor struct {
	srv    *Server
	call   Call
	format media.Format
	caller *byteRing
	agent  *byteRing
	// agentClearAt is the agent ring position of the last clear, and
	// agentClears counts clears: the consumer drops audio before it.
	agentClearAt atomic.Uint64
	agentClears  atomic.Uint64
	// callerAt is when the latest caller frame came (Unix nanoseconds):
	// the goroutine times the frame's way to the wire from it.
	callerAt atomic.Int64
	// wake tells the goroutine that caller audio came.
	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	// done is closed when the goroutine has returned.
	done chan struct{}

	mixed, callerTrack, agentTrack *webrtc.TrackLocalStaticSample

	// listeners and ended are guarded by srv.mu.
	listeners map[string]*Peer
	ended     bool

	// Owned by the goroutine.
	callerConv, agentConv *media.Converter
	callerPCMU, agentPCMU []byte
	chunk                 []byte
	agentFrame, mixFrame  []byte
	pa, pb                []int16
	seenClears            uint64
}

func newMonitor(s *Server, call Call) (*Monitor, error) {
	f := call.Format()
	callerConv, err := media.NewConverter(f, media.PCMU8k)
	if err != nil {
		return nil, err
	}
	agentConv, err := media.NewConverter(f, media.PCMU8k)
	if err != nil {
		return nil, err
	}
	m := &Monitor{
		srv: s, call: call, format: f,
		caller:     newByteRing(f.BytesPer(callerBuffer)),
		agent:      newByteRing(f.BytesPer(s.cfg.AgentBuffer)),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		listeners:  make(map[string]*Peer),
		callerConv: callerConv, agentConv: agentConv,
		callerPCMU: make([]byte, 0, 4*pcmuFrame),
		agentPCMU:  make([]byte, 0, 4*pcmuFrame),
		chunk:      make([]byte, f.FrameBytes()),
		agentFrame: make([]byte, pcmuFrame),
		mixFrame:   make([]byte, pcmuFrame),
		pa:         make([]int16, pcmuFrame),
		pb:         make([]int16, pcmuFrame),
	}
	codec := webrtc.RTPCodecCapability{MimeType: codecMimeType, ClockRate: 8000}
	if m.mixed, err = webrtc.NewTrackLocalStaticSample(codec, trackMixed, streamID); err != nil {
		return nil, err
	}
	if m.callerTrack, err = webrtc.NewTrackLocalStaticSample(codec, trackCaller, streamID); err != nil {
		return nil, err
	}
	if m.agentTrack, err = webrtc.NewTrackLocalStaticSample(codec, trackAgent, streamID); err != nil {
		return nil, err
	}
	return m, nil
}

// tracks are what a listener is sent.
func (m *Monitor) tracks(sides bool) []*webrtc.TrackLocalStaticSample {
	if sides {
		return []*webrtc.TrackLocalStaticSample{m.callerTrack, m.agentTrack}
	}
	return []*webrtc.TrackLocalStaticSample{m.mixed}
}

// CallerAudio copies one caller frame for the Monitor's goroutine and wakes
// it; a full ring drops the frame (counted). It never blocks.
func (m *Monitor) CallerAudio(frame []byte) {
	if !m.caller.write(frame) {
		m.srv.metrics.droppedCaller.Inc()
		return
	}
	m.callerAt.Store(time.Now().UnixNano())
	select {
	case m.wake <- struct{}{}:
	default: // already awake, or about to be
	}
}

// AgentAudio copies agent audio (whole frames) to wait for the caller's
// clock; a full ring drops it (counted). It never blocks.
func (m *Monitor) AgentAudio(audio []byte) {
	if !m.agent.write(audio) {
		m.srv.metrics.droppedAgent.Add(float64(max(1, len(audio)/max(1, m.format.FrameBytes()))))
	}
}

// AgentCleared drops the agent audio not yet played: the caller will not
// hear it, so neither does the listener.
func (m *Monitor) AgentCleared() {
	m.agentClearAt.Store(m.agent.written())
	m.agentClears.Add(1)
}

// halt stops the goroutine (the last listener left, or the server closes).
func (m *Monitor) halt() { m.stopOnce.Do(func() { close(m.stop) }) }

// run is the Monitor's goroutine; it takes the call's tap while it runs.
func (m *Monitor) run() {
	defer close(m.done)
	m.call.SetTap(m)
	defer m.call.RemoveTap(m)
	ended := m.call.Done()
	for {
		select {
		case <-m.stop:
			return
		case <-ended:
			m.srv.callEnded(m)
			return
		case <-m.wake:
			m.pump()
		}
	}
}

// pump converts the caller audio that came and plays one tick per frame.
func (m *Monitor) pump() {
	unit := max(1, m.format.Encoding.BytesPerSample())
	for {
		n := m.caller.read(m.chunk, unit)
		if n == 0 {
			break
		}
		m.callerPCMU = m.callerConv.Convert(m.callerPCMU, m.chunk[:n])
	}
	ticked := false
	for len(m.callerPCMU) >= pcmuFrame {
		m.tick(m.callerPCMU[:pcmuFrame])
		m.callerPCMU = m.callerPCMU[:copy(m.callerPCMU, m.callerPCMU[pcmuFrame:])]
		ticked = true
	}
	if at := m.callerAt.Load(); ticked && at != 0 {
		m.srv.metrics.callerDelay.Observe(float64(time.Now().UnixNano()-at) / 1e9)
	}
}

// tick writes one 20 ms frame on every track: the caller's, the next frame
// of the agent's (silence when none waits), and the two mixed.
func (m *Monitor) tick(caller []byte) {
	if c := m.agentClears.Load(); c != m.seenClears {
		m.seenClears = c
		m.agent.skipTo(m.agentClearAt.Load())
		m.agentPCMU = m.agentPCMU[:0]
	}
	frame := m.format.FrameBytes()
	for len(m.agentPCMU) < pcmuFrame {
		n := m.agent.read(m.chunk[:frame], frame)
		if n == 0 {
			break
		}
		m.agentPCMU = m.agentConv.Convert(m.agentPCMU, m.chunk[:n])
	}
	if len(m.agentPCMU) >= pcmuFrame {
		copy(m.agentFrame, m.agentPCMU)
		m.agentPCMU = m.agentPCMU[:copy(m.agentPCMU, m.agentPCMU[pcmuFrame:])]
	} else {
		media.EncodingPCMU.FillSilence(m.agentFrame)
	}
	mixULaw(m.mixFrame, caller, m.agentFrame, m.pa, m.pb)
	// A write fails only for a PeerConnection that is going away; the
	// others still get the frame (pion's TrackLocalStaticRTP contract),
	// and the failing listener is closed by its state change.
	_ = m.callerTrack.WriteSample(pionmedia.Sample{Data: caller, Duration: media.FrameDuration})
	_ = m.agentTrack.WriteSample(pionmedia.Sample{Data: m.agentFrame, Duration: media.FrameDuration})
	_ = m.mixed.WriteSample(pionmedia.Sample{Data: m.mixFrame, Duration: media.FrameDuration})
}
