package deepgram

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media/telemetry"
)

// Label values. Every label is bounded: provider is always "deepgram",
// operation "listen" or "speak".
const (
	provider   = "deepgram"
	opListen   = "listen"
	opSpeak    = "speak"
	dirSent    = "sent"
	dirRecv    = "received"
	outcomeOK  = "ok"
	outcomeErr = "error"
)

// Outcomes of a request or a connect.
const (
	outcomeUnavailable = "unavailable" // 429, 5xx, network: worth a fallback
	outcomeRejected    = "rejected"    // other 4xx: a bug or a bad key
	outcomeCanceled    = "canceled"
	outcomeBreakerOpen = "breaker_open"
)

// metrics are the client's Prometheus series (namespace iace, subsystem
// provider, shared with the other providers' clients by name and labels).
type metrics struct {
	connects     *prometheus.CounterVec // provider, operation, outcome
	redials      *prometheus.CounterVec // provider, operation, outcome
	dropped      prometheus.Counter     // audio frames dropped by Send
	messages     *prometheus.CounterVec // provider, operation, direction, type
	finalLatency prometheus.Observer    // ms from EndOfSpeech to the final
	requests     *prometheus.CounterVec // provider, operation, outcome
	firstByte    prometheus.Observer    // ms from request to first audio byte
	retries      prometheus.Counter     // Aura retries
	breaker      *prometheus.GaugeVec   // provider, operation: 0 closed, 1 half-open, 2 open
}

// latencyBuckets are milliseconds, from a fast final to a slow provider.
var latencyBuckets = []float64{25, 50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2500, 5000}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "iace", "deepgram"
	connects := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "stream_connects_total",
		Help: "Streaming provider connection attempts by outcome."}, []string{"provider", "operation", "outcome"})
	redials := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "stream_redials_total",
		Help: "Redials of dropped provider streams by outcome."}, []string{"provider", "operation", "outcome"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "stream_dropped_frames_total",
		Help: "Audio frames dropped because the provider stream could not keep up."}, []string{"provider", "operation"})
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "stream_messages_total",
		Help: "Provider stream messages by direction and type."}, []string{"provider", "operation", "direction", "type"})
	final := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "stt_final_latency_ms",
		Help: "Milliseconds from the end of speech to the final transcript.", Buckets: latencyBuckets}, []string{"provider", "operation"})
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
		Help: "Provider requests by outcome."}, []string{"provider", "operation", "outcome"})
	firstByte := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "first_byte_ms",
		Help: "Milliseconds from a provider request to its first byte.", Buckets: latencyBuckets}, []string{"provider", "operation"})
	retries := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retries_total",
		Help: "Provider request retries."}, []string{"provider", "operation"})
	breaker := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "breaker_state",
		Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open."}, []string{"provider", "operation"})

	if reg != nil {
		var errs [9]error
		connects, errs[0] = telemetry.Register(reg, connects)
		redials, errs[1] = telemetry.Register(reg, redials)
		dropped, errs[2] = telemetry.Register(reg, dropped)
		messages, errs[3] = telemetry.Register(reg, messages)
		final, errs[4] = telemetry.Register(reg, final)
		requests, errs[5] = telemetry.Register(reg, requests)
		firstByte, errs[6] = telemetry.Register(reg, firstByte)
		retries, errs[7] = telemetry.Register(reg, retries)
		breaker, errs[8] = telemetry.Register(reg, breaker)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("deepgram metrics: %w", err)
		}
	}
	// The outcomes are exported as 0 from the start, so an error rate is 0
	// rather than absent before the first failure.
	for _, o := range []string{outcomeOK, outcomeUnavailable, outcomeRejected, outcomeCanceled} {
		connects.WithLabelValues(provider, opListen, o)
	}
	for _, o := range []string{outcomeOK, outcomeUnavailable, outcomeRejected, outcomeCanceled, outcomeBreakerOpen} {
		requests.WithLabelValues(provider, opSpeak, o)
	}
	for _, o := range []string{outcomeOK, outcomeErr} {
		redials.WithLabelValues(provider, opListen, o)
	}
	breaker.WithLabelValues(provider, opSpeak) // closed
	return &metrics{
		connects:     connects,
		redials:      redials,
		dropped:      dropped.WithLabelValues(provider, opListen),
		messages:     messages,
		finalLatency: final.WithLabelValues(provider, opListen),
		requests:     requests,
		firstByte:    firstByte.WithLabelValues(provider, opSpeak),
		retries:      retries.WithLabelValues(provider, opSpeak),
		breaker:      breaker,
	}, nil
}

func (m *metrics) sent(typ string) {
	m.messages.WithLabelValues(provider, opListen, dirSent, typ).Inc()
}
func (m *metrics) received(typ string) {
	m.messages.WithLabelValues(provider, opListen, dirRecv, typ).Inc()
}
