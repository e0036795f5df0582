package session

import (
	"errors"
	"time"

	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/media/vad"
)

// maxLoggedProtocolErrors is how many bad frames a call logs at warn level;
// the rest are only counted, so a broken peer cannot flood the log.
// maxLoggedDrops does the same for stream events dropped because the
// session fell behind: a peer can send keypad frames as fast as media.
const (
	maxLoggedProtocolErrors = 5
	maxLoggedDrops          = 5
)

// inbound is the caller's side of the media path, owned by the stream's
// reader goroutine: reorder, the transcriber's audio (the frames as they
// came, in the call's format), decode and VAD (the only user of the PCM).
// Doing this work where the frame is read, about two microseconds a frame,
// saves a goroutine wake-up per frame: the session hears only of what the
// VAD decides. Nothing here waits for the session.
type inbound struct {
	s         *Session
	format    media.Format
	reorder   *media.Reorder
	vad       *vad.Detector
	stt       TranscriptStream
	pcm       []int16
	pcmFits   int // the longest frame, in bytes, that pcm holds decoded
	silence   []byte
	frames    int // not yet added to the metric
	total     uint64
	last      media.ReorderStats
	badFrames int
	// The VAD's voiced audio so far in the utterance, and the frame
	// (of seen) when it last grew: the utterance's silence at its end.
	voiced      time.Duration
	voicedFrame uint64
	// asked is the voiced audio of the utterance when it last paused: the
	// transcriber was asked for its words then, and speech since is not
	// in them.
	asked time.Duration
	// paused: the utterance paused and the caller has not spoken since.
	paused bool
	// The agent's audio for the detector's echo canceller, on a line
	// that sends it back loud (vad.Detector.WantsEchoAudio): echoAt is the
	// far end's sample position (media.Playout.EchoPosition) of the next
	// frame, counted on from the frames heard since the detector first
	// asked (-1 before), whether it asks or not: the frames' arrival
	// jitters by milliseconds, and a position taken afresh at each of the
	// agent's turns would shift the echo by as many samples under the
	// filter the canceller learnt. ref holds the frame's share.
	echoAt    int64
	echoSlack int64 // echoSlack in samples of the call's format
	ref       []int16
}

// echoSlack is how far the frames heard may drift from the far end's
// clock (the network's jitter, frames lost) before the agent's audio is
// read from the clock again: the canceller finds the delay again after a
// jump, so jumps should be rare.
const echoSlack = 100 * time.Millisecond

// metricsBatch is how many frames are counted locally before the shared
// counter is updated: one atomic add a second per call instead of fifty.
const metricsBatch = 50

func newInbound(s *Session, v *vad.Detector, stt TranscriptStream, reorderDepth int) *inbound {
	in := &inbound{s: s, format: s.in, vad: v, stt: stt, silence: make([]byte, s.in.FrameBytes()), echoAt: -1,
		echoSlack: int64(s.in.BytesPer(echoSlack) / max(1, s.in.Encoding.BytesPerSample()))}
	in.growPCM(len(in.silence))
	s.in.Encoding.FillSilence(in.silence)
	in.reorder = media.NewReorder(reorderDepth, in.frame)
	return in
}

