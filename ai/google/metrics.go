package google

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media/telemetry"
)

// Outcomes of a request, the bounded values of the outcome label.
const (
	outcomeOK          = "ok"
	outcomeClientError = "client_error" // 4xx other than 429, a malformed or oversized answer
	outcomeUnavailable = "unavailable"  // 429, 5xx, network, timeouts
	outcomeRejected    = "rejected"     // breaker open or bulkhead full: nothing was sent
	outcomeCanceled    = "canceled"     // the caller cancelled
)

// opEmbed is the one operation, the value of the operation label.
const opEmbed = "embed"

// metrics are the series of namespace iace, subsystem google.
type metrics struct {
	outcomes map[string]prometheus.Counter
	duration prometheus.Observer
	retries  prometheus.Counter
	breaker  prometheus.Gauge
	texts    prometheus.Counter
}

var msBuckets = []float64{25, 50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "google", Name: "requests_total",
		Help: "Gemini API requests by outcome (ok, client_error, unavailable, rejected, canceled); retries are not counted again."},
		[]string{"operation", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "google", Name: "request_duration_ms",
		Help: "From the call to the whole answer, retries included, milliseconds.", Buckets: msBuckets}, []string{"operation"})
	retries := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "google", Name: "retries_total",
		Help: "Gemini API requests sent again after a failure."}, []string{"operation"})
	breaker := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "google", Name: "breaker_state",
		Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open."}, []string{"operation"})
	texts := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "google", Name: "embedded_texts_total",
		Help: "Texts embedded successfully."}, []string{"operation"})
	if reg != nil {
		var err error
		if requests, err = telemetry.Register(reg, requests); err != nil {
			return nil, err
		}
		if duration, err = telemetry.Register(reg, duration); err != nil {
			return nil, err
		}
		if retries, err = telemetry.Register(reg, retries); err != nil {
			return nil, err
		}
		if breaker, err = telemetry.Register(reg, breaker); err != nil {
			return nil, err
		}
		if texts, err = telemetry.Register(reg, texts); err != nil {
			return nil, err
		}
	}
	m := &metrics{
		outcomes: make(map[string]prometheus.Counter),
		duration: duration.WithLabelValues(opEmbed),
		retries:  retries.WithLabelValues(opEmbed),
		breaker:  breaker.WithLabelValues(opEmbed),
		texts:    texts.WithLabelValues(opEmbed),
	}
	for _, o := range []string{outcomeOK, outcomeClientError, outcomeUnavailable, outcomeRejected, outcomeCanceled} {
		m.outcomes[o] = requests.WithLabelValues(opEmbed, o)
	}
	return m, nil
}
