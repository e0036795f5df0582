package session

import (
	"testing"
	"time"
)

func TestBackchannelWords(t *testing.T) {
	def := newBackchannelWords(nil)
	for text, want := range map[string]bool{
		"Mm-hmm.":               true,
		"mm hmm":                true,
		"Yeah, okay.":           true,
		"I see.":                true,
		"All right, all right.": true,
		"uh-huh":                true,
		"Yeah, but":             false,
		"Okay, wait.":           false,
		"I see the problem.":    false,
		"No.":                   false,
		"":                      false,
		" ... ":                 false,
	} {
		if got := def.only(text); got != want {
			t.Errorf("default backchannels, %q: %v, want %v", text, got, want)
		}
	}
	fr := newBackchannelWords([]string{"d'accord", "oui", "je vois"})
	if !fr.only("Oui, d'accord.") || !fr.only("je vois") || fr.only("okay") {
		t.Error("an agent's own backchannels replace the defaults")
	}
}

func TestEndsTurn(t *testing.T) {
	for _, tc := range []struct {
		text        string
		speechFinal bool
		want        bool
	}{
		{"I want to change my delivery address.", false, true},
		{"What are your opening hours?", false, true},
		{"My order number is four five nine two.", false, true},
		{"I want to, um.", false, false},        // a filler, whatever the punctuation
		{"My order number is...", false, false}, // trailing off
		{"I want to change", false, false},      // no sentence end
		{"I want to change", true, true},        // an unpunctuating transcriber judged it over
		{"I want to", true, false},              // but not on a word a sentence goes on after
		{"Well, I want to change", true, false}, // punctuated text that does not end a sentence
		{"", true, false},
	} {
		if got := endsTurn(tc.text, tc.speechFinal); got != tc.want {
			t.Errorf("endsTurn(%q, speech_final %v) = %v, want %v", tc.text, tc.speechFinal, got, tc.want)
		}
	}
}

// TestBargeGate drives the gate through each way a sound over the agent
// can go, with time passed in.
func TestBargeGate(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		do   string // start, notspeech, bargein, words:<text>, end, tick
		ms   int
		want bargeAction
	}
	for _, tc := range []struct {
		name  string
		words bool
		steps []step
	}{
		{"a noise is held then resumed", false, []step{
			{"start", 0, bargeHold}, {"notspeech", 200, bargeResume}, {"end", 700, bargeNone}}},
		{"offline, voiced speech cuts at once", false, []step{
			{"start", 0, bargeHold}, {"bargein", 150, bargeCut}, {"end", 900, bargeNone}}},
		{"a short sound that ends is resumed", false, []step{
			{"start", 0, bargeHold}, {"end", 400, bargeResume}}},
		{"with words, a backchannel is resumed at the caller's pause", true, []step{
			{"start", 0, bargeHold}, {"bargein", 150, bargeNone}, {"words:Mm-hmm.", 300, bargeNone},
			{"tick", 700, bargeNone}, {"pause", 720, bargeResume}, {"end", 1200, bargeNone}}},
		{"with words, a backchannel that ends without a pause is resumed", true, []step{
			{"start", 0, bargeHold}, {"bargein", 150, bargeNone}, {"words:Yeah", 300, bargeNone}, {"end", 620, bargeResume}}},
		{"with words, more words after a resumed backchannel cut", true, []step{
			{"start", 0, bargeHold}, {"bargein", 150, bargeNone}, {"words:Okay.", 300, bargeNone},
			{"pause", 500, bargeResume}, {"words:Okay. But I", 800, bargeCut}, {"end", 1500, bargeNone}}},
		{"a pause before any word changes nothing", true, []step{
			{"start", 0, bargeHold}, {"bargein", 150, bargeNone}, {"pause", 300, bargeNone}, {"tick", 650, bargeCut}}},
		{"with words, a real word cuts before the wait runs out", true, []step{
			{"start", 0, bargeHold}, {"bargein", 150, bargeNone}, {"words:Wait,", 320, bargeCut}}},
		{"with words, a real word cuts even before the VAD decides", true, []step{
			{"start", 0, bargeHold}, {"words:Stop", 120, bargeCut}, {"bargein", 150, bargeNone}}},
		{"with words, no word within the wait cuts", true, []step{
			{"start", 0, bargeHold}, {"bargein", 150, bargeNone}, {"tick", 649, bargeNone}, {"tick", 650, bargeCut}}},
		{"with words, a backchannel then more speech cuts", true, []step{
			{"start", 0, bargeHold}, {"bargein", 150, bargeNone}, {"words:Okay", 300, bargeNone}, {"words:Okay, but I", 450, bargeCut}}},
		{"with words, voiced speech that ends before any word cuts", true, []step{
			{"start", 0, bargeHold}, {"bargein", 150, bargeNone}, {"end", 500, bargeCut}}},
		{"words while nothing is held do nothing", true, []step{
			{"words:Stop", 0, bargeNone}, {"notspeech", 10, bargeNone}, {"end", 20, bargeNone}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := bargeGate{words: tc.words, backchannels: newBackchannelWords(nil), wordWait: 500 * time.Millisecond}
			for i, st := range tc.steps {
				var got bargeAction
				switch now := at(st.ms); {
				case st.do == "start":
					got = g.speechStart(now, true)
				case st.do == "notspeech":
					got = g.notSpeech()
				case st.do == "bargein":
					got = g.bargeIn(now)
				case st.do == "end":
					got = g.speechEnd()
				case st.do == "pause":
					got = g.pause()
				case st.do == "tick":
					got = g.tick(now)
				case len(st.do) > 6 && st.do[:6] == "words:":
					got = g.transcript(st.do[6:])
				default:
					t.Fatalf("step %d: unknown %q", i, st.do)
				}
				if got != st.want {
					t.Fatalf("step %d (%s at %d ms): %v, want %v; gate %s", i, st.do, st.ms, got, st.want, &g)
				}
			}
			if g.listening() {
				t.Errorf("the gate is still deciding at the end: %s", &g)
			}
		})
	}
	var g bargeGate
	if a := g.speechStart(t0, false); a != bargeNone || g.holding() {
		t.Errorf("a sound while the agent is silent: %v, holding %v; want nothing held", a, g.holding())
	}
}
