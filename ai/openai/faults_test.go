package openai_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/ai/openai/openaitest"
)

func TestChatHonoursRetryAfterOn429(t *testing.T) {
	srv, c, reg := setup(t, nil)
	srv.EnqueueChat(openaitest.ChatReply{Fault: openaitest.FaultRateLimit, RetryAfter: time.Second}, openaitest.ChatReply{Text: []string{"ok"}})
	text, _, err := chat(t, c, testRequest)
	if err != nil || len(text) != 1 || text[0] != "ok" {
		t.Fatalf("chat = %q, %v", text, err)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].Received.Sub(reqs[0].Received); gap < time.Second {
		t.Errorf("retried after %v, want at least the 1s of Retry-After", gap)
	}
	if got := counter(t, reg, "iace_openai_retries_total", "chat", ""); got != 1 {
		t.Errorf("retries = %v, want 1", got)
	}
}

func TestChat429ReportsAPIError(t *testing.T) {
	srv, c, _ := setup(t, func(cfg *openai.Config) { cfg.Retry.MaxAttempts = 1 })
	srv.EnqueueChat(openaitest.ChatReply{Fault: openaitest.FaultRateLimit, RetryAfter: 2 * time.Second})
	_, _, err := chat(t, c, testRequest)
	var ae *openai.APIError
	if !errors.As(err, &ae) || ae.Status != 429 || ae.Code != "rate_limit_exceeded" || ae.RetryAfter != 2*time.Second {
		t.Fatalf("err = %v (%+v), want a 429 APIError with RetryAfter 2s", err, ae)
	}
	if !errors.Is(err, ai.ErrUnavailable) {
		t.Errorf("a 429 does not wrap ai.ErrUnavailable: %v", err)
	}
}

func TestChatRetryAfterBeyondTheCapFailsAtOnce(t *testing.T) {
	srv, c, _ := setup(t, func(cfg *openai.Config) { cfg.Retry.MaxRetryAfter = 500 * time.Millisecond })
	srv.EnqueueChat(openaitest.ChatReply{Fault: openaitest.FaultRateLimit, RetryAfter: 5 * time.Second})
	start := time.Now()
	_, _, err := chat(t, c, testRequest)
	if !errors.Is(err, ai.ErrUnavailable) || time.Since(start) > time.Second || len(srv.Requests()) != 1 {
		t.Errorf("err %v after %v and %d requests, want ErrUnavailable at once", err, time.Since(start), len(srv.Requests()))
	}
}

