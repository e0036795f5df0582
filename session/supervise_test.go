package session_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// supervisorTone is the supervisor's voice in these tests: 1.5 kHz, far
// from the agent's tones (220-440 Hz), on for 600 ms and off for 600 ms,
// 20 ms frames of PCMU.
func supervisorTone(seconds float64) [][]byte {
	var frames [][]byte
	for f := 0; f < int(seconds*50); f++ {
		frame := make([]byte, 160)
		pcm := make([]int16, 160)
		if (f/30)%2 == 0 {
			for i := range pcm {
				n := f*160 + i
				pcm[i] = int16(8000 * math.Sin(2*math.Pi*1500*float64(n)/8000))
			}
		}
		media.EncodeULawTo(frame, pcm)
		frames = append(frames, frame)
	}
	return frames
}

// toneShare is the share of audio's power (PCMU) at the supervisor's 1.5
// kHz: near 1 for the supervisor, near 0 for the agent and silence.
func toneShare(audio []byte) float64 {
	pcm := make([]int16, len(audio))
	media.DecodeULawTo(pcm, audio)
	w := 2 * math.Pi * 1500 / 8000
	coeff := 2 * math.Cos(w)
	var s1, s2, energy float64
	for _, x := range pcm {
		s := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s
		energy += float64(x) * float64(x)
	}
	if energy < float64(len(pcm))*500*500 {
		return 0 // quiet
	}
	return 2 * (s1*s1 + s2*s2 - coeff*s1*s2) / (float64(len(pcm)) * energy)
}

// speakInto feeds frames to v in real time, as WebRTC delivers a
// microphone, until they run out or stop is closed.
func speakInto(v *session.Voice, frames [][]byte, stop <-chan struct{}) {
	tick := time.NewTicker(media.FrameDuration)
	defer tick.Stop()
	for _, f := range frames {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		v.Audio(f)
	}
}

