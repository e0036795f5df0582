package media

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// TraceID is the key of a trace id wherever IACE writes one: the log
// attribute of every line of a traced request or call, and the exemplar
// label of the latency histograms (the label Grafana looks for to link a
// bucket to its trace), so that a log line, a slow bucket and a trace meet.
const TraceID = "trace_id"

// WithTraceID returns log with the trace id of sc on every line, or log
// itself when sc is not a valid span context.
func WithTraceID(log *slog.Logger, sc trace.SpanContext) *slog.Logger {
	if !sc.IsValid() {
		return log
	}
	return log.With(slog.String(TraceID, sc.TraceID().String()))
}

// ObserveTraced records v on o and, when ctx carries a sampled span, the
// span's trace id as the observation's exemplar, so that a slow bucket of
// a latency histogram leads to a trace that fell in it. Exemplars are
// served in the OpenMetrics format only (docs/protocols/tracing.md
// section 6). It allocates only when it keeps
// an exemplar: call it per request or per turn, never per frame.
func ObserveTraced(ctx context.Context, o prometheus.Observer, v float64) {
	ObserveSpan(trace.SpanContextFromContext(ctx), o, v)
}

// ObserveSpan is ObserveTraced for a span context kept from the start of
// what is measured.
func ObserveSpan(sc trace.SpanContext, o prometheus.Observer, v float64) {
	if sc.IsSampled() {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, prometheus.Labels{TraceID: sc.TraceID().String()})
			return
		}
	}
	o.Observe(v)
}
