package session_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// interimTranscriber is the simulated transcriber, but each final
// transcript is preceded by an interim one of its first word, as a
// streaming transcriber sends them.
type interimTranscriber struct{ local.SimTranscriber }

func (it *interimTranscriber) Open(ctx context.Context, cfg ai.TranscribeConfig) (ai.TranscriptStream, error) {
	inner, err := it.SimTranscriber.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &interimStream{TranscriptStream: inner, out: make(chan ai.Transcript, 16)}, nil
}

type interimStream struct {
	ai.TranscriptStream
	out  chan ai.Transcript
	once sync.Once
}

// EndOfSpeech has the simulator put its final out, which it does at once,
// and passes it on after an interim.
func (s *interimStream) EndOfSpeech() error {
	if err := s.TranscriptStream.EndOfSpeech(); err != nil {
		return err
	}
	final := <-s.TranscriptStream.Results()
	first, _, _ := strings.Cut(final.Text, " ")
	s.out <- ai.Transcript{Text: first}
	s.out <- final
	return nil
}

func (s *interimStream) Results() <-chan ai.Transcript { return s.out }

func (s *interimStream) Close() error {
	err := s.TranscriptStream.Close()
	s.once.Do(func() { close(s.out) })
	return err
}

// liveServer runs calls answered by the demo agent of org-a, with caller
// turns scored by the lexicon.
func liveServer(t *testing.T, buffer int, reg prometheus.Registerer) *testServer {
	t.Helper()
	agent := store.DefaultAgent()
	agent.OrgID = "org-a"
	return newTestServerWith(t, func(c *session.Config, _ *telnyx.ConnConfig) {
		c.LiveEventBuffer = buffer
	}, func(d *session.Deps) {
		agents, err := store.NewStaticAgents([]store.Agent{agent})
		if err != nil {
			t.Fatal(err)
		}
		d.Agents = agents
		d.STT = &interimTranscriber{}
		d.Sentiment = local.NewLexiconSentiment()
		d.Metrics = session.NewMetrics(reg)
	})
}

// collector reads a subscription to its end in the background.
type collector struct {
	mu   sync.Mutex
	evs  []session.LiveEvent
	done chan struct{}
}

func collect(sub *session.Subscription) *collector {
	c := &collector{done: make(chan struct{})}
	go func() { // ends when the subscription does
		defer close(c.done)
		for ev := range sub.Events() {
			c.mu.Lock()
			c.evs = append(c.evs, ev)
			c.mu.Unlock()
		}
	}()
	return c
}

// has reports whether an event of kind k has come.
func (c *collector) has(k session.LiveKind) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range c.evs {
		if ev.Kind == k {
			return true
		}
	}
	return false
}

// all waits for the subscription's end and returns every event it got.
func (c *collector) all(t *testing.T) []session.LiveEvent {
	t.Helper()
	select {
	case <-c.done:
		return c.evs
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription did not end")
		return nil
	}
}

