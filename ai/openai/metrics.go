package openai

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media/telemetry"
)

// Outcomes of a request, the bounded values of the outcome label.
const (
	outcomeOK          = "ok"
	outcomeClientError = "client_error" // 4xx other than 429, a malformed or oversized answer
	outcomeUnavailable = "unavailable"  // 429, 5xx, network, timeouts, a cut stream
	outcomeRejected    = "rejected"     // breaker open or bulkhead full: no request was sent
	outcomeCanceled    = "canceled"     // the caller cancelled or closed the stream early
)

// Operations, the bounded values of the operation label.
const (
	opChat   = "chat"
	opSpeech = "speech"
)

// metrics are the provider series (namespace iace, subsystem provider),
// labelled by provider and operation.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	firstByte *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	breaker   *prometheus.GaugeVec
}

// msBuckets cover provider latencies from a fast first token to a long answer.
var msBuckets = []float64{25, 50, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	labels := []string{"provider", "operation"}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "openai", Name: "requests_total",
			Help: "Provider requests by outcome (ok, client_error, unavailable, rejected, canceled); retries inside one request are not counted again."},
			[]string{"provider", "operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "openai", Name: "request_duration_ms",
			Help: "From the call to the end of the answer (the whole stream), milliseconds.", Buckets: msBuckets}, labels),
		firstByte: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "openai", Name: "first_byte_ms",
			Help: "From the call to the first byte of the answer, retries included, milliseconds.", Buckets: msBuckets}, labels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "openai", Name: "retries_total",
			Help: "Provider requests sent again after a failure before the first byte."}, labels),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "openai", Name: "breaker_state",
			Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open."}, labels),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.requests, err = telemetry.Register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.duration, err = telemetry.Register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.firstByte, err = telemetry.Register(reg, m.firstByte); err != nil {
		return nil, err
	}
	if m.retries, err = telemetry.Register(reg, m.retries); err != nil {
		return nil, err
	}
	if m.breaker, err = telemetry.Register(reg, m.breaker); err != nil {
		return nil, err
	}
	return m, nil
}

// opMetrics are one operation's series, resolved once.
type opMetrics struct {
	outcomes  map[string]prometheus.Counter
	duration  prometheus.Observer
	firstByte prometheus.Observer
	retries   prometheus.Counter
	breaker   prometheus.Gauge
}

func (m *metrics) forOp(provider, op string) *opMetrics {
	om := &opMetrics{
		outcomes:  make(map[string]prometheus.Counter),
		duration:  m.duration.WithLabelValues(provider, op),
		firstByte: m.firstByte.WithLabelValues(provider, op),
		retries:   m.retries.WithLabelValues(provider, op),
		breaker:   m.breaker.WithLabelValues(provider, op),
	}
	for _, o := range []string{outcomeOK, outcomeClientError, outcomeUnavailable, outcomeRejected, outcomeCanceled} {
		om.outcomes[o] = m.requests.WithLabelValues(provider, op, o)
	}
	return om
}
