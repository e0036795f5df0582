package session_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestADrainingNodeSaysSo: iace_session_draining, which the drain alert
// watches, is 0 while the node serves and 1 once it drains.
func TestADrainingNodeSaysSo(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := liveServer(t, 4, reg)
	if v := gaugeValue(t, reg, "iace_session_draining"); v != 0 {
		t.Fatalf("draining %v before the drain, want 0", v)
	}
	if err := ts.engine.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if v := gaugeValue(t, reg, "iace_session_draining"); v != 1 {
		t.Errorf("draining %v after the drain began, want 1", v)
	}
}
