package spool

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media/telemetry"
)

type metrics struct {
	direct   prometheus.Counter
	spooled  prometheus.Counter
	replayed prometheus.Counter
	failures prometheus.Counter
	dead     prometheus.Counter
	depth    prometheus.Gauge
	// write times a record's direct write to the database.
	write prometheus.Histogram
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
		write: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "iace", Subsystem: "spool", Name: "write_seconds",
			Help:    "Direct writes of a call record to the database (one transaction: the call, its turns, its events, its customer), seconds, failed ones included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
	if reg != nil {
		m.direct = telemetry.MustRegister(reg, m.direct)
		m.spooled = telemetry.MustRegister(reg, m.spooled)
		m.replayed = telemetry.MustRegister(reg, m.replayed)
		m.failures = telemetry.MustRegister(reg, m.failures)
		m.dead = telemetry.MustRegister(reg, m.dead)
		m.depth = telemetry.MustRegister(reg, m.depth)
		m.write = telemetry.MustRegister(reg, m.write)
	}
	return m
}