// frame runs one in-order frame (or a concealed one) through the pipeline.
func (in *inbound) frame(frame []byte, concealed bool) {
	if concealed {
		n := in.reorder.LastLen()
		if n == 0 || n > len(in.silence) {
			n = len(in.silence)
		}
		frame = in.silence[:n]
	}
	if t := in.s.tap.tap(); t != nil {
		t.CallerAudio(frame) // a supervisor listens; copies or drops, never blocks
	}
	if in.stt != nil {
		// The transcriber takes the frame as it came, in the call's format;
		// one that cannot keep up drops audio itself.
		_ = in.stt.Send(frame)
	}
	// Decoded for the VAD only.
	if len(frame) > in.pcmFits {
		in.growPCM(len(frame))
	}
	pcm := in.pcm[:media.DecodeTo(in.pcm, frame, in.format.Encoding)]
	in.frames++
	if in.frames >= metricsBatch {
		in.flushCounts()
	}
	if in.s.endVAD.Load() && in.s.endVAD.Swap(false) {
		in.vad.EndUtterance() // the session ended the caller's turn in a pause
	}
	// The agent's own voice, echoed back on a line with no echo canceller,
	// must not start an utterance: the detector is told how loud the
	// agent is while the far end may be playing it.
	in.vad.SetEchoReference(in.s.playout.EchoReference())
	if in.vad.WantsEchoAudio() {
		in.echoAudio(len(pcm))
	} else if in.echoAt >= 0 {
		in.echoAt += int64(len(pcm)) // the caller's clock runs on while the agent is silent
	}
	ev := in.vad.Process(pcm)
	if d := in.vad.SpeechDuration(); d != in.voiced {
		in.voiced, in.voicedFrame = d, in.seen()
		if in.paused && ev == vad.EventNone {
			in.paused = false
			in.s.sendCtrl(inboundEvent{kind: inResumed, at: time.Now()})
		}
	}
	switch ev {
	case vad.EventSpeechStart:
		in.asked, in.paused = 0, false
		in.s.sendCtrl(inboundEvent{kind: inSpeechStart, at: time.Now()})
	case vad.EventBargeIn:
		in.s.sendCtrl(inboundEvent{kind: inBargeIn, at: time.Now()})
	case vad.EventNotSpeech:
		in.s.sendCtrl(inboundEvent{kind: inNotSpeech, at: time.Now()})
	case vad.EventPause:
		fresh := in.voiced > in.asked
		in.asked, in.paused = in.voiced, true
		in.s.sendCtrl(inboundEvent{kind: inPause, at: time.Now(), fresh: fresh})
	case vad.EventSpeechEnd:
		in.paused = false
		silence := time.Duration(in.seen()-in.voicedFrame) * media.FrameDuration //nolint:gosec // G115: frames since the last voiced one, a small count
		in.s.sendCtrl(inboundEvent{kind: inSpeechEnd, at: time.Now(), silence: silence, fresh: in.voiced > in.asked})
	}
}

// echoAudio gives the detector the agent's audio the far end played
// while the caller's next n samples were heard, as well as the reader
// knows: the frames run on from where the far end was when they were
// first asked for (read from the clock again only if they drift from it
// by echoSlack), and the echo's delay is the canceller's to find.
// Only a line that sends the agent's echo back loud asks for it; the
// playout outputs the reader's format (the agent answers in the codec the
// caller sends).
func (in *inbound) echoAudio(n int) {
	now := in.s.playout.EchoPosition()
	if in.echoAt < 0 || in.echoAt+int64(n) < now-in.echoSlack || in.echoAt+int64(n) > now+in.echoSlack {
		in.echoAt = now - int64(n)
	}
	if len(in.ref) < n {
		in.ref = make([]int16, n)
	}
	ref := in.ref[:n]
	in.s.playout.EchoAudio(ref, in.echoAt)
	in.vad.SetEchoAudio(ref)
	in.echoAt += int64(n)
}

// growPCM makes pcm hold a frame of n bytes decoded. The reader divides by
// the sample size only here, not for every frame.
func (in *inbound) growPCM(n int) {
	bps := in.format.Encoding.BytesPerSample()
	in.pcm = make([]int16, n/bps)
	in.pcmFits = len(in.pcm)*bps + bps - 1
}

// push adds a received media payload; seq < 0 means the frame carries no
// sequence number and is taken in arrival order.
func (in *inbound) push(seq int64, payload []byte) {
	if seq < 0 {
		in.frame(payload, false)
		return
	}
	in.reorder.Push(seq, payload)
	if st := in.reorder.Stats(); st != in.last {
		m := in.s.eng.metrics
		m.reordered.Add(float64(st.Reordered - in.last.Reordered))
		m.concealed.Add(float64(st.Concealed - in.last.Concealed))
		m.late.Add(float64(st.Late + st.Duplicates - in.last.Late - in.last.Duplicates))
		in.last = st
	}
}

