package cluster

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media/telemetry"
)

// metrics are the cluster's series (namespace iace, subsystem cluster).
type metrics struct {
	nodes       prometheus.Gauge
	commands    *prometheus.CounterVec
	commandTime prometheus.Histogram
	lost        prometheus.Counter
	recoveries  *prometheus.CounterVec
	redisErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	opts := func(name, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Namespace: "iace", Subsystem: "cluster", Name: name, Help: help}
	}
	m := &metrics{
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "cluster", Name: "nodes",
			Help: "Nodes whose heartbeat this node saw within the lost-after bound, itself included."}),
		commands: prometheus.NewCounterVec(opts("commands_total",
			"Commands about a call sent to the node holding it, by kind and result (ok, not_found, ended, busy, voice_taken, invalid, failed, unreachable)."),
			[]string{"kind", "result"}),
		commandTime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "cluster", Name: "command_seconds",
			Help:    "Time from sending a command to another node to its acknowledgement (or giving up).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		lost: prometheus.NewCounter(opts("calls_lost_total",
			"Calls of lost nodes (no heartbeat within the bound) that this node recorded as ended with reason node_lost.")),
		recoveries: prometheus.NewCounterVec(opts("calls_recovered_total",
			"Lost nodes' calls this node tried to take up again from their checkpoints on new streams, by result (recovered, failed)."), []string{"result"}),
		redisErrors: prometheus.NewCounterVec(opts("redis_errors_total",
			"Failed cluster operations on Redis, by operation (admit, write, heartbeat, reap, list, lookup, move, queue_full)."), []string{"op"}),
	}
	for _, op := range []string{"admit", "write", "heartbeat", "reap", "list", "lookup", "move", "queue_full"} {
		m.redisErrors.WithLabelValues(op)
	}
	for _, res := range []string{"recovered", "failed"} {
		m.recoveries.WithLabelValues(res)
	}
	for _, kind := range []string{kindHangup, kindEscalate, kindHanded, kindSupervise, kindWhisper, kindWatch} {
		for _, res := range []string{resultOK, "unreachable"} {
			m.commands.WithLabelValues(kind, res) // zero, not absent, until the first
		}
	}
	for _, c := range []prometheus.Collector{m.nodes, m.commands, m.commandTime, m.lost, m.recoveries, m.redisErrors} {
		if _, err := telemetry.Register(reg, c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
