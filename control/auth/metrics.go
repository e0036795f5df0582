package auth

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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
		m.logins = register(reg, m.logins)
		m.refreshes = register(reg, m.refreshes)
		m.rejected = register(reg, m.rejected)
		m.hashes = register(reg, m.hashes)
		m.busy = register(reg, m.busy)
	}
	return m
}

// register registers c, or returns the collector already registered under
// its name.
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
