package telemetry_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iace/iace/media/telemetry"
)

func calls() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "test", Name: "calls_total",
		Help: "Calls by outcome."}, []string{"outcome"})
}

func TestTwoUsersOfOneRegistryCountOnOneSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := telemetry.Register(reg, calls())
	if err != nil {
		t.Fatal(err)
	}
	second, err := telemetry.Register(reg, calls())
	if err != nil {
		t.Fatalf("the same description again: %v", err)
	}
	if second != first {
		t.Fatal("the second registration did not get the registered collector")
	}
	first.WithLabelValues("resolved").Inc()
	second.WithLabelValues("resolved").Inc()
	want := "# HELP iace_test_calls_total Calls by outcome.\n# TYPE iace_test_calls_total counter\niace_test_calls_total{outcome=\"resolved\"} 2\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "iace_test_calls_total"); err != nil {
		t.Error(err)
	}
}

func TestAConflictIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		other prometheus.Collector
	}{
		{"other labels", prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "test", Name: "calls_total",
			Help: "Calls by outcome."}, []string{"reason"})},
		{"other help", prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "test", Name: "calls_total",
			Help: "Something else."}, []string{"outcome"})},
		{"a gauge of the same description", prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "test", Name: "calls_total",
			Help: "Calls by outcome."}, []string{"outcome"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			if _, err := telemetry.Register(reg, tc.other); err != nil {
				t.Fatal(err)
			}
			c := calls()
			got, err := telemetry.Register(reg, c)
			if err == nil {
				t.Fatal("no error")
			}
			if got != c {
				t.Error("a failed registration did not return the collector it was given")
			}
			if !strings.HasPrefix(err.Error(), "telemetry: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}
}

func TestAnAlreadyRegisteredErrorStaysVisible(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := telemetry.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "test",
		Name: "calls_total", Help: "Calls by outcome."}, []string{"outcome"})); err != nil {
		t.Fatal(err)
	}
	_, err := telemetry.Register(reg, calls())
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("%v does not wrap the registry's AlreadyRegisteredError", err)
	}
}

func TestNoRegistryRegistersNothing(t *testing.T) {
	c := calls()
	got, err := telemetry.Register(nil, c)
	if err != nil || got != c {
		t.Fatalf("got %v, %v; want the collector and no error", got, err)
	}
}

func TestMustRegisterPanicsOnAConflictOnly(t *testing.T) {
	reg := prometheus.NewRegistry()
	first := telemetry.MustRegister(reg, calls())
	if again := telemetry.MustRegister(reg, calls()); again != first {
		t.Fatal("the second registration did not get the registered collector")
	}
	defer func() {
		if recover() == nil {
			t.Error("no panic on a conflict")
		}
	}()
	telemetry.MustRegister(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "test",
		Name: "calls_total", Help: "Calls by outcome."}, []string{"reason"}))
}