// nextEvent waits for sub's next event.
func nextEvent(t *testing.T, sub *session.Subscription) session.LiveEvent {
	t.Helper()
	select {
	case ev, ok := <-sub.Events():
		if !ok {
			t.Fatal("the subscription ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no live event")
		return session.LiveEvent{}
	}
}

// TestLiveEventsFollowTheCall: a subscriber of a call gets, in order, what
// a dashboard shows: the state, the caller's words (interim, then final),
// the agent's reply and where the caller cut it off, the score of the
// caller's turn and the prediction it moved, the keypad without its digit,
// and the end. The organization's live list sees the call start, change
// and end; another organization's sees nothing of it, and cannot subscribe.
func TestLiveEventsFollowTheCall(t *testing.T) {
	ts := liveServer(t, 256, nil)
	list, err := ts.engine.SubscribeLive("org-a")
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	other, err := ts.engine.SubscribeLive("org-b")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if ev := nextEvent(t, list); ev.Kind != session.LiveSnapshot || len(ev.Calls) != 0 {
		t.Fatalf("the live list opened with %+v, want an empty snapshot", ev)
	}

	hours := readWAV(t, "testdata/what_are_your_opening_hours.wav")
	long := readWAV(t, "testdata/sorry_can_you_say_that_again_a_bit_more_slowly_please.wav")
	p := dialPeer(t, ts.url, map[string]string{local.SimScriptParam: "what are your opening hours|how much does it cost"})
	started := nextEvent(t, list)
	if started.Kind != session.LiveStarted || started.Call == nil || started.Call.OrgID != "org-a" {
		t.Fatalf("the live list's first event %+v, want the call started", started)
	}
	id := started.CallID
	for _, tc := range []struct {
		org store.OrgID
		id  session.CallID
	}{{"org-b", id}, {"org-a", "no-such-call"}} {
		if _, err := ts.engine.SubscribeCall(tc.org, tc.id); !errors.Is(err, session.ErrCallNotLive) {
			t.Errorf("%s subscribed to call %s: %v, want ErrCallNotLive", tc.org, tc.id, err)
		}
	}
	p.expect("greeting end mark", 10*time.Second, isMark("-end"))
	waitFor(t, "the greeting to play", func() bool { return callState(ts) == session.StateListening })
	sub, err := ts.engine.SubscribeCall("org-a", id)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	events := collect(sub)

	p.speak(hours)
	p.expect("reply audio", 5*time.Second, func(r received) bool { return r.event == "media" })
	time.Sleep(300 * time.Millisecond) //nolint:forbidigo // lets the reply play a little, as a caller would; nothing races on it
	p.speak(long)
	p.expect("clear after barge-in", 3*time.Second, func(r received) bool { return r.event == "clear" })
	p.expect("second reply end mark", 15*time.Second, isMark("-end"))
	waitFor(t, "the second reply to play", func() bool { return callState(ts) == session.StateListening })
	p.send(map[string]any{"event": "dtmf", "stream_id": "x", "sequence_number": p.nextSeq(),
		"occurred_at": time.Now().UTC().Format(time.RFC3339Nano), "dtmf": map[string]any{"digit": "5"}})
	waitFor(t, "the key to reach the session", func() bool { return events.has(session.LiveDTMF) })
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x",
		"stop": map[string]any{"call_control_id": "v3:test-ccid"}})
	sum := ts.summary(t)
	p.close()
	evs := events.all(t)

	if len(sum.Transcript) != 5 || !sum.Transcript[2].Interrupted || sum.Transcript[1].Sentiment == nil {
		t.Fatalf("the call went otherwise than planned: %+v", sum.Transcript)
	}
	heard := sum.Transcript[2].Text
	if first := evs[0]; first.Kind != session.LiveSnapshot || first.Call == nil || first.Call.ID != id || first.State != session.StateListening {
		t.Errorf("first event %+v, want a snapshot of the listening call", first)
	}
	if last := evs[len(evs)-1]; last.Kind != session.LiveEnded || last.Reason != string(session.EndHangup) {
		t.Errorf("last event %+v, want ended (hangup)", last)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq || evs[i].CallID != id {
			t.Fatalf("event %d: seq %d after %d, call %q: want increasing numbers, all of the call", i, evs[i].Seq, evs[i-1].Seq, evs[i].CallID)
		}
	}

	// The milestones, in this order; other events come between them.
	type want struct {
		what string
		ok   func(session.LiveEvent) bool
	}
	is := func(k session.LiveKind, turn int, text string) func(session.LiveEvent) bool {
		return func(ev session.LiveEvent) bool { return ev.Kind == k && ev.Turn == turn && ev.Text == text }
	}
	state := func(st session.State) func(session.LiveEvent) bool {
		return func(ev session.LiveEvent) bool { return ev.Kind == session.LiveState && ev.State == st }
	}
	final := func(text string) func(session.LiveEvent) bool {
		return func(ev session.LiveEvent) bool {
			return ev.Kind == session.LiveTranscript && ev.Final && ev.Text == text
		}
	}
	milestones := []want{
		{"the caller's interim words", func(ev session.LiveEvent) bool {
			return ev.Kind == session.LiveTranscript && !ev.Final && ev.Text == "what"
		}},
		{"the caller's final words", final("what are your opening hours")},
		{"the caller's turn (2)", is(session.LiveCallerTurn, 2, "what are your opening hours")},
		{"thinking", state(session.StateThinking)},
		{"the reply's latency", func(ev session.LiveEvent) bool {
			return ev.Kind == session.LiveLatency && ev.Turn == 3 && ev.ReplyLatency > 0 && ev.Latency.Endpoint > 0
		}},
		{"the reply's text", is(session.LiveAgentText, 3, "We are open Monday to Friday, nine to five.")},
		{"the barge-in, where it cut", is(session.LiveBargeIn, 3, heard)},
		{"the reply's end, interrupted", func(ev session.LiveEvent) bool {
			return is(session.LiveAgentTurn, 3, heard)(ev) && ev.Interrupted
		}},
		{"the caller's second words", final("how much does it cost")},
		{"the caller's turn (4)", is(session.LiveCallerTurn, 4, "how much does it cost")},
		{"the second reply's end", is(session.LiveAgentTurn, 5, "Our basic plan costs twenty dollars a month.")},
		{"the key, without its digit", func(ev session.LiveEvent) bool { return ev.Kind == session.LiveDTMF && ev.Digit == "" }},
		{"ending", state(session.StateEnding)},
		{"the end", func(ev session.LiveEvent) bool { return ev.Kind == session.LiveEnded }},
	}
	at, said := 0, 0
	for i, m := range milestones {
		for at < len(evs) && !m.ok(evs[at]) {
			at++
		}
		if at == len(evs) {
			t.Fatalf("no %s in order; events:\n%s", m.what, describe(evs))
		}
		if i == 2 {
			said = at // the caller's first turn
		}
		at++
	}
	// The first turn's score comes back in the background, after the turn;
	// the prediction it moves follows it.
	scored := -1
	for i, ev := range evs {
		if ev.Kind == session.LiveSentiment && ev.Turn == 2 {
			scored = i
			if ev.Sentiment != *sum.Transcript[1].Sentiment {
				t.Errorf("sentiment %v, the record says %v", ev.Sentiment, *sum.Transcript[1].Sentiment)
			}
			break
		}
	}
	if scored < said || scored+1 >= len(evs) || evs[scored+1].Kind != session.LivePrediction {
		t.Fatalf("no sentiment for turn 2 after it, followed by a prediction; events:\n%s", describe(evs))
	}

	// The live list: the call's changes, then its end; nothing of it for
	// another organization.
	var listed []session.LiveEvent
	for {
		ev := nextEvent(t, list)
		listed = append(listed, ev)
		if ev.Kind == session.LiveEnded {
			break
		}
	}
	var sawState, sawPrediction bool
	for _, ev := range listed {
		if ev.CallID != id || ev.Text != "" {
			t.Errorf("live list event %+v: want only the call's state, prediction and end", ev)
		}
		sawState = sawState || ev.Kind == session.LiveState
		sawPrediction = sawPrediction || ev.Kind == session.LivePrediction
	}
	if !sawState || !sawPrediction {
		t.Errorf("the live list got %s, want state and prediction changes", describe(listed))
	}
	if n := len(other.Events()); n != 1 { // its snapshot; publishing is synchronous
		t.Errorf("another organization's live list holds %d events, want its snapshot only", n)
	}
}

