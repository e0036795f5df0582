package cache

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media/telemetry"
)

// layer is where a read was answered.
type layer int

const (
	layerLocal layer = iota
	layerRedis
	layerDB
)

// Label values: bounded sets.
const (
	cacheAgent    = "agent"
	cacheCustomer = "customer"

	labelLocal = "local"
	labelRedis = "redis"

	opGet        = "get"
	opSet        = "set"
	opInvalidate = "invalidate"
	opSubscribe  = "subscribe"
	opDecode     = "decode"

	originLocal  = "local"
	originRemote = "remote"
)

type metrics struct {
	hits          *prometheus.CounterVec // cache, layer
	misses        *prometheus.CounterVec // cache, layer
	redisErrors   *prometheus.CounterVec // op
	invalidations *prometheus.CounterVec // origin
	subscribed    prometheus.Gauge
	redisGet      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "cache", Name: "hits_total",
			Help: "Cached reads answered by a layer (local: in-process, redis).",
		}, []string{"cache", "layer"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "cache", Name: "misses_total",
			Help: "Cached reads a layer could not answer; a Redis miss goes to the database.",
		}, []string{"cache", "layer"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "cache", Name: "redis_errors_total",
			Help: "Redis operations that failed or timed out; reads fell through to the database.",
		}, []string{"op"}),
		invalidations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "cache", Name: "invalidations_total",
			Help: "Invalidation messages applied: local (a write on this node) or remote (from another node over Redis pub/sub).",
		}, []string{"origin"}),
		subscribed: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "iace", Subsystem: "cache", Name: "redis_subscribed",
			Help: "1 while the invalidation channel is subscribed, 0 otherwise.",
		}),
		redisGet: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "iace", Subsystem: "cache", Name: "redis_get_seconds",
			Help:    "Redis reads of the agent and customer caches, seconds, failed and timed-out ones included.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25},
		}),
	}
	for _, c := range []string{cacheAgent, cacheCustomer} {
		for _, l := range []string{labelLocal, labelRedis} {
			m.hits.WithLabelValues(c, l)
			m.misses.WithLabelValues(c, l)
		}
	}
	for _, op := range []string{opGet, opSet, opInvalidate, opSubscribe, opDecode} {
		m.redisErrors.WithLabelValues(op)
	}
	m.invalidations.WithLabelValues(originLocal)
	m.invalidations.WithLabelValues(originRemote)
	if reg != nil {
		m.hits = telemetry.MustRegister(reg, m.hits)
		m.misses = telemetry.MustRegister(reg, m.misses)
		m.redisErrors = telemetry.MustRegister(reg, m.redisErrors)
		m.invalidations = telemetry.MustRegister(reg, m.invalidations)
		m.subscribed = telemetry.MustRegister(reg, m.subscribed)
		m.redisGet = telemetry.MustRegister(reg, m.redisGet)
	}
	return m
}

// cacheID indexes the per-cache counters.
type cacheID int

const (
	agents cacheID = iota
	customers
)

var cacheLabels = [...]string{agents: cacheAgent, customers: cacheCustomer}

// read counts one read of cache answered at layer; redisAsked says whether
// Redis was consulted (it is not when unconfigured or backing off).
func (m *metrics) read(c cacheID, answered layer, redisAsked bool) {
	name := cacheLabels[c]
	if answered == layerLocal {
		m.hits.WithLabelValues(name, labelLocal).Inc()
		return
	}
	m.misses.WithLabelValues(name, labelLocal).Inc()
	switch {
	case answered == layerRedis:
		m.hits.WithLabelValues(name, labelRedis).Inc()
	case redisAsked:
		m.misses.WithLabelValues(name, labelRedis).Inc()
	}
}
