package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/media/rtc/rtctest"
	"github.com/iace/iace/store"
)

// whep posts an offer to a call's WHEP endpoint and returns the status,
// the session's Location and the answer.
func whep(t *testing.T, base, callID, query, token, offer string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/whep/calls/"+callID+query, strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

func whepDelete(t *testing.T, base, location, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, base+location, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

// listener is a player connected to a call through iace serve.
type listener struct {
	*rtctest.Client
	location string
}

func connect(t *testing.T, base, callID, query, token string, sections int) *listener {
	t.Helper()
	c, offer, err := rtctest.NewClient(sections)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	code, loc, answer := whep(t, base, callID, query, token, offer)
	if code != http.StatusCreated {
		t.Fatalf("POST /whep/calls/%s%s: %d %s", callID, query, code, answer)
	}
	if err := c.Answer(answer); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.WaitState(ctx, webrtc.PeerConnectionStateConnected); err != nil {
		t.Fatal(err)
	}
	return &listener{Client: c, location: loc}
}

// loudest is the highest RMS of the 100 ms windows of pcm.
func loudest(pcm []int16) float64 {
	best := 0.0
	for i := 0; i+800 <= len(pcm); i += 800 {
		best = max(best, rtctest.RMS(pcm[i:i+800]))
	}
	return best
}

// firstLoud is when pcm (8 kHz from its start) first has a 100 ms window
// louder than rms; the length of pcm when none.
func firstLoud(pcm []int16, rms float64) time.Duration {
	for i := 0; i+800 <= len(pcm); i += 800 {
		if rtctest.RMS(pcm[i:i+800]) >= rms {
			return time.Duration(i) * time.Second / 8000
		}
	}
	return time.Duration(len(pcm)) * time.Second / 8000
}

// waitLoud waits until track id of l has carried audio louder than rms in
// some 100 ms.
func waitLoud(t *testing.T, l *listener, id string, rms float64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for loudest(l.Track(id).PCM) < rms {
		if time.Now().After(deadline) {
			st := l.Track(id)
			t.Fatalf("track %q: %d packets, loudest 100 ms at RMS %.0f, want %.0f", id, st.Packets, loudest(st.PCM), rms)
		}
		time.Sleep(50 * time.Millisecond) //nolint:forbidigo // audio arrives in real time; polling what arrived
	}
}

// TestASupervisorListensToALiveCall is live call listening end to end:
// iace serve as `make run` starts it (loopback, no extra setting), the
// simulated caller on a real media stream, and pion players as browsers
// speaking WHEP. A supervisor hears the call mixed (the agent's greeting);
// an admin hears the two sides apart (the greeting on the agent's track,
// the caller's words on the caller's); a viewer, another organization and
// an unauthenticated client are refused; DELETE ends a session; the
// listener left open is closed when the call ends, and nothing is left
// running after shutdown.
func TestASupervisorListensToALiveCall(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--log-format", "json",
		"--data-dir", t.TempDir()}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := serveFor(t, cfg)
	if !strings.Contains(s.logs.String(), "live call supervision") || !strings.Contains(s.logs.String(), `"loopback_candidates":true`) {
		t.Errorf("the start log does not say where listening is served:\n%s", s.logs)
	}
	ctx := t.Context()
	if _, err := s.stores.backend.CreateOrg(ctx, store.Organization{ID: "globex", Name: "Globex"}); err != nil {
		t.Fatal(err)
	}
	sup := login(t, s, demoOrg, "sup@demo.example", store.RoleSupervisor)
	admin := login(t, s, demoOrg, "admin@demo.example", store.RoleAdmin)
	viewer := login(t, s, demoOrg, "viewer@demo.example", store.RoleViewer)
	outsider := login(t, s, "globex", "admin@globex.example", store.RoleAdmin)
	base := "http://" + s.publicLn.Addr().String()

	callDone := make(chan sim.Report, 1)
	go func() { // ends with the call, before the test does
		rep, _ := sim.Run(ctx, sim.Config{URL: s.url, Calls: 1, Seed: 3,
			Script: []string{"what are your opening hours", "how much does it cost", "goodbye"}})
		callDone <- rep
	}()
	var id string
	deadline := time.Now().Add(10 * time.Second)
	for id == "" {
		var live struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		if code := apiCall(t, http.MethodGet, base+"/api/v1/calls/live", sup, nil, &live); code != http.StatusOK {
			t.Fatalf("GET /calls/live: %d", code)
		}
		if len(live.Items) > 0 {
			id = live.Items[0].ID
		} else if time.Now().After(deadline) {
			t.Fatal("the simulated call never showed up live")
		}
		time.Sleep(10 * time.Millisecond) //nolint:forbidigo // polling the live list for the call to start
	}

	// Who may not listen, each with their status; nothing is set up for them.
	offer := func() string {
		c, o, err := rtctest.NewClient(1)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
		return o
	}
	for _, tc := range []struct {
		who, token string
		status     int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a viewer", viewer, http.StatusForbidden},
		{"another organization's admin", outsider, http.StatusNotFound},
	} {
		if code, loc, body := whep(t, base, id, "", tc.token, offer()); code != tc.status || loc != "" {
			t.Errorf("%s: %d %q %s, want %d", tc.who, code, loc, body, tc.status)
		}
	}

	// The supervisor hears the greeting in the one mixed track.
	mixed := connect(t, base, id, "", sup, 1)
	// The admin hears the two sides apart.
	sides := connect(t, base, id, "?tracks=sides", admin, 2)
	waitLoud(t, mixed, "mixed", 500, 10*time.Second)
	st := mixed.Track("mixed")
	if st.MimeType != webrtc.MimeTypePCMU || st.OddSizes != 0 {
		t.Errorf("mixed track: %s, %d odd packets", st.MimeType, st.OddSizes)
	}
	if ids := mixed.TrackIDs(); len(ids) != 1 {
		t.Errorf("strict WHEP got tracks %v", ids)
	}
	waitLoud(t, sides, "agent", 1000, 15*time.Second)
	waitLoud(t, sides, "caller", 1000, 20*time.Second)
	// The agent's track was loud first: the greeting, before the caller's
	// first words (the caller waits for it to end).
	agentAt, callerAt := firstLoud(sides.Track("agent").PCM, 1000), firstLoud(sides.Track("caller").PCM, 1000)
	t.Logf("sides: agent loud from %v, caller from %v; mixed loudest RMS %.0f", agentAt, callerAt, loudest(mixed.Track("mixed").PCM))
	if agentAt >= callerAt {
		t.Errorf("the agent's track was first loud at %v, the caller's at %v: want the greeting first", agentAt, callerAt)
	}
	if loudest(sides.Track("caller").PCM[:int(agentAt/time.Millisecond)*8]) > 300 {
		t.Error("the caller's track carried the greeting")
	}

	if code := whepDelete(t, base, "/whep/sessions/0123456789abcdef0123456789abcdef", sup); code != http.StatusNotFound {
		t.Errorf("a guessed session: %d", code)
	}
	if code := whepDelete(t, base, mixed.location, admin); code != http.StatusNotFound {
		t.Errorf("the admin deleted the supervisor's session: %d", code)
	}
	if code := whepDelete(t, base, mixed.location, sup); code != http.StatusOK {
		t.Errorf("DELETE %s: %d", mixed.location, code)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := mixed.WaitState(wctx, webrtc.PeerConnectionStateClosed); err != nil {
		t.Errorf("the deleted session's player: %v", err)
	}

	// The call ends (the caller says goodbye): the listener still open is closed.
	var rep sim.Report
	select {
	case rep = <-callDone:
	case <-time.After(60 * time.Second):
		t.Fatal("the call did not end")
	}
	if rep.CallsCompleted != 1 || rep.Failed() {
		t.Errorf("the simulated call: %d completed, failed %v", rep.CallsCompleted, rep.Failed())
	}
	if err := sides.WaitState(wctx, webrtc.PeerConnectionStateClosed); err != nil {
		t.Errorf("the open listener outlived its call: %v", err)
	}
	if code, _, _ := whep(t, base, id, "", sup, offer()); code != http.StatusNotFound {
		t.Errorf("listening to the ended call: %d, want 404", code)
	}
	metrics := get(t, "http://"+s.intLn.Addr().String()+"/metrics")
	for _, want := range []string{
		`iace_rtc_listeners 0`,
		`iace_rtc_monitored_calls 0`,
		`iace_rtc_peer_ends_total{kind="listener",reason="deleted"} 1`,
		`iace_rtc_peer_ends_total{kind="listener",reason="call_ended"} 1`,
		`iace_monitor_sessions_total{kind="listen",result="started"} 2`,
		`iace_monitor_sessions_total{kind="listen",result="forbidden"} 1`,
		`iace_rtc_frames_dropped_total{side="caller"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	logs := s.logs.String()
	for _, want := range []string{`"msg":"webrtc session opened"`, `"msg":"listener connected"`, `"reason":"deleted"`, `"reason":"call_ended"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if strings.Contains(logs, caller) || strings.Contains(logs, "+15550100000") {
		t.Error("a phone number appears in the log")
	}
	_ = mixed.Close()
	_ = sides.Close()
	if err := s.stop(5 * time.Second); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
}
