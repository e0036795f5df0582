package session

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
)

// defaultBackchannels are the English words and phrases a listener says to
// show they follow ("mm-hmm", "yeah"), which never interrupt the agent when
// the transcriber streams words. An agent's settings.backchannels replace them.
var defaultBackchannels = []string{
	"mm", "mhm", "mm-hmm", "mm hmm", "hmm", "uh-huh", "uh huh", "ah", "oh",
	"yeah", "yes", "yep", "yup", "ok", "okay", "right", "alright", "all right",
	"sure", "i see", "got it", "cool", "great", "good", "fine", "true", "exactly",
}

// backchannelWords is a set of backchannel phrases, normalized (lower case,
// letters and digits only, single spaces).
type backchannelWords map[string]struct{}

// newBackchannelWords returns the set of list, or the default set when list
// is empty. The default set is built once and shared, read-only, by every
// call.
func newBackchannelWords(list []string) backchannelWords {
	if len(list) == 0 {
		return defaultBackchannelSet()
	}
	return backchannelSet(list)
}

var defaultBackchannelSet = sync.OnceValue(func() backchannelWords { return backchannelSet(defaultBackchannels) })

func backchannelSet(list []string) backchannelWords {
	b := make(backchannelWords, len(list))
	for _, w := range list {
		if n := normalizeWords(w); n != "" {
			b[n] = struct{}{}
		}
	}
	return b
}

// normalizeWords lower-cases s and keeps its letters and digits, one space
// between words: "Mm-hmm." and "mm hmm" are the same.
func normalizeWords(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(unicode.ToLower(r))
		case r == '\'':
			// "it's" stays one word
		default:
			space = true
		}
	}
	return b.String()
}

// only reports whether text is made of backchannel phrases alone (and says
// something): "Yeah, okay." is; "Yeah, but" is not. It matches the longest
// phrase at each word, so "i see" and "all right" count whole.
func (b backchannelWords) only(text string) bool {
	words := strings.Fields(normalizeWords(text))
	if len(words) == 0 {
		return false
	}
	for i := 0; i < len(words); {
		n := 0
		for k := min(3, len(words)-i); k > 0; k-- {
			if _, ok := b[strings.Join(words[i:i+k], " ")]; ok {
				n = k
				break
			}
		}
		if n == 0 {
			return false
		}
		i += n
	}
	return true
}

// What the barge-in gate's holds led to (iace_session_barge_in_holds_total).
const (
	holdCut     = "cut"
	holdResumed = "resumed"
	holdEnded   = "ended"
)

// bargeAction is what the barge-in gate asks of the session.
type bargeAction uint8

const (
	bargeNone   bargeAction = iota
	bargeHold               // stop feeding the agent's audio; what is queued plays on
	bargeResume             // it was not an interruption: feed again where it stopped
	bargeCut                // a real interruption: clear the agent's audio, end its turn
)

func (a bargeAction) String() string {
	switch a {
	case bargeNone:
		return "none"
	case bargeHold:
		return "hold"
	case bargeResume:
		return "resume"
	case bargeCut:
		return "cut"
	}
	return fmt.Sprintf("bargeAction(%d)", uint8(a))
}

type bargeState uint8

const (
	gateOpen      bargeState = iota // nothing held
	gateHeld                        // the caller made a sound over the agent: deciding
	gateAwaiting                    // the VAD heard speech: waiting for its words
	gateListening                   // resumed after backchannel words: later words may still cut
)

// bargeGate decides, while the agent talks, whether what the caller says
// is an interruption, before anything is cut. A sound over the agent
// (SpeechStart) holds the agent's audio: the pacer stops feeding it, what
// the far end has queued (the lead) plays on, so a decision within the
// lead leaves no gap. The VAD's NotSpeech (a noise, a sound too short)
// resumes it. The VAD's BargeIn (voiced speech) cuts it, unless the
// transcriber streams interim words: then the gate waits up to wordWait
// for them; backchannels alone ("mm-hmm", "okay") resume the agent at the
// caller's first pause, and any other word cuts, as does the wait running
// out with no word at all. Words that are not backchannels cut at once,
// even before the VAD has decided, and until the caller's utterance ends
// ("okay, but ...").
//
// It is a state machine with time passed in, owned by the session
// goroutine; it calls nothing itself.
type bargeGate struct {
	words        bool // the transcriber streams interim words
	backchannels backchannelWords
	wordWait     time.Duration

	state    bargeState
	heldAt   time.Time
	deadline time.Time // gateAwaiting: cut if no word has decided by then
	heard    string    // the words so far, all backchannels
}

