package session_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai/deepgram"
	"github.com/iace/iace/ai/deepgram/deepgramtest"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// The barge-in corpus of media/vad (docs/BARGE-IN.md).
const corpus = "../media/vad/testdata/bargein/"

// overTheReply asks the opening hours, waits for the reply's first audio
// and plays clip over it 300 ms in; it returns the peer.
func overTheReply(t *testing.T, ts *testServer, params map[string]string, clips ...string) *peer {
	t.Helper()
	p := dialPeer(t, ts.url, params)
	p.expect("greeting end mark", 10*time.Second, isMark("-end"))
	waitFor(t, "the greeting to play", func() bool { return callState(ts) == session.StateListening })
	p.speak(readWAV(t, "testdata/what_are_your_opening_hours.wav"))
	p.expect("reply start mark", 5*time.Second, isMark("-start"))
	time.Sleep(300 * time.Millisecond) //nolint:forbidigo // lets the reply play a little, as a caller would; nothing races on it
	for _, c := range clips {
		p.speak(readWAV(t, corpus+c))
		p.speak(make([]int16, 8000/2)) // half a second of silence between sounds
	}
	return p
}

// noClearUntilEnd fails if a clear comes before the reply's end mark.
func noClearUntilEnd(t *testing.T, p *peer) {
	t.Helper()
	r := p.expect("the reply's end mark or a clear", 15*time.Second, func(r received) bool {
		return r.event == "clear" || isMark("-end")(r)
	})
	if r.event == "clear" {
		t.Fatal("the agent was cut off")
	}
}

func hangUp(t *testing.T, ts *testServer, p *peer) session.CallSummary {
	t.Helper()
	waitFor(t, "the reply to play", func() bool { return callState(ts) == session.StateListening })
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x",
		"stop": map[string]any{"call_control_id": "v3:test-ccid"}})
	sum := ts.summary(t)
	p.close()
	return sum
}

// TestNoiseOverTheAgentDoesNotCutItOff: a door knock and a cough while the
// agent answers hold its audio for a moment and let it go on; it says its
// whole reply, and neither sound becomes a turn.
func TestNoiseOverTheAgentDoesNotCutItOff(t *testing.T) {
	ts := newTestServer(t, nil)
	p := overTheReply(t, ts, map[string]string{local.SimScriptParam: "what are your opening hours"}, "ns_knock.wav", "ns_cough.wav")
	noClearUntilEnd(t, p)
	sum := hangUp(t, ts, p)
	if sum.Stats.BargeIns != 0 {
		t.Errorf("%d barge-ins, want 0", sum.Stats.BargeIns)
	}
	var got []string
	for _, tr := range sum.Transcript {
		got = append(got, string(tr.Speaker)+": "+tr.Text)
	}
	want := []string{"assistant: " + store.DefaultAgent().Greeting, "user: what are your opening hours",
		"assistant: We are open Monday to Friday, nine to five."}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || sum.Transcript[2].Interrupted {
		t.Errorf("transcript:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestABackchannelOverTheAgentDoesNotCutItOffButWordsDo: with a
// transcriber that streams interim words (the fake Deepgram), "Okay." over
// the agent's reply lets it go on, and its words do not reach the next
// turn; "Wait, how much does it cost?" cuts it, and is answered.
func TestABackchannelOverTheAgentDoesNotCutItOffButWordsDo(t *testing.T) {
	_, stt := fakeDeepgram(t, deepgramtest.Config{
		Transcripts:  []string{"What are your opening hours?", "Okay.", "What are your opening hours?", "Sorry, how much does it cost?"},
		InterimEvery: 100 * time.Millisecond,
	}, nil)
	ts := newTestServerWith(t, nil, func(d *session.Deps) { d.STT = stt })

	p := overTheReply(t, ts, nil, "bc_okay_c1.wav")
	noClearUntilEnd(t, p)
	waitFor(t, "the reply to play", func() bool { return callState(ts) == session.StateListening })

	// A question over the next answer cuts it.
	p.speak(readWAV(t, "testdata/what_are_your_opening_hours.wav"))
	p.expect("second reply start mark", 5*time.Second, isMark("-start"))
	p.speak(readWAV(t, "testdata/sorry_can_you_say_that_again_a_bit_more_slowly_please.wav"))
	p.expect("clear after the interruption", 3*time.Second, func(r received) bool { return r.event == "clear" })
	p.expect("the answer to the interruption", 15*time.Second, isMark("-end"))
	sum := hangUp(t, ts, p)

	if sum.Stats.BargeIns != 1 {
		t.Errorf("%d barge-ins, want 1", sum.Stats.BargeIns)
	}
	var users []string
	for _, tr := range sum.Transcript {
		if tr.Speaker == "user" {
			users = append(users, tr.Text)
		}
	}
	// The fake hears every utterance it finalizes as its next line: the
	// backchannel's "Okay." is dropped.
	want := []string{"What are your opening hours?", "What are your opening hours?", "Sorry, how much does it cost?"}
	if strings.Join(users, "|") != strings.Join(want, "|") {
		t.Errorf("the caller's turns: %q; want %q", users, want)
	}
}

// fakeDeepgram starts the fake Deepgram of cfg and a client of it, changed
// by mutate; both are closed when the test ends.
func fakeDeepgram(t *testing.T, cfg deepgramtest.Config, mutate func(*deepgram.Config)) (*deepgramtest.Server, *deepgram.Client) {
	t.Helper()
	dg := deepgramtest.NewServer(cfg)
	t.Cleanup(dg.Close)
	c := deepgram.DefaultConfig()
	c.BaseURL, c.APIKey = dg.URL(), deepgramtest.DefaultAPIKey
	c.Registerer = prometheus.NewRegistry()
	c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if mutate != nil {
		mutate(&c)
	}
	stt, err := deepgram.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stt.Close() })
	return dg, stt
}
