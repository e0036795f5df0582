package callcontrol

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media/telemetry"
)

// provider is the value of the provider label on every metric.
const provider = "telnyx"

// Outcomes of a command, the bounded values of the outcome label.
const (
	outcomeOK          = "ok"
	outcomeCallEnded   = "call_ended"
	outcomeClientError = "client_error"
	outcomeRateLimited = "rate_limited"
	outcomeServerError = "server_error"
	outcomeTimeout     = "timeout"
	outcomeNetwork     = "network_error"
	outcomeCircuitOpen = "circuit_open"
	outcomeBusy        = "bulkhead_full"
	outcomeCanceled    = "canceled"
	outcomeInvalid     = "invalid"
)

// metrics are shared with the other provider clients: namespace iace,
// subsystem provider, labelled by provider and operation (the action).
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	retries  *prometheus.CounterVec
	breaker  *prometheus.GaugeVec
	rejected *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "callcontrol", Name: "requests_total",
			Help: "Provider requests by final outcome, after retries.",
		}, []string{"provider", "operation", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "iace", Subsystem: "callcontrol", Name: "request_duration_ms",
			Help:    "Duration of each provider request attempt in milliseconds.",
			Buckets: []float64{5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000},
		}, []string{"provider", "operation"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "callcontrol", Name: "retries_total",
			Help: "Provider request attempts that repeated a failed one.",
		}, []string{"provider", "operation"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "iace", Subsystem: "callcontrol", Name: "breaker_state",
			Help: "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open.",
		}, []string{"provider"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "callcontrol", Name: "bulkhead_rejections_total",
			Help: "Attempts not sent because the bulkhead's concurrent requests were all in use past the wait.",
		}, []string{"provider"}),
	}
	if reg == nil {
		return m, nil
	}
	var errs [5]error
	m.requests, errs[0] = telemetry.Register(reg, m.requests)
	m.latency, errs[1] = telemetry.Register(reg, m.latency)
	m.retries, errs[2] = telemetry.Register(reg, m.retries)
	m.breaker, errs[3] = telemetry.Register(reg, m.breaker)
	m.rejected, errs[4] = telemetry.Register(reg, m.rejected)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("callcontrol metrics: %w", err)
	}
	// Every action's series are exported from the start, so an error rate
	// is 0 rather than absent before the first failure.
	for _, a := range []string{ActionAnswer, ActionStreamingStart, ActionStreamingStop, ActionTransfer, ActionHangup} {
		m.latency.WithLabelValues(provider, a)
		m.retries.WithLabelValues(provider, a)
		for _, o := range []string{outcomeOK, outcomeCallEnded, outcomeClientError, outcomeRateLimited, outcomeServerError,
			outcomeTimeout, outcomeNetwork, outcomeCircuitOpen, outcomeBusy, outcomeCanceled, outcomeInvalid} {
			m.requests.WithLabelValues(provider, a, o)
		}
	}
	return m, nil
}
