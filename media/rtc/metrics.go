package rtc

import "github.com/prometheus/client_golang/prometheus"

// metrics are the server's Prometheus series (namespace iace, subsystem
// rtc). Labels are closed sets.
type metrics struct {
	listeners     prometheus.Gauge
	talkers       prometheus.Gauge
	micFrames     prometheus.Counter
	monitors      prometheus.Gauge
	ends          *prometheus.CounterVec
	connected     prometheus.Histogram
	callerDelay   prometheus.Histogram
	droppedCaller prometheus.Counter
	droppedAgent  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "rtc", Name: "frames_dropped_total",
		Help: "Call audio frames a monitor dropped because its buffer was full (its goroutine fell behind), by side."}, []string{"side"})
	m := &metrics{
		listeners: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "rtc", Name: "listeners",
			Help: "WebRTC listeners of live calls on this node, connected or connecting."}),
		talkers: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "rtc", Name: "talkers",
			Help: "Supervisors' microphones (WHIP) open on live calls on this node, connected or connecting."}),
		micFrames: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "iace", Subsystem: "rtc", Name: "mic_frames_total",
			Help: "20 ms frames of supervisors' microphones received and handed to their calls."}),
		monitors: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "rtc", Name: "monitored_calls",
			Help: "Live calls with at least one listener on this node."}),
		ends: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "rtc", Name: "peer_ends_total",
			Help: "WebRTC sessions ended, by kind (listener: WHEP, talker: WHIP) and reason."}, []string{"kind", "reason"}),
		connected: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "rtc", Name: "peer_setup_seconds",
			Help:    "Time from a WebRTC session's offer (listener or talker) to its connection.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10}}),
		callerDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "rtc", Name: "caller_delay_seconds",
			Help:    "Time from a caller's frame reaching the call's reader to its RTP packet going out to the call's listeners (the latest frame of each wake-up).",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1}}),
		droppedCaller: dropped.WithLabelValues("caller"),
		droppedAgent:  dropped.WithLabelValues("agent"),
	}
	for _, k := range []string{kindListener, kindTalker} {
		for _, r := range endReasons {
			m.ends.WithLabelValues(k, r)
		}
	}
	if reg != nil {
		reg.MustRegister(m.callerDelay, m.listeners, m.talkers, m.micFrames, m.monitors, m.ends, m.connected, dropped)
	}
	return m
}
