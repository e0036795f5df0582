package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iace/iace/control/webhook"
	"github.com/iace/iace/media/telnyx/callcontrol"
)

func TestFaultProxyFailsByKind(t *testing.T) {
	held := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/listen" { // a stream in progress: held until the test ends
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-held:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = io.WriteString(w, "spoken")
	}))
	defer backend.Close()
	defer close(held)
	p, err := newFaultProxy(t.Context(), strings.TrimPrefix(backend.URL, "http://"), func(path string) string {
		if strings.HasPrefix(path, "/v1/speak") {
			return provTTS
		}
		return provSTT
	})
	if err != nil {
		t.Fatal(err)
	}
	go p.serve(t.Context())
	defer p.Close()
	base := "http://" + p.Addr()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer func() { _ = res.Body.Close() }()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/v1/speak?model=aura"); code != 200 || body != "spoken" {
		t.Fatalf("through the proxy: %d %q", code, body)
	}

	// A stream in progress when its kind starts failing is cut.
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_, _ = io.WriteString(conn, "GET /v1/listen?encoding=mulaw HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %v %v", res, err)
	}
	p.Fail(provTTS, true) // another kind: the stream goes on
	if code, _ := get("/v1/speak"); code != http.StatusServiceUnavailable {
		t.Errorf("speak while TTS fails: %d, want 503", code)
	}
	p.Fail(provSTT, true)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(br); err != nil {
		t.Errorf("the cut stream ended with %v, want EOF", err)
	}
	if code, _ := get("/v1/listen"); code != http.StatusServiceUnavailable {
		t.Errorf("listen while STT fails: %d, want 503", code)
	}
	p.Fail(provTTS, false)
	p.Fail(provSTT, false)
	if code, body := get("/v1/speak"); code != 200 || body != "spoken" {
		t.Errorf("after the outage: %d %q", code, body)
	}
	if p.Failing(provSTT) || requestPath("GET /v1/listen?x=1 HTTP/1.1\r\n") != "/v1/listen" || requestPath("junk") != "" {
		t.Error("failing state or request path wrong")
	}
}

func TestWebhooksAreSignedAndRetriedAsTelnyxDoes(t *testing.T) {
	saved := retryAfter
	retryAfter = []time.Duration{time.Millisecond, time.Millisecond}
	defer func() { retryAfter = saved }()

	tel, err := newFakeTelnyx("+15550003000")
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Close()
	pub, err := webhook.ParsePublicKey(tel.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	var (
		calls atomic.Int32
		ids   = make(chan string, 4)
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.VerifySignature(pub, r.Header.Get("telnyx-signature-ed25519"), r.Header.Get("telnyx-timestamp"), body, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
		}
		var ev struct {
			Data struct {
				ID      string         `json:"id"`
				Type    string         `json:"event_type"`
				Payload map[string]any `json:"payload"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Error(err)
		}
		ids <- ev.Data.ID
		if calls.Add(1) == 1 { // the first delivery fails
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if ev.Data.Type != "call.hangup" || ev.Data.Payload["client_state"] != "b3Jn" || ev.Data.Payload["to"] != "+15550003000" {
			t.Errorf("event %+v", ev.Data)
		}
	}))
	defer hook.Close()
	code, attempts, err := tel.hangup(t.Context(), hook.URL, "v3:x", callerNumber(12), "b3Jn")
	if err != nil || code != 200 || attempts != 2 {
		t.Fatalf("hangup: %d after %d attempts, %v", code, attempts, err)
	}
	if a, b := <-ids, <-ids; a != b || a == "" {
		t.Errorf("a retry carries the same event id: %q then %q", a, b)
	}
	if callerNumber(12) != "+15550000012" {
		t.Errorf("caller number %s", callerNumber(12))
	}
}

// dispatchingTelnyx is the harness's fake Telnyx with its commands
// dispatched to the calls' subscribers until the test ends, and the
// test's context for it.
func dispatchingTelnyx(t *testing.T) (*fakeTelnyx, context.Context) {
	t.Helper()
	tel, err := newFakeTelnyx("+15550003000")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(func() { cancel(); tel.Close() })
	go tel.dispatch(ctx)
	return tel, ctx
}

func TestOfferWaitsForTheAnswer(t *testing.T) {
	tel, ctx := dispatchingTelnyx(t)
	ccfg := callcontrol.DefaultConfig()
	ccfg.BaseURL, ccfg.APIKey = tel.APIURL(), telnyxKey
	cc, err := callcontrol.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	// The node: answers call.initiated with a stream URL.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Data struct {
				Type    string `json:"event_type"`
				Payload struct {
					CCID string `json:"call_control_id"`
				} `json:"payload"`
			} `json:"data"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		if ev.Data.Type != "call.initiated" {
			return
		}
		go func() {
			err := cc.Answer(context.WithoutCancel(r.Context()), ev.Data.Payload.CCID, callcontrol.AnswerParams{
				StreamParams: callcontrol.StreamParams{StreamURL: "wss://lb.example/media/telnyx?token=tok-1", StreamTrack: callcontrol.TrackInbound},
				ClientState:  []byte("org/call"), CommandID: "answer-1",
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}))
	defer hook.Close()
	a, cmds, err := tel.offer(ctx, hook.URL, "v3:offered", callerNumber(1), 5*time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tel.unsubscribe("v3:offered")
	if a.token != "tok-1" || a.clientState == "" || cmds == nil {
		t.Errorf("answer %+v", a)
	}
}
