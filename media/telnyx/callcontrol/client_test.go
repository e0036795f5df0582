package callcontrol_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx/callcontrol"
	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
)

const apiKey = "KEYsecret-0123456789"

// syncBuffer is a log sink the client's attempt goroutines may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	client *callcontrol.Client
	fake   *callcontroltest.Server
	reg    *prometheus.Registry
	logs   *syncBuffer
}

// newHarness starts a fake and a client pointed at it, with fast retries.
func newHarness(t *testing.T, tweak func(*callcontrol.Config)) *harness {
	t.Helper()
	h := &harness{fake: callcontroltest.NewServer(apiKey), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	cfg := callcontrol.Config{
		BaseURL:        h.fake.BaseURL(),
		APIKey:         apiKey,
		AttemptTimeout: 2 * time.Second,
		RetryBaseDelay: time.Millisecond,
		RetryMaxDelay:  5 * time.Millisecond,
		Registerer:     h.reg,
		Logger:         slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := callcontrol.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.client = c
	t.Cleanup(func() {
		c.Close()
		h.fake.Close()
	})
	return h
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// body decodes a recorded command's raw body.
func body(t *testing.T, c callcontroltest.Command) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(c.Raw, &m); err != nil {
		t.Fatalf("body %q: %v", c.Raw, err)
	}
	return m
}

// counter reads one sample of a counter vector from the registry.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func TestAnswerSendsTheStreamParametersExactly(t *testing.T) {
	state := []byte(`{"call":"c1"}`)
	tests := []struct {
		name   string
		params callcontrol.AnswerParams
		want   map[string]any
	}{
		{
			name: "defaults give inbound track, rtp, PCMU and explicit target legs",
			params: callcontrol.AnswerParams{
				StreamParams: callcontrol.StreamParams{StreamURL: "wss://iace.example/media/telnyx"},
				ClientState:  state,
			},
			want: map[string]any{
				"stream_url":                       "wss://iace.example/media/telnyx",
				"stream_track":                     "inbound_track",
				"stream_bidirectional_mode":        "rtp",
				"stream_bidirectional_codec":       "PCMU",
				"stream_bidirectional_target_legs": "self",
				"command_id":                       "answer-v3:call/1",
				"client_state":                     base64.StdEncoding.EncodeToString(state),
			},
		},
		{
			name: "explicit values are sent as given",
			params: callcontrol.AnswerParams{
				StreamParams: callcontrol.StreamParams{
					StreamURL: "wss://iace.example/m", StreamTrack: callcontrol.TrackBoth, StreamCodec: callcontrol.CodecPCMA,
					BidirectionalCodec: callcontrol.CodecL16, BidirectionalTargetLegs: callcontrol.LegsOpposite,
					SendSilenceWhenIdle: true,
				},
				CommandID:  "my-answer-1",
				WebhookURL: "https://iace.example/webhooks/telnyx",
			},
			want: map[string]any{
				"stream_url":                       "wss://iace.example/m",
				"stream_track":                     "both_tracks",
				"stream_codec":                     "PCMA",
				"stream_bidirectional_mode":        "rtp",
				"stream_bidirectional_codec":       "L16",
				"stream_bidirectional_target_legs": "opposite",
				"send_silence_when_idle":           true,
				"command_id":                       "my-answer-1",
				"webhook_url":                      "https://iace.example/webhooks/telnyx",
			},
		},
		{
			name:   "no stream url answers without stream fields",
			params: callcontrol.AnswerParams{},
			want:   map[string]any{"command_id": "answer-v3:call/1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			// The id has a slash: it must arrive escaped as one path segment.
			const ccid = "v3:call/1"
			if err := h.client.Answer(ctxT(t), ccid, tt.params); err != nil {
				t.Fatal(err)
			}
			got, err := h.fake.WaitApplied(ctxT(t), callcontrol.ActionAnswer, ccid)
			if err != nil {
				t.Fatal(err)
			}
			if b := body(t, got); !reflect.DeepEqual(b, tt.want) {
				t.Errorf("body\n got %v\nwant %v", b, tt.want)
			}
			if got.Authorization != "Bearer "+apiKey {
				t.Errorf("Authorization = %q", got.Authorization)
			}
		})
	}
}

func TestARedeliveredAnswerIsAppliedOnce(t *testing.T) {
	h := newHarness(t, nil)
	p := callcontrol.AnswerParams{StreamParams: callcontrol.StreamParams{StreamURL: "wss://iace.example/m"}}
	for range 2 {
		if err := h.client.Answer(ctxT(t), "ccid-1", p); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.fake.Applied(callcontrol.ActionAnswer, "ccid-1")); n != 1 {
		t.Fatalf("applied %d times, want 1", n)
	}
	if cmds := h.fake.Commands(); len(cmds) != 2 || !cmds[1].Duplicate {
		t.Fatalf("commands = %+v, want the second a duplicate", cmds)
	}
}

func TestStreamingStartAndStopSendTheirFields(t *testing.T) {
	h := newHarness(t, nil)
	err := h.client.StreamingStart(ctxT(t), "ccid-s", callcontrol.StreamingStartParams{
		StreamParams:              callcontrol.StreamParams{StreamURL: "wss://iace.example/m"},
		BidirectionalSamplingRate: 16000,
		StreamAuthToken:           "tok",
		CustomParameters:          []callcontrol.CustomParameter{{Name: "agent", Value: "a1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.fake.WaitApplied(ctxT(t), callcontrol.ActionStreamingStart, "ccid-s")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"stream_url": "wss://iace.example/m", "stream_track": "inbound_track",
		"stream_bidirectional_mode": "rtp", "stream_bidirectional_codec": "PCMU",
		"stream_bidirectional_target_legs": "self", "stream_bidirectional_sampling_rate": float64(16000),
		"stream_auth_token": "tok", "custom_parameters": []any{map[string]any{"name": "agent", "value": "a1"}},
		"command_id": "streaming_start-ccid-s",
	}
	if b := body(t, got); !reflect.DeepEqual(b, want) {
		t.Errorf("body\n got %v\nwant %v", b, want)
	}
	if err := h.client.StreamingStop(ctxT(t), "ccid-s", callcontrol.StreamingStopParams{StreamID: "st-1"}); err != nil {
		t.Fatal(err)
	}
	got, err = h.fake.WaitApplied(ctxT(t), callcontrol.ActionStreamingStop, "ccid-s")
	if err != nil {
		t.Fatal(err)
	}
	if b := body(t, got); !reflect.DeepEqual(b, map[string]any{"stream_id": "st-1", "command_id": "streaming_stop-ccid-s"}) {
		t.Errorf("stop body %v", b)
	}
}

func TestTransfer(t *testing.T) {
	t.Run("sends to, from and timeout", func(t *testing.T) {
		h := newHarness(t, nil)
		err := h.client.Transfer(ctxT(t), "ccid-t", callcontrol.TransferParams{To: "+15551234567", From: "sip:iace@example.com", TimeoutSecs: 30})
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.fake.WaitApplied(ctxT(t), callcontrol.ActionTransfer, "ccid-t")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"to": "+15551234567", "from": "sip:iace@example.com", "timeout_secs": float64(30), "command_id": "transfer-ccid-t"}
		if b := body(t, got); !reflect.DeepEqual(b, want) {
			t.Errorf("body\n got %v\nwant %v", b, want)
		}
	})
	for _, tt := range []struct {
		name string
		p    callcontrol.TransferParams
	}{
		{"requires to", callcontrol.TransferParams{}},
		{"refuses a to that is neither E.164 nor SIP", callcontrol.TransferParams{To: "555-1234"}},
		{"refuses a timeout under 5 s", callcontrol.TransferParams{To: "+15551234567", TimeoutSecs: 4}},
		{"refuses a timeout over 600 s", callcontrol.TransferParams{To: "sip:a@b", TimeoutSecs: 601}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			err := h.client.Transfer(ctxT(t), "ccid-t", tt.p)
			if !errors.Is(err, callcontrol.ErrInvalidParams) {
				t.Fatalf("err = %v, want ErrInvalidParams", err)
			}
			if n := len(h.fake.Commands()); n != 0 {
				t.Fatalf("fake received %d commands, want 0", n)
			}
		})
	}
}

func TestInvalidInputsAreRefusedBeforeSending(t *testing.T) {
	tests := []struct {
		name string
		ccid string
		p    callcontrol.AnswerParams
	}{
		{"empty call control id", "", callcontrol.AnswerParams{}},
		{"oversized call control id", strings.Repeat("x", callcontrol.MaxCallControlIDLen+1), callcontrol.AnswerParams{}},
		{"call control id with a newline", "a\nb", callcontrol.AnswerParams{}},
		{"stream url not a websocket", "c", callcontrol.AnswerParams{StreamParams: callcontrol.StreamParams{StreamURL: "https://x/m"}}},
		{"unknown bidirectional codec", "c", callcontrol.AnswerParams{StreamParams: callcontrol.StreamParams{StreamURL: "wss://x/m", BidirectionalCodec: "pcmu"}}},
		{"stream fields without stream url", "c", callcontrol.AnswerParams{StreamParams: callcontrol.StreamParams{StreamTrack: callcontrol.TrackBoth}}},
		{"command id with spaces", "c", callcontrol.AnswerParams{CommandID: "a b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			err := h.client.Answer(ctxT(t), tt.ccid, tt.p)
			if !errors.Is(err, callcontrol.ErrInvalidParams) {
				t.Fatalf("err = %v, want ErrInvalidParams", err)
			}
			if n := len(h.fake.Commands()); n != 0 {
				t.Fatalf("fake received %d commands, want 0", n)
			}
			if v := counter(t, h.reg, "iace_callcontrol_requests_total", map[string]string{"outcome": "invalid"}); v != 1 {
				t.Errorf("invalid outcome count = %v", v)
			}
		})
	}
}

func TestHangupOfAnEndedCallIsSuccess(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.EndCall("ccid-h")
	if err := h.client.Hangup(ctxT(t), "ccid-h", callcontrol.HangupParams{}); err != nil {
		t.Fatalf("Hangup of an ended call: %v", err)
	}
	if cmds := h.fake.Commands(); len(cmds) != 1 || cmds[0].Status != http.StatusUnprocessableEntity {
		t.Fatalf("commands = %+v, want one answered 422", cmds)
	}
	// Other commands on the ended call report it.
	err := h.client.Transfer(ctxT(t), "ccid-h", callcontrol.TransferParams{To: "+15551234567"})
	var ae *callcontrol.APIError
	if !errors.As(err, &ae) || ae.Status != 422 || ae.Code != callcontrol.CodeCallEnded || !callcontrol.IsCallEnded(err) {
		t.Fatalf("Transfer on ended call: %v", err)
	}
}

func TestHangupTwiceEndsTheCallOnce(t *testing.T) {
	h := newHarness(t, nil)
	for range 2 {
		if err := h.client.Hangup(ctxT(t), "ccid-2", callcontrol.HangupParams{}); err != nil {
			t.Fatal(err)
		}
	}
	if !h.fake.Ended("ccid-2") || len(h.fake.Applied(callcontrol.ActionHangup, "ccid-2")) != 1 {
		t.Fatal("want the call ended by exactly one applied hangup")
	}
}

func TestRateLimitIsRetriedAfterRetryAfter(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.Fail(callcontroltest.Fault{Action: callcontrol.ActionAnswer, Status: http.StatusTooManyRequests, RetryAfter: "1"})
	start := time.Now()
	if err := h.client.Answer(ctxT(t), "ccid-r", callcontrol.AnswerParams{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %v, want at least the 1 s of Retry-After", d)
	}
	cmds := h.fake.Commands()
	if len(cmds) != 2 || cmds[0].Status != 429 || cmds[1].Status != 200 {
		t.Fatalf("commands = %+v, want 429 then 200", cmds)
	}
	if n := len(h.fake.Applied(callcontrol.ActionAnswer, "ccid-r")); n != 1 {
		t.Fatalf("applied %d times", n)
	}
	if v := counter(t, h.reg, "iace_callcontrol_retries_total", map[string]string{"provider": "telnyx", "operation": "answer"}); v != 1 {
		t.Errorf("retries = %v, want 1", v)
	}
}

func TestRetryAfterBeyondTheCapIsNotWaitedFor(t *testing.T) {
	h := newHarness(t, func(c *callcontrol.Config) { c.MaxRetryAfter = 500 * time.Millisecond })
	h.fake.Fail(callcontroltest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "30"})
	err := h.client.Hangup(ctxT(t), "ccid-cap", callcontrol.HangupParams{})
	var ae *callcontrol.APIError
	if !errors.As(err, &ae) || ae.Status != 429 || ae.RetryAfter != 30*time.Second {
		t.Fatalf("err = %v, want the 429", err)
	}
	if n := len(h.fake.Commands()); n != 1 {
		t.Fatalf("fake received %d commands, want 1", n)
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	t.Run("until the command succeeds", func(t *testing.T) {
		h := newHarness(t, nil)
		h.fake.Fail(callcontroltest.Fault{Status: http.StatusInternalServerError, Times: 2})
		if err := h.client.Transfer(ctxT(t), "ccid-5", callcontrol.TransferParams{To: "+15551234567"}); err != nil {
			t.Fatal(err)
		}
		if n := len(h.fake.Commands()); n != 3 {
			t.Fatalf("fake received %d commands, want 3", n)
		}
	})
	t.Run("and a lost answer is deduped by command_id", func(t *testing.T) {
		h := newHarness(t, nil)
		h.fake.Fail(callcontroltest.Fault{Status: http.StatusBadGateway, AfterApply: true})
		if err := h.client.Transfer(ctxT(t), "ccid-6", callcontrol.TransferParams{To: "+15551234567"}); err != nil {
			t.Fatal(err)
		}
		cmds := h.fake.Commands()
		if len(cmds) != 2 || !cmds[1].Duplicate || len(h.fake.Applied(callcontrol.ActionTransfer, "ccid-6")) != 1 {
			t.Fatalf("commands = %+v, want the retry deduped and one transfer applied", cmds)
		}
	})
	t.Run("and the last error is returned when retries run out", func(t *testing.T) {
		h := newHarness(t, func(c *callcontrol.Config) { c.MaxRetries = 2 })
		h.fake.Fail(callcontroltest.Fault{Status: http.StatusServiceUnavailable, Times: 10})
		err := h.client.Hangup(ctxT(t), "ccid-7", callcontrol.HangupParams{})
		var ae *callcontrol.APIError
		if !errors.As(err, &ae) || ae.Status != 503 {
			t.Fatalf("err = %v, want the 503", err)
		}
		if n := len(h.fake.Commands()); n != 3 {
			t.Fatalf("fake received %d commands, want 3", n)
		}
		if v := counter(t, h.reg, "iace_callcontrol_requests_total", map[string]string{"operation": "hangup", "outcome": "server_error"}); v != 1 {
			t.Errorf("server_error count = %v", v)
		}
	})
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	tests := []struct {
		name   string
		status int
		code   string
	}{
		{"400 bad request", 400, "10015"},
		{"422 invalid call control id", 422, callcontrol.CodeInvalidCallControlID},
		{"401 unauthorized", 401, ""},
		{"404 not found", 404, "10005"},
		{"409 conflict", 409, "90040"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.fake.Fail(callcontroltest.Fault{Status: tt.status, Code: tt.code, Detail: "scripted"})
			err := h.client.Answer(ctxT(t), "ccid-4", callcontrol.AnswerParams{})
			var ae *callcontrol.APIError
			if !errors.As(err, &ae) || ae.Status != tt.status {
				t.Fatalf("err = %v, want *APIError with status %d", err, tt.status)
			}
			if tt.code != "" && ae.Code != tt.code {
				t.Errorf("code = %q, want %q", ae.Code, tt.code)
			}
			if ae.Detail != "scripted" || ae.RequestID == "" {
				t.Errorf("detail %q request id %q", ae.Detail, ae.RequestID)
			}
			if n := len(h.fake.Commands()); n != 1 {
				t.Fatalf("fake received %d commands, want 1", n)
			}
		})
	}
}

func TestAWrongKeyIsRefusedByTheFake(t *testing.T) {
	fake := callcontroltest.NewServer(apiKey)
	defer fake.Close()
	c, err := callcontrol.New(callcontrol.Config{BaseURL: fake.BaseURL(), APIKey: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Hangup(ctxT(t), "ccid", callcontrol.HangupParams{})
	var ae *callcontrol.APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != callcontroltest.CodeAuthFailed {
		t.Fatalf("err = %v, want 401", err)
	}
}

func TestTheBreakerOpensAfterRepeatedFailures(t *testing.T) {
	h := newHarness(t, func(c *callcontrol.Config) {
		c.MaxRetries = -1
		c.BreakerFailures = 3
		c.BreakerDelay = time.Minute
	})
	h.fake.Fail(callcontroltest.Fault{Status: http.StatusInternalServerError, Times: 3})
	for i := range 3 {
		var ae *callcontrol.APIError
		if err := h.client.Hangup(ctxT(t), "ccid-b", callcontrol.HangupParams{}); !errors.As(err, &ae) {
			t.Fatalf("hangup %d: %v, want the 500", i, err)
		}
	}
	err := h.client.Hangup(ctxT(t), "ccid-b", callcontrol.HangupParams{})
	if !errors.Is(err, callcontrol.ErrCircuitOpen) {
		t.Fatalf("err = %v, want ErrCircuitOpen", err)
	}
	if n := len(h.fake.Commands()); n != 3 {
		t.Fatalf("fake received %d commands, want 3: the open breaker sends nothing", n)
	}
	if v := counter(t, h.reg, "iace_callcontrol_breaker_state", map[string]string{"provider": "telnyx"}); v != 2 {
		t.Errorf("breaker_state = %v, want 2 (open)", v)
	}
	if v := counter(t, h.reg, "iace_callcontrol_requests_total", map[string]string{"outcome": "circuit_open"}); v != 1 {
		t.Errorf("circuit_open count = %v", v)
	}
}

func TestClientErrorsDoNotOpenTheBreaker(t *testing.T) {
	h := newHarness(t, func(c *callcontrol.Config) { c.BreakerFailures = 2 })
	h.fake.EndCall("gone")
	for range 5 {
		if err := h.client.Answer(ctxT(t), "gone", callcontrol.AnswerParams{}); !callcontrol.IsCallEnded(err) {
			t.Fatalf("err = %v", err)
		}
	}
	if err := h.client.Answer(ctxT(t), "live", callcontrol.AnswerParams{}); err != nil {
		t.Fatalf("breaker opened on 4xx: %v", err)
	}
}

func TestASlowAnswerTimesOutAndIsRetried(t *testing.T) {
	h := newHarness(t, func(c *callcontrol.Config) { c.AttemptTimeout = 100 * time.Millisecond })
	h.fake.Fail(callcontroltest.Fault{Action: callcontrol.ActionAnswer, Delay: time.Minute})
	if err := h.client.Answer(ctxT(t), "ccid-slow", callcontrol.AnswerParams{}); err != nil {
		t.Fatal(err)
	}
	// The slow attempt is recorded when its handler sees the client go away.
	slow, err := h.fake.Wait(ctxT(t), func(c callcontroltest.Command) bool { return c.Status == 0 })
	if err != nil {
		t.Fatal(err)
	}
	if slow.Applied || len(h.fake.Applied(callcontrol.ActionAnswer, "ccid-slow")) != 1 {
		t.Fatal("want the slow attempt abandoned and the retry applied once")
	}
}

func TestASlowAnswerWithoutRetriesIsATimeout(t *testing.T) {
	h := newHarness(t, func(c *callcontrol.Config) {
		c.AttemptTimeout = 50 * time.Millisecond
		c.MaxRetries = -1
	})
	h.fake.Fail(callcontroltest.Fault{Delay: time.Minute})
	err := h.client.Hangup(ctxT(t), "ccid-slow", callcontrol.HangupParams{})
	if !errors.Is(err, callcontrol.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if v := counter(t, h.reg, "iace_callcontrol_requests_total", map[string]string{"outcome": "timeout"}); v != 1 {
		t.Errorf("timeout count = %v", v)
	}
}

func TestACanceledContextStopsTheCommand(t *testing.T) {
	h := newHarness(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := h.client.Hangup(ctx, "ccid-c", callcontrol.HangupParams{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestAttemptsAreLoggedWithRequestIDsAndNeverTheKey(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.Fail(callcontroltest.Fault{Status: http.StatusInternalServerError})
	if err := h.client.Answer(media.WithCallID(ctxT(t), "call-7"), "ccid-log", callcontrol.AnswerParams{}); err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(h.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want one per attempt:\n%s", len(lines), h.logs)
	}
	for i, want := range []struct {
		reqID  string
		status float64
		level  string
	}{{"fake-req-000001", 500, "WARN"}, {"fake-req-000002", 200, "INFO"}} {
		l := lines[i]
		if l["request_id"] != want.reqID || l["status"] != want.status || l["call_control_id"] != "ccid-log" || l["call_id"] != "call-7" ||
			l["attempt"] != float64(i+1) || l["level"] != want.level || l["command_id"] != "answer-ccid-log" {
			t.Errorf("line %d = %v", i, l)
		}
	}
	if strings.Contains(h.logs.String(), apiKey) {
		t.Fatal("the API key was logged")
	}
}

func TestConfig(t *testing.T) {
	if _, err := callcontrol.New(callcontrol.Config{}); err == nil {
		t.Error("New without an API key succeeded")
	}
	if _, err := callcontrol.New(callcontrol.Config{APIKey: "k", BaseURL: "ftp://x"}); err == nil {
		t.Error("New with an ftp base URL succeeded")
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("cfg", "cfg", callcontrol.Config{APIKey: apiKey})
	if strings.Contains(buf.String(), apiKey) || !strings.Contains(buf.String(), "api_key_set=true") {
		t.Errorf("config log = %s", buf.String())
	}
}

func TestTwoClientsShareOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		c, err := callcontrol.New(callcontrol.Config{APIKey: "k", Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}
