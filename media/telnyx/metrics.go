package telnyx

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what the media-stream transport sees. Labels are bounded: the
// error kinds are the Kind constants, the refusal reasons a fixed few.
type Metrics struct {
	protocolErrors *prometheus.CounterVec
	refused        *prometheus.CounterVec
	framesIn       prometheus.Counter
	framesOut      prometheus.Counter
	stalled        prometheus.Counter
	deferred       prometheus.Counter
}

// NewMetrics registers the transport's metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		protocolErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "telnyx", Name: "protocol_errors_total",
			Help: "Frames that broke the Telnyx media-stream protocol, by kind; the frame was skipped.",
		}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "telnyx", Name: "streams_refused_total",
			Help: "Media streams refused before a call began, by reason.",
		}, []string{"reason"}),
		framesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "telnyx", Name: "frames_in_total",
			Help: "Frames read from Telnyx media streams, all events.",
		}),
		framesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "telnyx", Name: "messages_out_total",
			Help: "Messages written to Telnyx media streams (media, mark, clear).",
		}),
		deferred: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "telnyx", Name: "writes_deferred_total",
			Help: "Batches of messages the socket did not take at once (its buffer was full, or the connection offers no socket to write to without blocking), handed to a goroutine to write. Near 0 in health.",
		}),
		stalled: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "telnyx", Name: "streams_stalled_total",
			Help: "Media streams ended because the peer stopped reading: a message waited longer than the write timeout to be written.",
		}),
	}
	for _, k := range []string{KindMalformedJSON, KindBadField, KindBadBase64, KindOversize, KindBinaryFrame, KindUnexpected} {
		m.protocolErrors.WithLabelValues(k)
	}
	for _, r := range []string{"origin", "unauthorized", "not_admitted", "upgrade", "handshake", "unsupported_format",
		"token_mismatch", "forbidden", "not_accepted"} {
		m.refused.WithLabelValues(r) // the refusal reasons of handler.go, exported as 0 from the start
	}
	if reg != nil {
		reg.MustRegister(m.protocolErrors, m.refused, m.framesIn, m.framesOut, m.stalled, m.deferred)
	}
	return m
}

// ProtocolError counts one skipped frame of the given kind.
func (m *Metrics) ProtocolError(kind string) {
	if m != nil {
		m.protocolErrors.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) refuse(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}