// TestASupervisorWhispersTakesOverAndBargesIn follows one call through
// every role: a whisper reaches the model's next request (and only as
// guidance for it); in takeover the caller hears the supervisor's
// microphone and the AI is silent, the caller's words kept unanswered;
// handed back, the AI answers again; in barge the supervisor's voice cuts
// the AI's reply (a clear) and is heard; when their microphone closes the
// call goes back to monitor. Each switch is an event of the record and a
// live event.
func TestASupervisorWhispersTakesOverAndBargesIn(t *testing.T) {
	model := &recordingModel{}
	agent := store.DefaultAgent()
	agent.OrgID = "org-a"
	ts := newTestServerWith(t, nil, func(d *session.Deps) {
		agents, err := store.NewStaticAgents([]store.Agent{agent})
		if err != nil {
			t.Fatal(err)
		}
		d.Agents, d.Chat = agents, model
	})
	list, err := ts.engine.SubscribeLive("org-a")
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	nextEvent(t, list) // the empty snapshot
	hours := readWAV(t, "testdata/what_are_your_opening_hours.wav")
	p := dialPeer(t, ts.url, map[string]string{local.SimScriptParam: "what are your opening hours|how much does it cost|where are you located|what are your opening hours"})
	id := nextEvent(t, list).CallID
	p.expect("greeting end mark", 10*time.Second, isMark("t1-end"))
	sub, err := ts.engine.SubscribeCall("org-a", id)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	events := collect(sub)

	// Refusals: another organization, an unknown role, an empty whisper.
	if err := ts.engine.Supervise("org-b", id, session.RoleTakeover); !errors.Is(err, session.ErrCallNotFound) {
		t.Errorf("another organization took the call over: %v", err)
	}
	if err := ts.engine.Supervise("org-a", id, "mute"); !errors.Is(err, session.ErrInvalidRole) {
		t.Errorf("an unknown role: %v", err)
	}
	if err := ts.engine.Whisper("org-a", id, "  "); !errors.Is(err, session.ErrInvalidWhisper) {
		t.Errorf("an empty whisper: %v", err)
	}
	if _, err := ts.engine.Voice("org-b", id); !errors.Is(err, session.ErrCallNotFound) {
		t.Errorf("another organization opened a microphone: %v", err)
	}

	// Whisper: the next request carries the guidance after the caller's words.
	const guidance = "Offer the caller our weekend hours too"
	if err := ts.engine.Supervise("org-a", id, session.RoleWhisper); err != nil {
		t.Fatal(err)
	}
	if err := ts.engine.Whisper("org-a", id, guidance); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the whisper to reach the call", func() bool { return events.has(session.LiveWhisper) })
	p.speak(hours)
	p.expect("first reply end mark", 15*time.Second, isMark("t2-end"))
	reqs := model.all()
	if len(reqs) != 1 {
		t.Fatalf("%d model requests, want 1", len(reqs))
	}
	msgs := reqs[0].Messages
	if last := msgs[len(msgs)-1]; last.Role != ai.RoleSystem || !strings.Contains(last.Content, guidance) || msgs[len(msgs)-2].Role != ai.RoleUser {
		t.Errorf("the request after the whisper ends with %+v, want the guidance after the caller's words", msgs[len(msgs)-2:])
	}

	// Takeover: the supervisor's microphone reaches the caller; the AI
	// does not answer the caller's next words.
	v, err := ts.engine.Voice("org-a", id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.engine.Voice("org-a", id); !errors.Is(err, session.ErrVoiceTaken) {
		t.Errorf("a second microphone on the call: %v", err)
	}
	if err := ts.engine.Supervise("org-a", id, session.RoleTakeover); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the takeover", func() bool {
		r, _ := ts.engine.SupervisorRole("org-a", id)
		return r == session.RoleTakeover
	})
	stop := make(chan struct{})
	spoke := make(chan struct{})
	go func() { defer close(spoke); speakInto(v, supervisorTone(3), stop) }()
	p.expect("the supervisor's voice", 5*time.Second, func(r received) bool { return r.event == "media" && toneShare(r.audio) > 0.8 })
	<-spoke
	p.speak(readWAV(t, "testdata/what_are_your_opening_hours.wav")) // "how much does it cost", by the script
	waitFor(t, "the caller's words in takeover", func() bool { return countKind(events, session.LiveCallerTurn) == 2 })
	if n := len(model.all()); n != 1 {
		t.Errorf("the model was asked %d times, want once: the AI answered during the takeover", n)
	}

	// Barge: handed back, the AI answers; the supervisor speaking over
	// its reply cuts it and is heard.
	if err := ts.engine.Supervise("org-a", id, session.RoleBarge); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the barge", func() bool {
		r, _ := ts.engine.SupervisorRole("org-a", id)
		return r == session.RoleBarge
	})
	p.speak(hours) // "where are you located"
	p.expect("the reply after the takeover", 15*time.Second, isMark("t3-start"))
	go func() { speakInto(v, supervisorTone(1.2), stop) }()
	p.expect("the AI cut for the supervisor", 5*time.Second, func(r received) bool { return r.event == "clear" })
	p.expect("the supervisor's voice in the barge", 5*time.Second, func(r received) bool { return r.event == "media" && toneShare(r.audio) > 0.8 })
	close(stop)

	// The microphone closes: back to monitor.
	v.Close()
	waitFor(t, "monitor again", func() bool {
		r, _ := ts.engine.SupervisorRole("org-a", id)
		return r == session.RoleMonitor
	})
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x", "stop": map[string]any{}})
	sum := ts.summary(t)
	p.close()
	// Ended: told so to its organization (its record may still be on its
	// way to the store), unknown to another.
	if err := ts.engine.Supervise("org-a", id, session.RoleBarge); !errors.Is(err, session.ErrCallEnded) {
		t.Errorf("a command to the ended call: %v, want ErrCallEnded", err)
	}
	if err := ts.engine.Supervise("org-b", id, session.RoleBarge); !errors.Is(err, session.ErrCallNotFound) || errors.Is(err, session.ErrCallEnded) {
		t.Errorf("another organization's command to the ended call: %v, want ErrCallNotFound alone", err)
	}

	var roles []string
	whispers := 0
	for _, e := range sum.Events {
		switch e.Kind {
		case session.EventSupervisorRole:
			roles = append(roles, e.Detail)
		case session.EventWhisper:
			whispers++
			if e.Detail != "" {
				t.Errorf("the record keeps the whisper's text: %q", e.Detail)
			}
		}
	}
	if want := []string{"whisper", "takeover", "barge", "monitor"}; !slices.Equal(roles, want) || whispers != 1 {
		t.Errorf("the record's role switches %q and %d whispers, want %q and 1", roles, whispers, want)
	}
	// The caller's words in the takeover stand unanswered in the transcript.
	for i, tr := range sum.Transcript {
		if tr.Text == "how much does it cost" && (i+1 >= len(sum.Transcript) || sum.Transcript[i+1].Speaker != ai.RoleUser) {
			t.Errorf("the caller's words in the takeover were answered: %+v", sum.Transcript)
		}
	}
	var live []session.SupervisorRole
	for _, ev := range events.all(t) {
		if ev.Kind == session.LiveSupervisorRole {
			live = append(live, ev.Role)
		}
	}
	if !slices.Equal(live, []session.SupervisorRole{"whisper", "takeover", "barge", "monitor"}) {
		t.Errorf("live role events %q", live)
	}
	if reqs := model.all(); len(reqs) < 2 || !slices.ContainsFunc(reqs[1].Messages, func(m ai.Message) bool {
		return m.Role == ai.RoleSystem && strings.Contains(m.Content, "handed the call back")
	}) {
		t.Errorf("after the takeover the model was not told it has the call again")
	}
}

func countKind(c *collector, k session.LiveKind) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ev := range c.evs {
		if ev.Kind == k {
			n++
		}
	}
	return n
}