// TestASlowSubscriberIsDroppedAndTheCallGoesOn: a subscriber that reads
// nothing is dropped once its buffer is full, its last event saying why;
// the call is answered and ends as it would have.
func TestASlowSubscriberIsDroppedAndTheCallGoesOn(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := liveServer(t, 4, reg)
	hours := readWAV(t, "testdata/what_are_your_opening_hours.wav")
	p := dialPeer(t, ts.url, map[string]string{local.SimScriptParam: "what are your opening hours"})
	p.expect("greeting end mark", 10*time.Second, isMark("-end"))
	waitFor(t, "the greeting to play", func() bool { return callState(ts) == session.StateListening })
	calls := ts.engine.Registry().List()
	if len(calls) != 1 {
		t.Fatalf("%d live calls", len(calls))
	}
	slow, err := ts.engine.SubscribeCall("org-a", calls[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()

	p.speak(hours)
	p.expect("reply end mark", 10*time.Second, isMark("-end"))
	waitFor(t, "the reply to play", func() bool { return callState(ts) == session.StateListening })
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x", "stop": map[string]any{}})
	sum := ts.summary(t)
	p.close()

	if sum.EndReason != session.EndHangup || len(sum.Transcript) != 3 || sum.Transcript[2].Interrupted ||
		sum.Transcript[2].Text != "We are open Monday to Friday, nine to five." {
		t.Fatalf("the call: %s, %+v; want the question answered in full, then the hang-up", sum.EndReason, sum.Transcript)
	}
	var got []session.LiveEvent
	for ev := range slow.Events() { // closed: the subscription is over
		got = append(got, ev)
	}
	if len(got) != 5 || got[0].Kind != session.LiveSnapshot || got[4].Kind != session.LiveDropped || got[4].Reason != session.DroppedSlow {
		t.Errorf("the slow subscriber got %s, want its 4 events then dropped (slow)", describe(got))
	}
	if v := counterValue(t, reg, "iace_session_live_subscribers_dropped_total"); v != 1 {
		t.Errorf("%v subscribers dropped, want 1", v)
	}
	if v := counterValue(t, reg, "iace_session_live_events_dropped_total"); v < 1 {
		t.Errorf("%v events dropped, want at least the one that found the buffer full", v)
	}
	if v := gaugeValue(t, reg, "iace_session_live_subscribers"); v != 0 {
		t.Errorf("%v subscribers open after the call", v)
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	ms := family(t, reg, name).GetMetric()
	if len(ms) != 1 {
		t.Fatalf("gauge %s has %d series, want 1", name, len(ms))
	}
	return ms[0].GetGauge().GetValue()
}

// describe lists events for a failure message.
func describe(evs []session.LiveEvent) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%d %s turn=%d state=%s final=%v interrupted=%v text=%q digit=%q reason=%q\n",
			ev.Seq, ev.Kind, ev.Turn, ev.State, ev.Final, ev.Interrupted, ev.Text, ev.Digit, ev.Reason)
	}
	return b.String()
}
