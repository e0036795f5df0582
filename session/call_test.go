package session_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// testServer runs an engine behind a real WebSocket listener on loopback.
type testServer struct {
	engine *session.Engine
	url    string
	ended  chan session.CallSummary
}

func newTestServer(t *testing.T, mutate func(*session.Config, *telnyx.ConnConfig)) *testServer {
	t.Helper()
	return newTestServerWith(t, mutate, nil)
}

// newTestServerWith lets a test change the engine's parts too.
func newTestServerWith(t *testing.T, mutate func(*session.Config, *telnyx.ConnConfig), deps func(*session.Deps)) *testServer {
	t.Helper()
	cfg := session.DefaultConfig()
	conn := telnyx.DefaultConnConfig()
	conn.AllowUnauthenticated = true // the peer plays Telnyx without a stream token
	if mutate != nil {
		mutate(&cfg, &conn)
	}
	eng, pacer, ended, log := newTestEngine(t, cfg, deps)
	srv := httptest.NewServer(telnyx.NewHandler(conn, eng, telnyx.NewMetrics(nil), log))
	t.Cleanup(func() {
		srv.Close()
		pacer.Close()
	})
	return &testServer{engine: eng, url: "ws" + strings.TrimPrefix(srv.URL, "http"), ended: ended}
}

