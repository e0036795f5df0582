package webhook

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of an event, the result label of iace_webhook_events_total.
const (
	resultProcessed   = "processed"     // acted on
	resultIgnored     = "ignored"       // nothing to do (unhandled type, outgoing call, stale state)
	resultRejected    = "rejected"      // unknown number hung up
	resultError       = "error"         // processing failed
	resultDuplicate   = "duplicate"     // a redelivery, dropped
	resultQueueFull   = "queue_full"    // 503, Telnyx retries
	resultUnavailable = "unavailable"   // the store or dedupe down, or shutting down: 503
	resultBadSig      = "bad_signature" // 401
	resultStale       = "stale"         // 401
	resultOversize    = "oversize"      // 413
	resultMalformed   = "malformed"     // 400
)

// typeOther labels event types IACE does not handle, and requests that never
// got as far as a type.
const typeOther = "other"

// Metrics counts webhook events.
type Metrics struct {
	events *prometheus.CounterVec
	local  prometheus.Counter
}

// NewMetrics registers iace_webhook_events_total on reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{events: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "iace", Subsystem: "webhook", Name: "events_total",
		Help: "Telnyx webhook events by type and result (processed, ignored, rejected, error, duplicate, queue_full, unavailable, bad_signature, stale, oversize, malformed).",
	}, []string{"type", "result"}),
		local: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "iace", Subsystem: "webhook", Name: "dedupe_local_total",
			Help: "Webhook events whose redelivery check this node made alone, because the shared event ids (Redis) could not be reached.",
		})}
	if reg != nil {
		reg.MustRegister(m.events, m.local)
	}
	return m
}

func (m *Metrics) countLocal() {
	if m != nil {
		m.local.Inc()
	}
}

func (m *Metrics) count(typ, result string) {
	if m == nil {
		return
	}
	if !slices.Contains(handledTypes, typ) {
		typ = typeOther
	}
	m.events.WithLabelValues(typ, result).Inc()
}
