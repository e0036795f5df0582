package ratelimit

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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
		decisions = register(reg, decisions)
		redisErrors = register(reg, redisErrors)
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

// register registers c, or returns the collector already registered under
// its name (every limiter on a registry shares the vectors).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a name clash with another subsystem's metric: a programming error
	}
	return c
}
