package session

import (
	"errors"

	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
)

// maxLoggedProtocolErrors is how many bad frames a call logs at warn level;
// the rest are only counted, so a broken peer cannot flood the log.
const maxLoggedProtocolErrors = 5

// read is the stream's reader. It never blocks on the session: media frames
// go through the reorder buffer into the bounded frame queue (dropping the
// oldest when full), other events into a small channel. It returns nil after
// a stop frame, or the error that ended the stream. Closing the connection
// (the session does when the call ends) makes it return.
func (s *Session) read() error {
	m := s.eng.metrics
	silence := make([]byte, s.in.FrameBytes())
	s.in.Encoding.FillSilence(silence)
	var last media.ReorderStats
	var reorder *media.Reorder
	reorder = media.NewReorder(s.eng.cfg.ReorderDepth, func(frame []byte, concealed bool) {
		if concealed {
			n := reorder.LastLen()
			if n == 0 || n > len(silence) {
				n = len(silence)
			}
			frame = silence[:n]
		}
		if s.queue.Push(frame) {
			m.dropped.Inc()
		}
	})
	var ev telnyx.Event
	for {
		err := s.conn.Read(&ev)
		var pe *telnyx.ProtocolError
		if errors.As(err, &pe) {
			s.stats.ProtocolErrs++ // written by the reader only; read by finish after the reader ended
			if s.stats.ProtocolErrs <= maxLoggedProtocolErrors {
				s.log.Warn("skipped a bad frame", "kind", pe.Kind, "err", pe.Err)
			}
			continue
		}
		if err != nil {
			s.fillReorderStats(reorder.Stats())
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
			if seq < 0 {
				if s.queue.Push(ev.Media.Payload) {
					m.dropped.Inc()
				}
				continue
			}
			reorder.Push(seq, ev.Media.Payload)
			if st := reorder.Stats(); st != last {
				m.reordered.Add(float64(st.Reordered - last.Reordered))
				m.concealed.Add(float64(st.Concealed - last.Concealed))
				m.late.Add(float64(st.Late + st.Duplicates - last.Late - last.Duplicates))
				last = st
			}
		case telnyx.EventDTMF:
			s.sendCtrl(inboundEvent{kind: inDTMF, digit: ev.Digit, at: ev.OccurredAt})
		case telnyx.EventMark:
			s.sendCtrl(inboundEvent{kind: inMark, mark: ev.Mark})
		case telnyx.EventError:
			s.sendCtrl(inboundEvent{kind: inError, code: ev.Error.Code})
		case telnyx.EventStop:
			s.fillReorderStats(reorder.Stats())
			return nil // the session sees the reader end: a hangup
		}
	}
}

func (s *Session) fillReorderStats(st media.ReorderStats) {
	s.stats.Reordered, s.stats.Concealed, s.stats.Late = st.Reordered, st.Concealed, st.Late+st.Duplicates
}

// sendCtrl hands an event to the session without blocking the reader. The
// channel holds 32 events; a session that far behind loses the event, and says so.
func (s *Session) sendCtrl(ev inboundEvent) {
	select {
	case s.ctrl <- ev:
	default:
		s.log.Warn("session behind: dropped a stream event", "kind", int(ev.kind))
	}
}
