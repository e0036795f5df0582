package spool

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	direct   prometheus.Counter
	spooled  prometheus.Counter
	replayed prometheus.Counter
	failures prometheus.Counter
	dead     prometheus.Counter
	depth    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "iace", Subsystem: "spool", Name: name, Help: help})
	}
	m := &metrics{
		direct:   counter("direct_total", "Call records written straight to the database."),
		spooled:  counter("spooled_total", "Call records written to the spool because the database could not take them (or others were waiting)."),
		replayed: counter("replayed_total", "Spooled call records the database took on replay."),
		failures: counter("replay_failures_total", "Replays of a spooled record that failed and will be retried."),
		dead:     counter("dead_lettered_total", "Call records moved to the dead-letter directory: rejected by the database, or unreadable."),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "iace", Subsystem: "spool", Name: "depth",
			Help: "Call records waiting in the spool.",
		}),
	}
	if reg != nil {
		m.direct = register(reg, m.direct)
		m.spooled = register(reg, m.spooled)
		m.replayed = register(reg, m.replayed)
		m.failures = register(reg, m.failures)
		m.dead = register(reg, m.dead)
		m.depth = register(reg, m.depth)
	}
	return m
}

// register registers c, or returns the collector already registered under
// its name (a Spool reopened on the same registry keeps counting).
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
