package main

import (
	"context"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/rtc/rtctest"
	"github.com/iace/iace/store"
)

// micToneHz is the fake microphone's tone: far from the offline voice
// (espeak-ng, or tones of 220-440 Hz), so that what the caller heard of the
// supervisor can be told from the agent.
const micToneHz = 1500

// writeMicWAV writes the fake microphone Chromium plays in a loop: three
// 500 ms bursts of the tone 300 ms apart, as words of a sentence, then
// 3.6 s of silence, in which the caller may speak.
func writeMicWAV(t *testing.T, path string) {
	t.Helper()
	const rate = 48000
	pcm := make([]int16, 6*rate)
	for burst := range 3 {
		start := burst * 800 * rate / 1000
		for i := range rate / 2 {
			n := start + i
			pcm[n] = int16(9000 * math.Sin(2*math.Pi*micToneHz*float64(n)/rate))
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if err := media.WriteWAV(f, rate, pcm); err != nil {
		t.Fatal(err)
	}
}

// supervisorWindows counts the 20 ms windows of pcm (8 kHz) whose power
// is mostly at the microphone's tone: audio of the supervisor, not of the
// agent and not silence.
func supervisorWindows(pcm []int16) int {
	n := 0
	for i := 0; i+160 <= len(pcm); i += 160 {
		w := pcm[i : i+160]
		rms := rtctest.RMS(w)
		if rms < 300 {
			continue
		}
		if share := 2 * rtctest.Goertzel(w, micToneHz) * 160 / (rms * rms); share > 0.8 {
			n++
		}
	}
	return n
}

// metric reads a counter or gauge without labels from /metrics.
func metric(t *testing.T, s *served, name string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(get(t, "http://"+s.intLn.Addr().String()+"/metrics"), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// waitUntil polls cond (the page, the server's metrics) until it holds.
func waitUntil(t *testing.T, s *served, what string, within time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v\n%s", what, within, s.logs)
		}
		time.Sleep(100 * time.Millisecond) // polling the page and the metrics, not a race
	}
}

// TestTheSupervisorTalksToTheCallerFromThePage: a supervisor on the page
// opens their microphone (Chromium's fake device playing a WAV of a tone)
// on a live simulated call. In barge the caller hears them; in takeover
// too, and the AI answers nothing: the simulated caller talks with the
// supervisor to the end of its script. Its recording holds the tone; the
// call's record holds the role switches, and no agent turn after the
// takeover. (Handing the call back to the AI is shown in the session's
// tests: a simulated caller that waits for an answer to every line cannot
// stand a line the supervisor answered and the AI then does not.)
func TestTheSupervisorTalksToTheCallerFromThePage(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	wav := filepath.Join(dir, "mic.wav")
	writeMicWAV(t, wav)
	bctx := browser(ctx, t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav))
	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--data-dir", dir,
		"--webrtc-loopback", "true"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := serveFor(t, cfg)
	const email, password = "supervisor@demo.example", "a long enough password" // login's password
	token := login(t, s, demoOrg, email, store.RoleSupervisor)
	base := "http://" + s.publicLn.Addr().String()
	wait, cancel := context.WithTimeout(bctx, 150*time.Second)
	defer cancel()
	logIn(wait, bctx, t, s, base, email, password)

	heard := filepath.Join(dir, "heard")
	lines := []string{"what are your opening hours", "how much does the basic plan cost", "where are you located",
		"what are your opening hours again", "how much does the basic plan cost again", "thank you"}
	reports := make(chan sim.Report, 1)
	go func() {
		rep, err := sim.Run(ctx, sim.Config{URL: s.url, Calls: 1, Script: lines, CallTimeout: 140 * time.Second,
			ReplyTimeout: 30 * time.Second, SaveAudioDir: heard, SaveAudioCalls: 1})
		if err != nil {
			t.Error(err)
		}
		reports <- rep
	}()
	openLiveCall(wait, t, s)
	click := func(sel string) {
		t.Helper()
		if err := chromedp.Do(wait, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("click %s: %v\n%s", sel, err, s.logs)
		}
	}
	role := func(want string) func() bool {
		return func() bool {
			var got string
			return evaluate(wait, `document.getElementById("role").textContent`, &got) == nil && strings.Contains(got, want)
		}
	}

	// The microphone: PCMU from the browser.
	if err := evaluate(wait, `(iace.micConstraints = {audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}}, true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	click("#talk")
	var sent struct {
		PacketsSent float64 `json:"packetsSent"`
		Codec       string  `json:"codec"`
	}
	waitUntil(t, s, "the microphone sending", 20*time.Second, func() bool {
		return evaluate(wait, `iace.talkStats()`, &sent) == nil && sent.PacketsSent >= 25
	})
	if sent.Codec != "audio/PCMU" {
		t.Errorf("the microphone sends %q, want audio/PCMU", sent.Codec)
	}
	if f := metric(t, s, "iace_session_supervisor_frames_total"); f != 0 {
		t.Errorf("%v frames of the microphone reached the caller in monitor", f)
	}

	// Barge: the caller hears the supervisor.
	click("#role-barge")
	waitUntil(t, s, "the role barge on the page", 10*time.Second, role("barge"))
	waitUntil(t, s, "the supervisor heard in the barge", 20*time.Second, func() bool {
		return metric(t, s, "iace_session_supervisor_frames_total") >= 25
	})

	// Takeover: the caller still hears them, and talks with them (the
	// tone answers each line) while the AI says nothing.
	click("#role-takeover")
	waitUntil(t, s, "the role takeover on the page", 10*time.Second, role("takeover"))
	var rep sim.Report
	select {
	case rep = <-reports:
	case <-time.After(150 * time.Second):
		t.Fatal("the call did not end")
	}
	if rep.CallsCompleted != 1 {
		t.Errorf("the call did not complete: %+v", rep)
	}

	// What the caller heard: the supervisor's tone, for more than a second.
	f, err := os.Open(filepath.Join(heard, "call-1.wav"))
	if err != nil {
		t.Fatal(err)
	}
	pcm, rate, err := media.ReadWAV(f)
	_ = f.Close()
	if err != nil || rate != 8000 {
		t.Fatalf("the caller's recording: rate %d, %v", rate, err)
	}
	if n := supervisorWindows(pcm); n < 50 {
		t.Errorf("the caller heard %d ms of the supervisor, want at least a second", n*20)
	}

	// The record: the role switches in order, and after the takeover the
	// caller's turns and no agent's.
	var calls struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if code := apiCall(t, http.MethodGet, base+"/api/v1/calls", token, nil, &calls); code != http.StatusOK || len(calls.Items) != 1 {
		t.Fatalf("calls: %d %+v", code, calls)
	}
	var detail struct {
		Turns []struct {
			Speaker   string    `json:"speaker"`
			StartedAt time.Time `json:"started_at"`
		} `json:"turns"`
		Events []struct {
			At     time.Time `json:"at"`
			Type   string    `json:"type"`
			Detail string    `json:"detail"`
		} `json:"events"`
	}
	waitUntil(t, s, "the call's record", 10*time.Second, func() bool {
		return apiCall(t, http.MethodGet, base+"/api/v1/calls/"+calls.Items[0].ID, token, nil, &detail) == http.StatusOK && len(detail.Turns) > 0
	})
	var roles []string
	var takeover time.Time
	for _, e := range detail.Events {
		if e.Type != "supervisor_role" {
			continue
		}
		roles = append(roles, e.Detail)
		if e.Detail == "takeover" {
			takeover = e.At
		}
	}
	if !slices.Equal(roles, []string{"barge", "takeover"}) {
		t.Errorf("the record's role switches %q, want barge, takeover", roles)
	}
	var inTakeover []string
	for _, tr := range detail.Turns {
		if tr.StartedAt.After(takeover) {
			inTakeover = append(inTakeover, tr.Speaker)
		}
	}
	if slices.Index(inTakeover, "caller") < 0 || slices.Contains(inTakeover, "agent") {
		t.Errorf("turns during the takeover: %q, want the caller's and no agent's", inTakeover)
	}
	t.Logf("the caller heard %d ms of the supervisor; turns in the takeover %q", supervisorWindows(pcm)*20, inTakeover)
}