func TestChatRetries5xxThenSucceeds(t *testing.T) {
	srv, c, _ := setup(t, nil)
	srv.EnqueueChat(openaitest.ChatReply{Fault: openaitest.FaultServerError}, openaitest.ChatReply{Fault: openaitest.FaultUnavailable},
		openaitest.ChatReply{Text: []string{"third time lucky"}})
	text, _, err := chat(t, c, testRequest)
	if err != nil || len(text) != 1 {
		t.Fatalf("chat = %q, %v", text, err)
	}
	if n := len(srv.Requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestChatDoesNotRetryClientErrors(t *testing.T) {
	srv, c, _ := setup(t, nil)
	for _, tc := range []struct {
		name   string
		status int
		code   string
		setup  func(*ai.ChatRequest)
	}{
		{"a tool_use_failed 400", 400, "tool_use_failed", func(*ai.ChatRequest) { srv.EnqueueChat(openaitest.ChatReply{Fault: openaitest.FaultToolUseFailed}) }},
		{"a decommissioned model", 404, "model_not_found", func(r *ai.ChatRequest) { r.Model = "llama-3.3-70b-versatile" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.Requests())
			req := testRequest
			tc.setup(&req)
			_, _, err := chat(t, c, req)
			var ae *openai.APIError
			if !errors.As(err, &ae) || ae.Status != tc.status || ae.Code != tc.code {
				t.Fatalf("err = %v, want status %d code %s", err, tc.status, tc.code)
			}
			if errors.Is(err, ai.ErrUnavailable) {
				t.Errorf("a %d wraps ai.ErrUnavailable", tc.status)
			}
			if n := len(srv.Requests()) - before; n != 1 {
				t.Errorf("%d requests, want 1 (no retry)", n)
			}
		})
	}
}

func TestChatWrongKeyIs401(t *testing.T) {
	srv, c, _ := setup(t, func(cfg *openai.Config) { cfg.APIKey = "gsk_wrong" })
	_, _, err := chat(t, c, testRequest)
	var ae *openai.APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "invalid_api_key" || len(srv.Requests()) != 1 {
		t.Fatalf("err = %v, want one 401 invalid_api_key", err)
	}
}

func TestChatSlowFirstByteIsRetried(t *testing.T) {
	srv, c, _ := setup(t, func(cfg *openai.Config) { cfg.FirstByteTimeout = 100 * time.Millisecond })
	srv.EnqueueChat(openaitest.ChatReply{FirstByteDelay: 2 * time.Second}, openaitest.ChatReply{Text: []string{"fast"}})
	text, _, err := chat(t, c, testRequest)
	if err != nil || len(text) != 1 || text[0] != "fast" {
		t.Fatalf("chat = %q, %v", text, err)
	}
	select {
	case <-srv.Cancellations():
	case <-time.After(time.Second):
		t.Error("the fake never saw the slow attempt abandoned")
	}
}

func TestChatSlowFirstByteEveryTimeFails(t *testing.T) {
	srv, c, _ := setup(t, func(cfg *openai.Config) {
		cfg.FirstByteTimeout = 50 * time.Millisecond
		cfg.Retry.MaxAttempts = 2
	})
	srv.SetDefaultChat(openaitest.ChatReply{FirstByteDelay: time.Second})
	_, _, err := chat(t, c, testRequest)
	if !errors.Is(err, openai.ErrFirstByteTimeout) || !errors.Is(err, ai.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrFirstByteTimeout and ai.ErrUnavailable", err)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestChatStreamCutIsNotRetried(t *testing.T) {
	srv, c, reg := setup(t, nil)
	srv.EnqueueChat(openaitest.ChatReply{Text: []string{"Friday", " at", " nine"}, Fault: openaitest.FaultCut, CutAfter: 2},
		openaitest.ChatReply{Text: []string{"must not be sent"}})
	text, _, err := chat(t, c, testRequest)
	if !errors.Is(err, openai.ErrTruncated) || !errors.Is(err, ai.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrTruncated wrapping ai.ErrUnavailable", err)
	}
	if len(text) != 1 || text[0] != "Friday" {
		t.Errorf("text before the cut = %q", text)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want 1: a half-streamed answer is never sent again", n)
	}
	if got := counter(t, reg, "iace_openai_requests_total", "chat", "unavailable"); got != 1 {
		t.Errorf("unavailable requests = %v, want 1", got)
	}
}

func TestChatMalformedChunkFails(t *testing.T) {
	srv, c, _ := setup(t, nil)
	srv.EnqueueChat(openaitest.ChatReply{Text: []string{"one", "two"}, Fault: openaitest.FaultMalformed, CutAfter: 2})
	text, _, err := chat(t, c, testRequest)
	if !errors.Is(err, openai.ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if len(text) != 1 || len(srv.Requests()) != 1 {
		t.Errorf("text %q, %d requests", text, len(srv.Requests()))
	}
}

func TestChatErrorEventFails(t *testing.T) {
	srv, c, _ := setup(t, nil)
	srv.EnqueueChat(openaitest.ChatReply{Text: []string{"one", "two"}, Fault: openaitest.FaultErrorEvent, CutAfter: 2})
	_, _, err := chat(t, c, testRequest)
	var ae *openai.APIError
	if !errors.As(err, &ae) || ae.Status != 0 || ae.Message != "Service Unavailable" || !errors.Is(err, ai.ErrUnavailable) {
		t.Fatalf("err = %v, want a stream APIError wrapping ai.ErrUnavailable", err)
	}
}

func TestChatBreakerOpensThenHalfOpensAndCloses(t *testing.T) {
	srv, c, reg := setup(t, func(cfg *openai.Config) { cfg.Retry.MaxAttempts = 1 })
	srv.EnqueueChat(openaitest.ChatReply{Fault: openaitest.FaultUnavailable}, openaitest.ChatReply{Fault: openaitest.FaultServerError},
		openaitest.ChatReply{Fault: openaitest.FaultUnavailable})
	for i := range 3 {
		if _, _, err := chat(t, c, testRequest); !errors.Is(err, ai.ErrUnavailable) || errors.Is(err, openai.ErrCircuitOpen) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if got := gauge(t, reg, "iace_openai_breaker_state", "chat"); got != 2 {
		t.Errorf("breaker state = %v, want 2 (open)", got)
	}
	start := time.Now()
	_, err := c.Chat(context.Background(), testRequest)
	if !errors.Is(err, openai.ErrCircuitOpen) || !errors.Is(err, ai.ErrUnavailable) {
		t.Fatalf("while open: %v, want ErrCircuitOpen wrapping ai.ErrUnavailable", err)
	}
	if d := time.Since(start); d > 20*time.Millisecond {
		t.Errorf("an open breaker answered after %v, want at once", d)
	}
	if n := len(srv.Requests()); n != 3 {
		t.Errorf("%d requests reached the fake, want 3", n)
	}
	if got := counter(t, reg, "iace_openai_requests_total", "chat", "rejected"); got != 1 {
		t.Errorf("rejected = %v, want 1", got)
	}

	// The breaker's delay is 200ms: after it a probe goes through and,
	// succeeding, closes the breaker.
	time.Sleep(250 * time.Millisecond)
	if text, _, err := chat(t, c, testRequest); err != nil || len(text) == 0 {
		t.Fatalf("probe: %q, %v", text, err)
	}
	if got := gauge(t, reg, "iace_openai_breaker_state", "chat"); got != 0 {
		t.Errorf("breaker state after the probe = %v, want 0 (closed)", got)
	}
	// Closed again: one failure does not reopen it.
	srv.EnqueueChat(openaitest.ChatReply{Fault: openaitest.FaultUnavailable})
	_, _, _ = chat(t, c, testRequest)
	if _, _, err := chat(t, c, testRequest); err != nil {
		t.Errorf("after one failure: %v", err)
	}
}

func TestChatBreakerReopensWhenProbeFails(t *testing.T) {
	srv, c, reg := setup(t, func(cfg *openai.Config) {
		cfg.Retry.MaxAttempts = 1
		cfg.Breaker = openai.BreakerConfig{Failures: 1, Delay: 50 * time.Millisecond}
	})
	srv.EnqueueChat(openaitest.ChatReply{Fault: openaitest.FaultUnavailable}, openaitest.ChatReply{Fault: openaitest.FaultUnavailable})
	_, _, _ = chat(t, c, testRequest)
	time.Sleep(80 * time.Millisecond)
	if _, _, err := chat(t, c, testRequest); errors.Is(err, openai.ErrCircuitOpen) || err == nil {
		t.Fatalf("probe: %v, want the fake's 503", err)
	}
	if got := gauge(t, reg, "iace_openai_breaker_state", "chat"); got != 2 {
		t.Errorf("breaker state = %v, want 2 (open again)", got)
	}
}

func TestChatBulkheadRejectsWhenFull(t *testing.T) {
	srv, c, _ := setup(t, func(cfg *openai.Config) {
		cfg.MaxConcurrent = 1
		cfg.BulkheadWait = -1
	})
	srv.EnqueueChat(openaitest.ChatReply{Text: []string{"busy"}, Hold: true})
	s, err := c.Chat(context.Background(), testRequest)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Chat(context.Background(), testRequest)
	if !errors.Is(err, openai.ErrBusy) || !errors.Is(err, ai.ErrUnavailable) {
		t.Errorf("second request: %v, want ErrBusy", err)
	}
	_ = s.Close()
	if _, _, err := chat(t, c, testRequest); err != nil {
		t.Errorf("after Close freed the slot: %v", err)
	}
}

// counter returns the value of a counter series by operation and, if set,
// outcome.
func counter(t *testing.T, reg *prometheus.Registry, name, op, outcome string) float64 {
	t.Helper()
	m := find(t, reg, name, op, outcome)
	if m == nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

func gauge(t *testing.T, reg *prometheus.Registry, name, op string) float64 {
	t.Helper()
	m := find(t, reg, name, op, "")
	if m == nil {
		return -1
	}
	return m.GetGauge().GetValue()
}

func find(t *testing.T, reg *prometheus.Registry, name, op, outcome string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() != op || l.GetName() == "outcome" && l.GetValue() != outcome {
					continue metrics
				}
			}
			return m
		}
	}
	return nil
}
