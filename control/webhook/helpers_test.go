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
	return counter(t, e, "iace_webhook_events_total", map[string]string{"type": typ, "result": result})
}

// localDedupes reads iace_webhook_dedupe_local_total.
func localDedupes(t *testing.T, e *env) float64 {
	t.Helper()
	return counter(t, e, "iace_webhook_dedupe_local_total", nil)
}

// counter reads the counter name whose labels include want (0 if none).
func counter(t *testing.T, e *env, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if matches(labels, want) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func matches(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}
