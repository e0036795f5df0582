package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestTheConsoleFollowsAMovedCall: a supervisor on node a's page listens
// to a call that node b holds and has their microphone on; b drains, and
// the call moves to a. The page opens listening and the microphone again
// by itself, on a: new WHEP and WHIP sessions named for node a, over which
// the call's audio is heard (the caller's question on a and its answer)
// and the microphone sent. Before, both stayed closed when b closed them,
// and the supervisor had to turn them on again.
func TestTheConsoleFollowsAMovedCall(t *testing.T) {
	dir := t.TempDir()
	wav := filepath.Join(dir, "mic.wav")
	writeMicWAV(t, wav)
	bctx := browser(t.Context(), t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav))
	r := newClusterRig(t, "--webrtc-loopback", "true")
	a := &served{server: r.a, logs: r.aLogs}
	wait, cancel := context.WithTimeout(bctx, 150*time.Second)
	defer cancel()
	logIn(wait, bctx, t, a, r.aBase, "admin@acme.example", "a long enough password")

	ccid := "v3:console-move-" + rand.Text()[:8]
	first := r.askOnB(t, ccid)
	openLiveCall(wait, t, a)
	if err := evaluate(wait, `(iace.micConstraints = {audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}}, true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	for _, sel := range []string{"#listen", "#talk"} {
		if err := chromedp.Do(wait, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}
	var page consolePage
	page.await(wait, t, r, "listening and talking on b", func() bool {
		return page.on("node-b") && page.Heard.PacketsReceived >= 25 && page.Sent.PacketsSent >= 25
	})

	// b drains: Telnyx opens the call's new stream to a.
	if err := r.b.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	drained := time.Now()
	wctx, wcancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer wcancel()
	start, err := r.tx.WaitApplied(wctx, "streaming_start", ccid)
	if err != nil {
		t.Fatalf("b did not ask Telnyx for a new stream: %v\n%s", err, r.bLogs.String())
	}
	second := r.stream(t, ccid, fmt.Sprint(start.Body["stream_url"]), r.aBase, "s2-"+ccid, "how much does it cost")
	waitClosed(t, first, "the old stream after the move")
	moved := time.Now()

	// The page opens both again, on a, and hears the call go on there.
	page.await(wait, t, r, "listening and talking again on a", func() bool { return page.on("node-a") })
	t.Logf("sessions open again on a %v after b was told to drain, %v after the old stream closed",
		time.Since(drained).Round(10*time.Millisecond), time.Since(moved).Round(10*time.Millisecond))
	page.await(wait, t, r, "the call's audio and the microphone on a", func() bool {
		return page.Heard.PacketsReceived >= 25 && page.Sent.PacketsSent >= 25
	})
	second.say(t, "how_much_does_it_cost")
	page.await(wait, t, r, "the call heard on a", func() bool {
		return page.Heard.TotalAudioEnergy > 0 && strings.Contains(page.Transcript, "how much does it cost")
	})
	if page.Heard.Codec != "audio/PCMU" || page.Sent.Codec != "audio/PCMU" {
		t.Errorf("codecs after the move: heard %q, sent %q, want audio/PCMU", page.Heard.Codec, page.Sent.Codec)
	}
	if !strings.Contains(page.Events, "the call moved to another server; listening and talking again") {
		t.Errorf("the page's events do not tell the move:\n%s", page.Events)
	}
	if strings.Contains(page.Events, "call ended") {
		t.Errorf("the page showed the moved call ended:\n%s", page.Events)
	}
}

// consolePage is what the supervisor's page shows of the open call.
type consolePage struct {
	Sessions struct{ Listen, Talk string }
	Heard    struct {
		PacketsReceived  float64 `json:"packetsReceived"`
		TotalAudioEnergy float64 `json:"totalAudioEnergy"`
		Codec            string  `json:"codec"`
	}
	Sent struct {
		PacketsSent float64 `json:"packetsSent"`
		Codec       string  `json:"codec"`
	}
	Transcript, Events string
}

// on reports whether the page listens and talks through sessions of node.
func (p *consolePage) on(node string) bool {
	return strings.HasPrefix(p.Sessions.Listen, "/whep/sessions/"+node+".") &&
		strings.HasPrefix(p.Sessions.Talk, "/whip/sessions/"+node+".")
}

// await reads the page until cond holds, or fails the test with what the
// page showed last.
func (p *consolePage) await(wait context.Context, t *testing.T, r *clusterRig, what string, cond func() bool) {
	t.Helper()
	const read = `(async () => ({sessions: iace.sessions(), heard: await iace.stats(), sent: await iace.talkStats(),
		transcript: document.getElementById("transcript").innerText, events: document.getElementById("events").innerText}))()`
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err := evaluate(wait, read, p); err != nil {
			t.Fatalf("%s: read the page: %v", what, err)
		}
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s; the page: %+v\na:\n%s\nb:\n%s", what, *p, r.aLogs.String(), r.bLogs.String())
		}
		time.Sleep(100 * time.Millisecond) // polling the page, not a race
	}
}