// speechStart: the caller began to make a sound. It holds the agent's audio
// when the agent is talking.
func (g *bargeGate) speechStart(now time.Time, agentTalking bool) bargeAction {
	if !agentTalking || g.state != gateOpen {
		return bargeNone
	}
	g.state, g.heldAt, g.heard = gateHeld, now, ""
	return bargeHold
}

// notSpeech: the VAD says the sound is no interruption.
func (g *bargeGate) notSpeech() bargeAction {
	if g.state != gateHeld {
		return bargeNone
	}
	g.state = gateOpen
	return bargeResume
}

// bargeIn: the VAD heard voiced speech long enough to interrupt.
func (g *bargeGate) bargeIn(now time.Time) bargeAction {
	if g.state != gateHeld {
		return bargeNone
	}
	if !g.words {
		g.state = gateOpen
		return bargeCut
	}
	g.state, g.deadline = gateAwaiting, now.Add(g.wordWait)
	return bargeNone
}

// transcript: words of the caller's speech, interim or final.
func (g *bargeGate) transcript(text string) bargeAction {
	if g.state == gateOpen || strings.TrimSpace(text) == "" {
		return bargeNone
	}
	if g.backchannels.only(text) {
		g.heard = text
		return bargeNone
	}
	g.state = gateOpen
	return bargeCut
}

// pause: the caller paused inside the utterance. Speech whose words were
// all backchannels was no interruption; the gate goes on listening to the
// words until the utterance ends.
func (g *bargeGate) pause() bargeAction {
	if g.state != gateAwaiting || g.heard == "" {
		return bargeNone
	}
	g.state = gateListening
	return bargeResume
}

// speechEnd: the caller stopped. A sound held and never found to be
// speech, or speech whose words were all backchannels, was no
// interruption. Voiced speech that ended before any word came is taken for
// one: a short "Stop." must not be talked over.
func (g *bargeGate) speechEnd() bargeAction {
	was := g.state
	g.state = gateOpen
	switch {
	case was == gateOpen || was == gateListening:
		return bargeNone
	case was == gateAwaiting && g.heard == "":
		return bargeCut
	}
	return bargeResume
}

// tick: the wait for words ran out with no word at all; voiced speech
// that long is taken for an interruption. Backchannel words heard by then
// wait for the caller's pause.
func (g *bargeGate) tick(now time.Time) bargeAction {
	if g.state != gateAwaiting || now.Before(g.deadline) || g.heard != "" {
		return bargeNone
	}
	g.state = gateOpen
	return bargeCut
}

// reset forgets a decision in progress: the agent's turn ended, or was cut
// by someone else.
func (g *bargeGate) reset() { g.state = gateOpen }

// due returns when tick must run, zero for never.
func (g *bargeGate) due() time.Time {
	if g.state != gateAwaiting || g.heard != "" {
		return time.Time{}
	}
	return g.deadline
}

// holding reports whether the agent's audio is held.
func (g *bargeGate) holding() bool { return g.state == gateHeld || g.state == gateAwaiting }

// listening reports whether the caller's words may still cut the agent.
func (g *bargeGate) listening() bool { return g.state != gateOpen }

// String describes the gate for logs and test failures.
func (g *bargeGate) String() string {
	names := [...]string{gateOpen: "open", gateHeld: "held", gateAwaiting: "awaiting words", gateListening: "listening"}
	return fmt.Sprintf("%s (words %v, heard %q)", names[g.state], g.words, g.heard)
}
