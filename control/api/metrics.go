package api

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	limited      *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	statsCache   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "api", Name: "requests_total",
			Help: "Control API requests by route and status class."}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "api", Name: "request_seconds",
			Help:    "Control API request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5}}, []string{"route"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "api", Name: "rate_limited_total",
			Help: "Requests refused with 429, by limit (ip, user, login)."}, []string{"limit"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "api", Name: "auth_failures_total",
			Help: "Refused logins, refreshes, password changes and tokens."}, []string{"kind"}),
		statsCache: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "api", Name: "analytics_cache_total",
			Help: "Analytics answers by whether they came from the short-lived cache."}, []string{"result"}),
	}
	for _, l := range []string{"ip", "user", "login", "hashing"} {
		m.limited.WithLabelValues(l) // exported as 0 from the start
	}
	m.statsCache.WithLabelValues("hit")
	m.statsCache.WithLabelValues("miss")
	m.authFailures.WithLabelValues("token")
	reg.MustRegister(m.requests, m.latency, m.limited, m.authFailures, m.statsCache)
	return m
}
