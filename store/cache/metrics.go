package cache

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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
		m.hits = register(reg, m.hits)
		m.misses = register(reg, m.misses)
		m.redisErrors = register(reg, m.redisErrors)
		m.invalidations = register(reg, m.invalidations)
		m.subscribed = register(reg, m.subscribed)
	}
	return m
}

// register registers c, or returns the collector already registered under its
// name (a second cache on the same registry shares the counters).
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
