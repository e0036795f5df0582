package callcontrol_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx/callcontrol"
	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
)

// TestAFullBulkheadRefusesWithoutSending: with one slot taken by a command
// Telnyx is slow to answer, the next command fails at once with ErrBusy, is
// not retried, never reaches Telnyx, and is counted and logged with its call.
func TestAFullBulkheadRefusesWithoutSending(t *testing.T) {
	fake := callcontroltest.New(apiKey)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		once.Do(func() { first = true })
		if first {
			close(entered)
			<-release
		}
		fake.ServeHTTP(w, r)
	}))
	reg, logs := prometheus.NewRegistry(), &syncBuffer{}
	c, err := callcontrol.New(callcontrol.Config{
		BaseURL: srv.URL + "/v2", APIKey: apiKey, MaxConcurrent: 1, BulkheadWait: -1,
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond, Registerer: reg,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
	})
	done := make(chan error, 1)
	go func() { done <- c.Hangup(ctxT(t), "ccid-slow", callcontrol.HangupParams{}) }()
	<-entered

	start := time.Now()
	err = c.Transfer(media.WithCallID(ctxT(t), "call-busy"), "ccid-busy", callcontrol.TransferParams{To: "+15550001111"})
	if !errors.Is(err, callcontrol.ErrBusy) {
		t.Fatalf("transfer while the bulkhead is full: %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refused after %v: a full bulkhead without wait must refuse at once", d)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the slow hangup: %v", err)
	}
	for _, cmd := range fake.Commands() {
		if cmd.CallControlID == "ccid-busy" {
			t.Errorf("the refused transfer reached Telnyx: %+v", cmd)
		}
	}
	if v := counter(t, reg, "iace_callcontrol_bulkhead_rejections_total", map[string]string{"provider": "telnyx"}); v != 1 {
		t.Errorf("bulkhead_rejections_total = %v, want 1 (refused once, not retried)", v)
	}
	if v := counter(t, reg, "iace_callcontrol_requests_total", map[string]string{"outcome": "bulkhead_full", "operation": "transfer"}); v != 1 {
		t.Errorf("requests_total{outcome=bulkhead_full} = %v, want 1", v)
	}
	if l := logs.String(); !strings.Contains(l, `"msg":"telnyx call control command not sent"`) || !strings.Contains(l, `"call_id":"call-busy"`) {
		t.Errorf("the refusal is not logged with its call:\n%s", l)
	}
}

// TestTheBulkheadWaitsForASlot: an attempt that finds the slots taken waits
// up to BulkheadWait and goes through when one frees.
func TestTheBulkheadWaitsForASlot(t *testing.T) {
	h := newHarness(t, func(c *callcontrol.Config) {
		c.MaxConcurrent = 1
		c.BulkheadWait = 5 * time.Second
	})
	h.fake.Fail(callcontroltest.Fault{Action: "hangup", Delay: 100 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = h.client.Hangup(ctxT(t), "ccid-q"+string(rune('0'+i)), callcontrol.HangupParams{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("hangup %d: %v", i, err)
		}
	}
	if v := counter(t, h.reg, "iace_callcontrol_bulkhead_rejections_total", nil); v != 0 {
		t.Errorf("bulkhead_rejections_total = %v, want 0", v)
	}
}