// addStats copies the reader's counters into st; call it once the reader has ended.
func (in *inbound) addStats(st *CallStats) {
	r := in.reorder.Stats()
	st.Reordered, st.Concealed, st.Late = r.Reordered, r.Concealed, r.Late+r.Duplicates
	st.ProtocolErrs = in.badFrames
	st.FramesIn = in.total
}

// seen is the number of frames the reader has run.
func (in *inbound) seen() uint64 { return in.total + uint64(in.frames) } //nolint:gosec // G115: frames is a small count, never negative

// echoLearnt is how long the agent must have talked over the caller's
// line for the echo return loss the detector learnt to be counted.
const echoLearnt = 3 * time.Second

// observeEcho counts the call's learnt echo return loss, once the reader
// is done with the detector.
func (in *inbound) observeEcho() {
	if in.vad.EchoHeard() >= echoLearnt { // 0 with EchoLearn off
		in.s.eng.metrics.echoLoss.Observe(in.vad.EchoLossDB())
	}
	if erle := in.vad.EchoCancelledDB(); erle > 0 {
		in.s.eng.metrics.echoCancelled.Observe(erle)
	}
}

func (in *inbound) flushCounts() {
	in.s.eng.metrics.framesIn.Add(float64(in.frames))
	in.total += uint64(in.frames) //nolint:gosec // G115: a count of frames, never negative
	in.frames = 0
}

// read is the stream's reader. It returns nil after a stop frame, or the
// error that ended the stream. Closing the connection (the session does when
// the call ends) makes it return.
func (s *Session) read(in *inbound) error {
	defer in.flushCounts()
	defer in.observeEcho()
	var ev telnyx.Event
	for {
		err := s.conn.Read(&ev)
		var pe *telnyx.ProtocolError
		if errors.As(err, &pe) {
			in.badFrames++
			if in.badFrames <= maxLoggedProtocolErrors {
				s.log.Warn("skipped a bad frame", "kind", pe.Kind, "err", pe.Err)
			}
			continue
		}
		if err != nil {
			return err
		}
		switch ev.Kind {
		case telnyx.EventMedia:
			if ev.Media.Track == telnyx.TrackOutbound {
				continue // our own audio echoed back: not the caller
			}
			seq := ev.Media.Chunk
			if seq < 0 {
				seq = ev.Seq
			}
			in.push(seq, ev.Media.Payload)
		case telnyx.EventDTMF:
			s.sendCtrl(inboundEvent{kind: inDTMF, digit: ev.Digit, at: ev.OccurredAt})
		case telnyx.EventMark:
			s.sendCtrl(inboundEvent{kind: inMark, mark: ev.Mark})
		case telnyx.EventError:
			s.sendCtrl(inboundEvent{kind: inError, code: ev.Error.Code})
		case telnyx.EventStop:
			return nil // the session sees the reader end: a hangup
		}
	}
}

// ctrlQueue is how many stream events may wait for the session's run loop.
// A call makes a few a second at most (speech start, pause and end, a mark
// per sentence, DTMF digits), and the loop takes each in microseconds; 16
// hold a burst of digits with the loop a whole second behind. Every call
// keeps the buffer, so it is no bigger than that (1.3 KiB).
const ctrlQueue = 16

// sendCtrl hands an event to the session without blocking the reader. The
// channel holds ctrlQueue events, far more than a call produces in the time
// the session takes to read one; a session that far behind loses the event,
// and it is counted. The first maxLoggedDrops drops of a call are logged, then
// one line says the rest are only counted.
func (s *Session) sendCtrl(ev inboundEvent) {
	select {
	case s.ctrl <- ev:
	default:
		s.eng.metrics.eventsDropped.Inc()
		s.droppedEvents++
		switch {
		case s.droppedEvents <= maxLoggedDrops:
			s.log.Warn("session behind: dropped a stream event", "kind", int(ev.kind))
		case s.droppedEvents == maxLoggedDrops+1:
			s.log.Warn("session behind: dropping more stream events; counting them without logging")
		}
	}
}
