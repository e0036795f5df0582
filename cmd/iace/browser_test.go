package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/store"
)

// chromium finds the Chromium binary for the browser tests. Without one
// they are skipped, unless IACE_BROWSER_TESTS=required (as in CI, which
// installs Debian's chromium package).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("IACE_BROWSER_TESTS") == "required" {
		t.Fatal("no Chromium found (install Debian's chromium package)")
	}
	t.Skip("no Chromium found; IACE_BROWSER_TESTS=required makes this a failure")
	return ""
}

// browser starts a headless Chromium for the test: audio plays without a
// gesture, WebRTC may use the loopback interface, the microphone prompt is
// answered yes.
func browser(ctx context.Context, t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The browser starts on bctx itself, so that a step's own deadline
	// (a context derived from it) does not close the tab.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx
}

// evaluate runs a JavaScript expression in the page, awaiting a promise,
// into out.
func evaluate[T any](ctx context.Context, expr string, out *T) error {
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err == nil {
		*out = v
	}
	return err
}

// logIn signs in to the page at base as email, in the browser of bctx
// (wait bounds the steps).
func logIn(wait, bctx context.Context, t *testing.T, s *served, base, email, password string) {
	t.Helper()
	for i, step := range []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#logout")), // logged in: the live list follows
	} {
		if err := chromedp.Do(wait, step); err != nil {
			var page string
			if err := evaluate(bctx, `document.location.href + "\n" + document.body.innerText`, &page); err != nil {
				page = err.Error()
			}
			t.Fatalf("log in, step %d: %v\npage: %s\n%s", i, err, page, s.logs)
		}
	}
}

// openLiveCall opens the first call of the live list once it shows.
func openLiveCall(wait context.Context, t *testing.T, s *served) {
	t.Helper()
	// The live list redraws itself as events come: click its button in the
	// page, not a node found a moment before.
	var clicked bool
	if err := chromedp.Do(wait, chromedp.WaitVisible(chromedp.CSS("#live-calls button"))); err != nil {
		t.Fatalf("the call did not appear in the live list: %v\n%s", err, s.logs)
	}
	if err := evaluate(wait, `(() => { const b = document.querySelector("#live-calls button"); b?.click(); return !!b; })()`, &clicked); err != nil || !clicked {
		t.Fatalf("open the call: %v", err)
	}
}

// TestTheSupervisorPageFollowsAndListensToALiveCall: a supervisor logs in
// to /ui in headless Chromium and sees a simulated call appear in the live
// list; on the call's page the caller's words arrive in the order said and
// the agent's replies between them, and Listen plays the call: PCMU RTP
// whose decoded audio has energy, on a playing audio element.
func TestTheSupervisorPageFollowsAndListensToALiveCall(t *testing.T) {
	ctx := t.Context()
	bctx := browser(ctx, t)
	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--webrtc-loopback", "true"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := serveFor(t, cfg)
	const email, password = "supervisor@demo.example", "a long enough password"
	if _, err := s.control.auth.CreateUser(ctx, demoOrg, email, password, store.RoleSupervisor); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.publicLn.Addr().String()

	wait, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	logIn(wait, bctx, t, s, base, email, password)

	// The caller starts once the supervisor's page is open.
	lines := []string{"what are your opening hours", "how much does the basic plan cost", "where are you located",
		"what are your opening hours again", "goodbye"}
	reports := make(chan sim.Report, 1)
	go func() {
		rep, err := sim.Run(ctx, sim.Config{URL: s.url, Calls: 1, Script: lines, CallTimeout: 90 * time.Second})
		if err != nil {
			t.Error(err)
		}
		reports <- rep
	}()
	openLiveCall(wait, t, s)
	if err := chromedp.Do(wait,
		chromedp.WaitVisible(chromedp.CSS("#listen")),
		chromedp.Click(chromedp.CSS("#listen")),
	); err != nil {
		t.Fatalf("open the call: %v\n%s", err, s.logs)
	}

	// Audio: the listening connection receives PCMU and plays it.
	var stats struct {
		PacketsReceived  float64 `json:"packetsReceived"`
		TotalAudioEnergy float64 `json:"totalAudioEnergy"`
		Codec            string  `json:"codec"`
	}
	var playing bool
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err := evaluate(wait, `iace.stats()`, &stats); err != nil {
			t.Fatal(err)
		}
		if err := evaluate(wait, `(() => { const a = document.getElementById("audio"); return !!a.srcObject && !a.paused; })()`, &playing); err != nil {
			t.Fatal(err)
		}
		if stats.TotalAudioEnergy > 0 && stats.PacketsReceived >= 25 && playing || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // polling the browser's statistics, not a race
	}
	if stats.Codec != "audio/PCMU" || stats.PacketsReceived < 25 || stats.TotalAudioEnergy <= 0 || !playing {
		t.Errorf("listening: %+v, playing %v", stats, playing)
	}

	// The transcript: the caller's lines in the order said, each answered.
	var said []string
	for deadline := time.Now().Add(60 * time.Second); ; {
		if err := evaluate(wait, `[...document.querySelectorAll("#transcript li.caller")].map(li => li.textContent)`, &said); err != nil {
			t.Fatal(err)
		}
		if len(said) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // polling the page, not a race
	}
	if len(said) < 3 || !slices.Equal(said, lines[:len(said)]) {
		t.Errorf("the page showed the caller saying %q, want the script's lines in order %q", said, lines)
	}
	var agent []string
	if err := evaluate(wait, `[...document.querySelectorAll("#transcript li.agent")].map(li => li.textContent)`, &agent); err != nil {
		t.Fatal(err)
	}
	if len(agent) < len(said)-1 || !slices.Contains(agent, "We are open Monday to Friday, nine to five.") {
		t.Errorf("the agent's replies on the page: %q", agent)
	}
	if path := os.Getenv("IACE_UI_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(wait, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case rep := <-reports:
		if rep.CallsCompleted != 1 {
			t.Errorf("the call did not complete: %+v", rep)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the call did not end")
	}
}
