package auth

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media/telemetry"
)

// Label values: bounded sets.
const (
	resultOK        = "ok"
	resultFailed    = "failed"
	resultThrottled = "throttled"
	resultReused    = "reused"
	resultError     = "error"
)

type metrics struct {
	logins    *prometheus.CounterVec // result
	refreshes *prometheus.CounterVec // result
	rejected  prometheus.Counter
	hashes    prometheus.Counter
	busy      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "auth", Name: "logins_total",
			Help: "Login attempts by result (ok, failed, throttled, error).",
		}, []string{"result"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "auth", Name: "refreshes_total",
			Help: "Refresh token exchanges by result (ok, failed, reused: a replay that revoked its session, error).",
		}, []string{"result"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "auth", Name: "rejected_tokens_total",
			Help: "Access tokens refused: invalid, expired, revoked, or of a disabled user.",
		}),
		hashes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "auth", Name: "password_hashes_total",
			Help: "argon2id computations (logins, including for unknown emails, and new passwords).",
		}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "auth", Name: "hash_busy_total",
			Help: "Logins refused because too many password hashes were running or waiting.",
		}),
	}
	for _, r := range []string{resultOK, resultFailed, resultThrottled, resultError} {
		m.logins.WithLabelValues(r)
	}
	for _, r := range []string{resultOK, resultFailed, resultReused, resultError} {
		m.refreshes.WithLabelValues(r)
	}
	if reg != nil {
		m.logins = telemetry.MustRegister(reg, m.logins)
		m.refreshes = telemetry.MustRegister(reg, m.refreshes)
		m.rejected = telemetry.MustRegister(reg, m.rejected)
		m.hashes = telemetry.MustRegister(reg, m.hashes)
		m.busy = telemetry.MustRegister(reg, m.busy)
	}
	return m
}