// newTestEngine makes an engine with the offline providers, the default
// agent and a pacer of its own (the caller closes it); ended receives each
// call's summary.
func newTestEngine(t *testing.T, cfg session.Config, deps func(*session.Deps)) (eng *session.Engine, pacer *media.Pacer, ended chan session.CallSummary, log *slog.Logger) {
	t.Helper()
	pacer, err := media.NewPacer(media.DefaultPacerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	agents, err := store.NewStaticAgents([]store.Agent{store.DefaultAgent()})
	if err != nil {
		t.Fatal(err)
	}
	ended = make(chan session.CallSummary, 16)
	log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d := session.Deps{
		Agents: agents,
		STT:    local.NewSimTranscriber(),
		Chat:   local.NewRuleAgent(),
		Synth:  local.NewTones(),
		Pacer:  pacer,
		OnEnd:  func(_ context.Context, s session.CallSummary) { ended <- s },
		Log:    log,
	}
	if deps != nil {
		deps(&d)
	}
	eng, err = session.NewEngine(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	return eng, pacer, ended, log
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func (ts *testServer) summary(t *testing.T) session.CallSummary {
	t.Helper()
	select {
	case s := <-ts.ended:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end")
		return session.CallSummary{}
	}
}

func TestCallGreetsAnswersIsInterruptedAndEnds(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last: after the server and pacer closed
	ts := newTestServer(t, nil)
	hours := readWAV(t, "testdata/what_are_your_opening_hours.wav")
	long := readWAV(t, "testdata/sorry_can_you_say_that_again_a_bit_more_slowly_please.wav")
	p := dialPeer(t, ts.url, map[string]string{local.SimScriptParam: "what are your opening hours|how much does it cost"})

	// The agent greets as soon as the stream starts.
	p.expect("greeting audio", 3*time.Second, func(r received) bool { return r.event == "media" })
	p.expect("greeting start mark", time.Second, isMark("-start"))
	p.expect("greeting end mark", 10*time.Second, isMark("-end"))
	waitFor(t, "the greeting to play", func() bool { return callState(ts) == session.StateListening })

	// The caller asks; the agent answers after the caller stops.
	spokeUntil := p.speak(hours)
	reply := p.expect("reply audio", 5*time.Second, func(r received) bool { return r.event == "media" })
	if reply.at.Before(spokeUntil) {
		t.Fatalf("reply began %v before the caller finished", spokeUntil.Sub(reply.at))
	}
	t.Logf("reply latency from the last caller frame: %v", reply.at.Sub(spokeUntil))

	// The caller talks over the reply: the agent stops and clears Telnyx's queue.
	time.Sleep(300 * time.Millisecond) //nolint:forbidigo // lets the reply play a little, as a caller would; nothing races on it
	bargeAt := time.Now()
	p.speak(long)
	clear := p.expect("clear after barge-in", 3*time.Second, func(r received) bool { return r.event == "clear" })
	t.Logf("clear %v after the caller began", clear.at.Sub(bargeAt))

	// The interrupting utterance is answered too (script line two: the price).
	p.expect("second reply end mark", 15*time.Second, func(r received) bool {
		return r.event == "mark" && strings.HasSuffix(r.mark, "-end")
	})
	p.send(map[string]any{"event": "dtmf", "stream_id": "x", "sequence_number": p.nextSeq(),
		"occurred_at": time.Now().UTC().Format(time.RFC3339Nano), "dtmf": map[string]any{"digit": "5"}})
	waitFor(t, "the second reply to play", func() bool { return callState(ts) == session.StateListening })
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x",
		"stop": map[string]any{"call_control_id": "v3:test-ccid"}})

	sum := ts.summary(t)
	p.close()
	if sum.EndReason != session.EndHangup {
		t.Errorf("end reason %q, want hangup", sum.EndReason)
	}
	if sum.Stats.BargeIns != 1 || sum.Stats.DTMF != 1 {
		t.Errorf("barge-ins %d, dtmf %d: want 1 and 1", sum.Stats.BargeIns, sum.Stats.DTMF)
	}
	if sum.Stats.Concealed != 0 || sum.Stats.Late != 0 || sum.Stats.FramesIn < 400 {
		t.Errorf("frames in %d, concealed %d, late %d: want every frame, none lost", sum.Stats.FramesIn, sum.Stats.Concealed, sum.Stats.Late)
	}
	var got []string
	for _, tr := range sum.Transcript {
		got = append(got, string(tr.Speaker)+": "+tr.Text)
	}
	want := []string{
		"assistant: " + store.DefaultAgent().Greeting,
		"user: what are your opening hours",
		"assistant: We", // interrupted: only what was heard
		"user: how much does it cost",
		"assistant: Our basic plan costs twenty dollars a month.",
	}
	if len(got) != len(want) {
		t.Fatalf("transcript:\n%s\nwant %d turns", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("turn %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
	full := "assistant: We are open Monday to Friday, nine to five."
	if !sum.Transcript[2].Interrupted || !strings.HasPrefix(full, got[2]) || got[2] == full {
		t.Errorf("interrupted reply recorded as %q (interrupted=%v): want only the words heard", got[2], sum.Transcript[2].Interrupted)
	}
	if ts.engine.Registry().Len() != 0 {
		t.Errorf("registry still holds %d calls", ts.engine.Registry().Len())
	}
}

func callState(ts *testServer) session.State {
	calls := ts.engine.Registry().List()
	if len(calls) == 0 {
		return session.StateEnding
	}
	return calls[0].State
}

// waitFor polls cond: the session's state is only visible from outside
// through the registry.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) //nolint:forbidigo // polling an observable state, not ordering a race
	}
}

// TestASilentCallIsRepromptedThenEnded: a caller who says nothing after
// the greeting hears the reprompt after the idle timeout, and the call
// ends caller_silent after as long again, with the reprompt in its
// transcript.
func TestASilentCallIsRepromptedThenEnded(t *testing.T) {
	calls := &recordingCalls{}
	ts := newTestServerWith(t, func(c *session.Config, _ *telnyx.ConnConfig) { c.IdleTimeout = time.Second },
		func(d *session.Deps) { d.Calls = calls })
	p := dialPeer(t, ts.url, map[string]string{local.SimScriptParam: "hello"})
	p.expect("greeting end mark", 10*time.Second, isMark("t1-end"))
	p.expect("the reprompt", 5*time.Second, isMark("t2-start"))
	sum := ts.summary(t)
	p.close()
	if sum.EndReason != session.EndCallerSilent {
		t.Errorf("end reason %q, want caller_silent", sum.EndReason)
	}
	if n := len(sum.Transcript); n != 2 || sum.Transcript[1].Text != "Are you still there?" {
		t.Errorf("transcript %+v, want the greeting and the reprompt", sum.Transcript)
	}
	if o := sum.EndReason.Outcome(false); o != store.OutcomeAbandoned {
		t.Errorf("a caller who never spoke: %q, want abandoned", o)
	}
	// Closing the media stream alone would leave the line open in silence.
	calls.mu.Lock()
	defer calls.mu.Unlock()
	if want := []string{"hangup v3:test-ccid"}; !slices.Equal(calls.actions, want) {
		t.Errorf("Call Control was asked %q, want %q", calls.actions, want)
	}
}

// TestACallerWhoHangsUpIsNotHungUpAgain: the caller hung up (Telnyx sent
// stop): the call is over at Telnyx, and nothing is asked of Call Control.
func TestACallerWhoHangsUpIsNotHungUpAgain(t *testing.T) {
	calls := &recordingCalls{}
	ts := newTestServerWith(t, nil, func(d *session.Deps) { d.Calls = calls })
	p := dialPeer(t, ts.url, nil)
	p.expect("greeting end mark", 10*time.Second, isMark("-end"))
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x", "stop": map[string]any{}})
	sum := ts.summary(t)
	p.close()
	if sum.EndReason != session.EndHangup {
		t.Errorf("end reason %q, want hangup", sum.EndReason)
	}
	calls.mu.Lock()
	defer calls.mu.Unlock()
	if len(calls.actions) != 0 {
		t.Errorf("Call Control was asked %q after the caller hung up", calls.actions)
	}
}
