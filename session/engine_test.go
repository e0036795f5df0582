package session_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
)

func TestDrainEndsLiveCallsAtTheDeadlineAndRefusesNewOnes(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	ts := newTestServer(t, nil)
	p := dialPeer(t, ts.url, nil)
	defer p.close()
	p.expect("greeting audio", 3*time.Second, func(r received) bool { return r.event == "media" })

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := ts.engine.Drain(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("drain: %v, want the deadline error", err)
	}
	if sum := ts.summary(t); sum.EndReason != session.EndDrain {
		t.Errorf("end reason %q, want drain", sum.EndReason)
	}
	if ts.engine.Ready() {
		t.Error("ready while draining")
	}
	_, resp, err := websocket.DefaultDialer.Dial(ts.url, nil)
	if err == nil {
		t.Fatal("a new stream was accepted while draining")
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
}

func TestDrainReturnsWhenCallsFinish(t *testing.T) {
	ts := newTestServer(t, nil)
	p := dialPeer(t, ts.url, nil)
	p.expect("greeting audio", 3*time.Second, func(r received) bool { return r.event == "media" })
	done := make(chan error, 1)
	go func() { done <- ts.engine.Drain(t.Context()) }()
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x", "stop": map[string]any{}})
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("drain: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("drain did not return after the last call ended")
	}
	p.close()
	if sum := ts.summary(t); sum.EndReason != session.EndHangup {
		t.Errorf("end reason %q, want hangup", sum.EndReason)
	}
}

func TestSilentStreamEndsWithMediaTimeout(t *testing.T) {
	ts := newTestServer(t, func(_ *session.Config, c *telnyx.ConnConfig) { c.ReadTimeout = 300 * time.Millisecond })
	ws, _, err := websocket.DefaultDialer.Dial(ts.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.Close() }()
	start := `{"event":"start","sequence_number":"1","stream_id":"s1","start":{"call_control_id":"v3:c","from":"+15551230001","to":"+15559870002","media_format":{"encoding":"PCMA","sample_rate":8000,"channels":1}}}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(start)); err != nil {
		t.Fatal(err)
	}
	sum := ts.summary(t)
	if sum.EndReason != session.EndMediaTimeout {
		t.Errorf("end reason %q, want media_timeout", sum.EndReason)
	}
	if sum.Info.From != "+15551230001" || sum.Info.CallControlID != "v3:c" {
		t.Errorf("call info %+v", sum.Info)
	}
}

func TestHangupCommandEndsTheCall(t *testing.T) {
	ts := newTestServer(t, nil)
	p := dialPeer(t, ts.url, nil)
	defer p.close()
	p.expect("greeting audio", 3*time.Second, func(r received) bool { return r.event == "media" })
	calls := ts.engine.Registry().List()
	if len(calls) != 1 || calls[0].AgentID != "demo" || calls[0].StreamID == "" {
		t.Fatalf("registry %+v", calls)
	}
	if !ts.engine.Hangup(calls[0].ID, session.EndOperator) {
		t.Fatal("the live call was not found")
	}
	if sum := ts.summary(t); sum.EndReason != session.EndOperator {
		t.Errorf("end reason %q", sum.EndReason)
	}
	if ts.engine.Hangup(calls[0].ID, session.EndOperator) {
		t.Error("an ended call was found")
	}
}

// TestANodeThatTakesNoCallsIsReadyAndRefusesStreams: a node of the API
// and the webhooks only is ready (its load balancer keeps sending it
// requests), offers the deployment no room for calls, and refuses a
// media stream with 503.
func TestANodeThatTakesNoCallsIsReadyAndRefusesStreams(t *testing.T) {
	ts := newTestServer(t, func(c *session.Config, _ *telnyx.ConnConfig) { c.NoCalls = true })
	if !ts.engine.Ready() {
		t.Error("a node that takes no calls is not ready")
	}
	if got := ts.engine.Capacity(); got != -1 {
		t.Errorf("capacity %d, want -1 (no room)", got)
	}
	_, resp, err := websocket.DefaultDialer.Dial(ts.url, nil)
	if err == nil {
		t.Fatal("a media stream was accepted")
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
	if n := ts.engine.Registry().Len(); n != 0 {
		t.Errorf("%d calls live", n)
	}
}

// TestANodeAtCapacityIsNotReadyAndRefusesBeyondItsMargin: with a capacity
// of 10 calls, the engine is ready below 10, not ready at 10 (the load
// balancer sends new streams elsewhere), still takes the streams that
// arrive meanwhile up to a tenth above (11), and refuses the next with 503.
func TestANodeAtCapacityIsNotReadyAndRefusesBeyondItsMargin(t *testing.T) {
	ts := newTestServer(t, func(c *session.Config, _ *telnyx.ConnConfig) { c.MaxCalls = 10 })
	var peers []*peer
	for i := range 11 {
		if !ts.engine.Ready() && i < 10 {
			t.Fatalf("not ready with %d calls of 10", i)
		}
		p := dialPeer(t, ts.url, nil)
		defer p.close()
		p.expect("greeting audio", 5*time.Second, func(r received) bool { return r.event == "media" })
		peers = append(peers, p)
	}
	if ts.engine.Ready() {
		t.Error("ready at its capacity")
	}
	_, resp, err := websocket.DefaultDialer.Dial(ts.url, nil)
	if err == nil {
		t.Fatal("a stream beyond the capacity's margin was accepted")
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
	if n := ts.engine.Registry().Len(); n != len(peers) {
		t.Errorf("%d calls live, want %d", n, len(peers))
	}
}
