package spool_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDirectWritesAreTimed: the database write latency panel reads
// iace_spool_write_seconds; a record written straight to the database is
// one observation, a record spooled behind it none.
func TestDirectWritesAreTimed(t *testing.T) {
	ctx := context.Background()
	db := newLite(ctx, t)
	reg := prometheus.NewRegistry()
	f := &faulty{next: db.db}
	sp := open(t, t.TempDir(), f, reg)
	if err := sp.RecordCall(ctx, record(db.org, db.agent, 1, "+15550000001")); err != nil {
		t.Fatal(err)
	}
	if n := writes(t, reg); n != 1 {
		t.Fatalf("%d timed writes after a direct write, want 1", n)
	}
}

// writes is the observation count of iace_spool_write_seconds.
func writes(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "iace_spool_write_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("iace_spool_write_seconds is not exported")
	return 0
}
