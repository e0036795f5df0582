package trainer

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a check, the label of iace_predict_trainings_total.
const (
	resultTrained = "trained" // a new version was saved
	resultNotDue  = "not_due" // too few calls since the last model
	resultTooFew  = "too_few" // too few labelled calls to train at all
	resultFailed  = "failed"  // a read, the fit or the save failed
)

// Results of a model read, the label of iace_predict_model_loads_total.
const (
	loadLoaded  = "loaded"
	loadNone    = "none"    // the organization has no model yet
	loadInvalid = "invalid" // stored, but not readable by this build
	loadFailed  = "failed"  // the store did not answer
)

type metrics struct {
	trainings *prometheus.CounterVec
	loads     *prometheus.CounterVec
	skipped   prometheus.Counter
	dropped   prometheus.Counter
	duration  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		trainings: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "predict", Name: "trainings_total",
			Help: "Checks of an organization's prediction model after finished calls, by result: trained (a new version saved), not_due, too_few (labelled calls), failed."},
			[]string{"result"}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "predict", Name: "model_loads_total",
			Help: "Reads of an organization's latest prediction model, by result: loaded, none (no model yet), invalid (refused, the prior is used), failed."},
			[]string{"result"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "iace", Subsystem: "predict", Name: "skipped_calls_total",
			Help: "Labelled calls left out of a training because their stored features could not be read."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "iace", Subsystem: "predict", Name: "dropped_checks_total",
			Help: "Finished calls whose organization was not queued for a check because too many were waiting."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "predict", Name: "training_seconds",
			Help:    "Time of a check that trained: reading the calls, fitting, measuring and saving.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}}),
	}
	for _, r := range []string{resultTrained, resultNotDue, resultTooFew, resultFailed} {
		m.trainings.WithLabelValues(r)
	}
	for _, r := range []string{loadLoaded, loadNone, loadInvalid, loadFailed} {
		m.loads.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.trainings, m.loads, m.skipped, m.dropped, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("trainer: metrics (one Trainer per registry): %w", err)
		}
	}
	return m, nil
}
