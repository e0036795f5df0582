package webhook_test

import (
	"crypto/ed25519"
	"strconv"
	"testing"
)

func ed25519Sign(e *env, ts string, body []byte) []byte {
	return ed25519.Sign(e.priv, append([]byte(ts+"|"), body...))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// metricValue reads iace_webhook_events_total{type,result}.
func metricValue(t *testing.T, e *env, typ, result string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "iace_webhook_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == typ && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// localDedupes reads iace_webhook_dedupe_local_total.
func localDedupes(t *testing.T, e *env) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "iace_webhook_dedupe_local_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
