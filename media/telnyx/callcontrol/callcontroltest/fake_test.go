package callcontroltest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const key = "k"

type reply struct {
	status int
	errors []struct {
		Code   string            `json:"code"`
		Source map[string]string `json:"source"`
	}
	requestID string
}

// post sends a raw request the way a hand-written client would.
func post(t *testing.T, s *callcontroltest.Server, path, auth, ctype, body string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.BaseURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, requestID: resp.Header.Get("X-Request-Id")}
	var env struct {
		Errors []struct {
			Code   string            `json:"code"`
			Source map[string]string `json:"source"`
		} `json:"errors"`
	}
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("error body %q is not the Telnyx envelope: %v", raw, err)
		}
		r.errors = env.Errors
	} else if string(raw) != `{"data":{"result":"ok"}}` {
		t.Fatalf("success body %q", raw)
	}
	return r
}

func TestTheFakeChecksTheWire(t *testing.T) {
	s := callcontroltest.NewServer(key)
	defer s.Close()
	tests := []struct {
		name, path, auth, ctype, body string
		status                        int
		pointer                       string
	}{
		{"accepts a well-formed answer", "/calls/c1/actions/answer", "Bearer k", "application/json",
			`{"stream_url":"wss://x/m","stream_track":"inbound_track","stream_bidirectional_mode":"rtp","command_id":"answer-c1"}`, 200, ""},
		{"accepts an empty body", "/calls/c1/actions/streaming_stop", "Bearer k", "application/json; charset=utf-8", `{}`, 200, ""},
		{"refuses a missing key", "/calls/c1/actions/answer", "", "application/json", `{}`, 401, ""},
		{"refuses a wrong key", "/calls/c1/actions/answer", "Bearer nope", "application/json", `{}`, 401, ""},
		{"refuses a non-JSON content type", "/calls/c1/actions/answer", "Bearer k", "text/plain", `{}`, 415, ""},
		{"refuses a body that is not an object", "/calls/c1/actions/answer", "Bearer k", "application/json", `[]`, 400, ""},
		{"refuses an unknown field", "/calls/c1/actions/answer", "Bearer k", "application/json", `{"stream_urll":"wss://x"}`, 422, "/stream_urll"},
		{"refuses a bad enum", "/calls/c1/actions/answer", "Bearer k", "application/json", `{"stream_bidirectional_codec":"pcmu"}`, 422, "/stream_bidirectional_codec"},
		{"refuses client_state that is not base64", "/calls/c1/actions/hangup", "Bearer k", "application/json", `{"client_state":"%%"}`, 422, "/client_state"},
		{"requires transfer to", "/calls/c1/actions/transfer", "Bearer k", "application/json", `{}`, 422, "/to"},
		{"bounds transfer timeout_secs", "/calls/c1/actions/transfer", "Bearer k", "application/json", `{"to":"+15551234567","timeout_secs":601}`, 422, "/timeout_secs"},
		{"refuses an unknown action", "/calls/c1/actions/dance", "Bearer k", "application/json", `{}`, 404, ""},
		{"refuses an unknown path", "/calls/c1", "Bearer k", "application/json", `{}`, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, s, tt.path, tt.auth, tt.ctype, tt.body)
			if r.status != tt.status || r.requestID == "" {
				t.Fatalf("status %d request id %q, want %d", r.status, r.requestID, tt.status)
			}
			if tt.pointer != "" && (len(r.errors) == 0 || r.errors[0].Source["pointer"] != tt.pointer) {
				t.Fatalf("errors %+v, want pointer %s", r.errors, tt.pointer)
			}
		})
	}
	if n := len(s.Commands()); n != len(tests) {
		t.Fatalf("recorded %d commands, want every one of %d", n, len(tests))
	}
}

func TestTheFakeDedupesCommandIDsForSixtySeconds(t *testing.T) {
	s := callcontroltest.NewServer(key)
	defer s.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	send := func() {
		post(t, s, "/calls/c1/actions/streaming_stop", "Bearer k", "application/json", `{"command_id":"x"}`)
	}
	send()
	now = now.Add(59 * time.Second)
	s.SetClock(func() time.Time { return now })
	send()
	now = now.Add(2 * time.Second) // 61 s after the first
	s.SetClock(func() time.Time { return now })
	send()
	if n := len(s.Applied("streaming_stop", "c1")); n != 2 {
		t.Fatalf("applied %d, want 2: the repeat inside 60 s is dropped, the one after is not", n)
	}
}

func TestTheFakeEndsCallsOnHangup(t *testing.T) {
	s := callcontroltest.NewServer(key)
	defer s.Close()
	post(t, s, "/calls/c1/actions/hangup", "Bearer k", "application/json", `{"command_id":"h"}`)
	r := post(t, s, "/calls/c1/actions/answer", "Bearer k", "application/json", `{}`)
	if r.status != 422 || len(r.errors) != 1 || r.errors[0].Code != callcontroltest.CodeCallEnded {
		t.Fatalf("command after hangup: %+v", r)
	}
}

func TestWaitWakesOnANewCommandOrGivesUp(t *testing.T) {
	s := callcontroltest.NewServer(key)
	defer s.Close()
	got := make(chan error, 1)
	go func() {
		_, err := s.WaitApplied(t.Context(), "hangup", "c9")
		got <- err
	}()
	post(t, s, "/calls/c9/actions/hangup", "Bearer k", "application/json", `{}`)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.WaitApplied(ctx, "answer", "none"); err == nil {
		t.Fatal("Wait returned without a match")
	}
}
