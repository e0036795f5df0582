package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/iace/iace/control/monitor"
	"github.com/iace/iace/control/webhook"
	"github.com/iace/iace/media/rtc/rtctest"
)

// rigLogField is field of the first JSON line of logs whose message starts
// with msg.
func rigLogField(t *testing.T, logs *logBuffer, msg, field string) string {
	t.Helper()
	for line := range strings.SplitSeq(logs.String(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		if m, _ := l["msg"].(string); strings.HasPrefix(m, msg) {
			if v, ok := l[field].(string); ok {
				return v
			}
		}
	}
	t.Fatalf("no %q line with %s in the log:\n%s", msg, field, logs.String())
	return ""
}

// sdpPorts are the ports of the candidates of an SDP answer.
func sdpPorts(sdp string) []string {
	var ports []string
	for line := range strings.SplitSeq(sdp, "\n") {
		if f := strings.Fields(strings.TrimSpace(line)); len(f) >= 6 && strings.HasPrefix(f[0], "a=candidate:") {
			ports = append(ports, f[5])
		}
	}
	return ports
}

// postSDP posts an offer to a WHEP or WHIP endpoint, with extra headers
// (name, value pairs).
func postSDP(t *testing.T, u, token, offer string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// TestWhepAndWhipThroughAnotherNode: with a call's media on node b, a
// supervisor speaking WHEP and WHIP to node a is relayed to b, whose
// answer carries b's own candidates; the listener hears the call straight
// from b, and DELETE through a ends b's sessions. An unauthenticated
// request is refused on a without a relay, a call no node holds is 404,
// and a request already relayed is never relayed again.
func TestWhepAndWhipThroughAnotherNode(t *testing.T) {
	r := newClusterRig(t)
	run := rand.Text()[:8]
	_, bUDP, err := net.SplitHostPort(rigLogField(t, r.bLogs, "live call supervision", "udp"))
	if err != nil {
		t.Fatal(err)
	}
	_, aUDP, _ := net.SplitHostPort(r.a.monitor.rtc.Addr().String())
	aMetrics, bMetrics := "http://"+r.a.intLn.Addr().String()+"/metrics", "http://"+rigLogField(t, r.bLogs, "serving", "internal_addr")+"/metrics"
	offer := func() string {
		c, o, err := rtctest.NewClient(1)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
		return o
	}

	// Refused on a, before any look-up or relay: no token.
	if code, _, body := whep(t, r.aBase, "any-call", "", "", offer()); code != http.StatusUnauthorized {
		t.Errorf("no token through a: %d %s", code, body)
	}
	// A call no node holds.
	if code, _, body := whep(t, r.aBase, string(webhook.CallIDFor("v3:nobody-"+run)), "", r.admin, offer()); code != http.StatusNotFound {
		t.Errorf("a call no node holds: %d %s", code, body)
	}
	am := get(t, aMetrics)
	for _, res := range []string{"answered", "unreachable", "bad_answer", "lookup_failed"} {
		if n := metricValue(am, `iace_monitor_relays_total{request="listen",result="`+res+`"}`); n != 0 {
			t.Errorf("a relayed %v requests (%s) before any call", n, res)
		}
	}
	if n := metricValue(get(t, bMetrics), `iace_monitor_sessions_total{kind="listen",result="unauthorized"}`); n != 0 {
		t.Errorf("b saw %v unauthenticated requests: a relayed one", n)
	}

	c := r.place(t, "v3:whep-"+run, r.bBase)
	id := string(c.id)
	eventually(t, 5*time.Second, "a lists b's call", func() bool { _, ok := r.liveOn(t, r.aBase)[id]; return ok })

	// A request that says it was relayed already is answered by a as for a
	// call it does not hold.
	if code, _, body := postSDP(t, r.aBase+monitor.CallsPath+id, r.admin, offer(), monitor.RelayedHeader, "node-x"); code != http.StatusNotFound {
		t.Errorf("a relayed request for a call a does not hold: %d %s", code, body)
	}

	// Listening through a: b answers with its own candidates.
	player, off, err := rtctest.NewClient(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = player.Close() })
	started := time.Now()
	code, hd, answer := postSDP(t, r.aBase+monitor.CallsPath+id, r.admin, off)
	if code != http.StatusCreated {
		t.Fatalf("WHEP through a: %d %s\n%s", code, answer, r.aLogs.String())
	}
	t.Logf("WHEP through a answered in %v", time.Since(started).Round(time.Millisecond))
	loc := hd.Get("Location")
	if !strings.HasPrefix(loc, monitor.SessionsPath+"node-b.") || hd.Get("Content-Type") != "application/sdp" {
		t.Errorf("the relayed answer: Location %q, Content-Type %q", loc, hd.Get("Content-Type"))
	}
	ports := sdpPorts(answer)
	if len(ports) == 0 {
		t.Fatalf("the answer has no candidates:\n%s", answer)
	}
	t.Logf("answer candidates on ports %v; b's WebRTC port %s, a's %s", ports, bUDP, aUDP)
	for _, p := range ports {
		if p != bUDP {
			t.Errorf("a candidate on port %s: want only b's (%s; a's is %s)", p, bUDP, aUDP)
		}
	}
	if err := player.Answer(answer); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := player.WaitState(ctx, webrtc.PeerConnectionStateConnected); err != nil {
		t.Fatal(err)
	}
	// The greeting, from b; a has no listener at all.
	waitLoud(t, &listener{Client: player, location: loc}, "mixed", 500, 10*time.Second)
	if n := metricValue(get(t, bMetrics), "iace_rtc_listeners"); n != 1 {
		t.Errorf("b has %v listeners, want 1", n)
	}
	if n := metricValue(get(t, aMetrics), "iace_rtc_listeners"); n != 0 {
		t.Errorf("a has %v listeners, want 0", n)
	}
	// DELETE through a ends the session on b.
	if code := whepDelete(t, r.aBase, loc, r.admin); code != http.StatusOK {
		t.Errorf("DELETE %s through a: %d", loc, code)
	}
	if err := player.WaitState(ctx, webrtc.PeerConnectionStateClosed); err != nil {
		t.Errorf("the deleted session's player: %v", err)
	}
	eventually(t, 5*time.Second, "b's listener gone", func() bool { return metricValue(get(t, bMetrics), "iace_rtc_listeners") == 0 })
	if code := whepDelete(t, r.aBase, loc, r.admin); code != http.StatusNotFound {
		t.Errorf("DELETE %s again: %d", loc, code)
	}
	// A session of a node that is not up.
	if code := whepDelete(t, r.aBase, monitor.SessionsPath+"node-z.0123456789abcdef0123456789abcdef", r.admin); code != http.StatusNotFound {
		t.Errorf("a session of no node: %d", code)
	}

	// Talking through a: the microphone reaches the call on b.
	talker, toff, err := rtctest.NewTalker()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = talker.Close() })
	code, hd, answer = postSDP(t, r.aBase+monitor.TalkCallsPath+id, r.admin, toff)
	if code != http.StatusCreated {
		t.Fatalf("WHIP through a: %d %s", code, answer)
	}
	tloc := hd.Get("Location")
	if !strings.HasPrefix(tloc, monitor.TalkSessionsPath+"node-b.") {
		t.Errorf("the relayed WHIP answer's Location: %q", tloc)
	}
	for _, p := range sdpPorts(answer) {
		if p != bUDP {
			t.Errorf("a WHIP candidate on port %s, want b's %s", p, bUDP)
		}
	}
	if err := talker.Answer(answer); err != nil {
		t.Fatal(err)
	}
	if err := talker.WaitState(ctx, webrtc.PeerConnectionStateConnected); err != nil {
		t.Fatal(err)
	}
	if n := metricValue(get(t, bMetrics), "iace_rtc_talkers"); n != 1 {
		t.Errorf("b has %v talkers, want 1", n)
	}
	if code := whepDelete(t, r.aBase, tloc, r.admin); code != http.StatusOK {
		t.Errorf("DELETE %s through a: %d", tloc, code)
	}
	eventually(t, 5*time.Second, "b's talker gone", func() bool { return metricValue(get(t, bMetrics), "iace_rtc_talkers") == 0 })

	am = get(t, aMetrics)
	for series, want := range map[string]float64{
		`iace_monitor_relays_total{request="listen",result="answered"}`:     1,
		`iace_monitor_relays_total{request="talk",result="answered"}`:       1,
		`iace_monitor_relays_total{request="end_listen",result="answered"}`: 2,
		`iace_monitor_relays_total{request="end_talk",result="answered"}`:   1,
		`iace_monitor_sessions_total{kind="listen",result="started"}`:       0,
	} {
		if n := metricValue(am, series); n != want {
			t.Errorf("a: %s %v, want %v", series, n, want)
		}
	}
	bm := get(t, bMetrics)
	for series, want := range map[string]float64{
		`iace_monitor_sessions_total{kind="listen",result="started"}`: 1,
		`iace_monitor_sessions_total{kind="talk",result="started"}`:   1,
		`iace_rtc_peer_ends_total{kind="listener",reason="deleted"}`:  1,
	} {
		if n := metricValue(bm, series); n != want {
			t.Errorf("b: %s %v, want %v", series, n, want)
		}
	}
	if !strings.Contains(r.bLogs.String(), `"relayed_by":"node-a"`) {
		t.Errorf("b's log does not say which node relayed the session:\n%s", r.bLogs.String())
	}
}
