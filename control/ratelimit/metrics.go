package ratelimit

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media/telemetry"
)

// metrics are one limiter's counters, bound to its name label so that the
// hot path looks nothing up.
type metrics struct {
	allowed     prometheus.Counter
	limited     prometheus.Counter
	redisErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, name string) *metrics {
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "iace", Subsystem: "ratelimit", Name: "decisions_total",
		Help: "Rate limit decisions by limiter (its configured name) and decision (allowed, limited).",
	}, []string{"limiter", "decision"})
	redisErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "iace", Subsystem: "ratelimit", Name: "redis_errors_total",
		Help: "Redis errors or timeouts of a limiter; the decision fell back to the in-process limiter (fail open).",
	}, []string{"limiter"})
	if reg != nil {
		decisions = telemetry.MustRegister(reg, decisions)
		redisErrors = telemetry.MustRegister(reg, redisErrors)
	}
	return &metrics{
		allowed:     decisions.WithLabelValues(name, "allowed"),
		limited:     decisions.WithLabelValues(name, "limited"),
		redisErrors: redisErrors.WithLabelValues(name),
	}
}

func (m *metrics) decided(ok bool) {
	if ok {
		m.allowed.Inc()
	} else {
		m.limited.Inc()
	}
}
