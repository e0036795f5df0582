package media_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/media"
)

func TestALatencyKeepsTheTraceOfASampledSpanAsItsExemplar(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	for _, tc := range []struct {
		name string
		sc   trace.SpanContext
		want string
	}{
		{name: "a sampled span gives its trace id", sc: sc, want: "4bf92f3577b34da6a3ce929d0e0e4736"},
		{name: "an unsampled one gives none", sc: sc.WithTraceFlags(0)},
		{name: "no span gives none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "reply_latency_ms", Buckets: []float64{100, 1000}})
			media.ObserveTraced(trace.ContextWithSpanContext(t.Context(), tc.sc), h, 420)
			var m dto.Metric
			if err := h.Write(&m); err != nil {
				t.Fatal(err)
			}
			if m.GetHistogram().GetSampleCount() != 1 {
				t.Fatalf("%d observations, want 1", m.GetHistogram().GetSampleCount())
			}
			got := ""
			for _, b := range m.GetHistogram().GetBucket() {
				if ex := b.GetExemplar(); ex != nil {
					if b.GetUpperBound() != 1000 || ex.GetValue() != 420 {
						t.Errorf("exemplar %v in bucket %v", ex, b.GetUpperBound())
					}
					for _, l := range ex.GetLabel() {
						if l.GetName() == media.TraceID {
							got = l.GetValue()
						}
					}
				}
			}
			if got != tc.want {
				t.Errorf("exemplar trace id %q, want %q", got, tc.want)
			}
		})
	}
}

// TestAnUntracedObservationDoesNotAllocate: without a sampled span the
// helper costs what Observe costs.
func TestAnUntracedObservationDoesNotAllocate(t *testing.T) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x", Buckets: []float64{1}})
	ctx := t.Context()
	if n := testing.AllocsPerRun(100, func() { media.ObserveTraced(ctx, h, 1) }); n != 0 {
		t.Errorf("%v allocations per observation", n)
	}
}
