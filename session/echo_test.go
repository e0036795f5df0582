package session_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// TestTheAgentsOwnEchoDoesNotCutItOff plays a whole call over a line with
// no echo canceller: the caller's side sends the agent's voice back 25 dB
// down, as it plays, and the caller says nothing. With the echo gate, the
// default one that learns the line (--vad-echo-learn) or a fixed margin
// (--vad-echo-margin-db 28), the agent speaks its whole greeting over its
// own echo; without it the echo is voiced speech and cuts the agent off, as
// the corpus harness found (docs/BARGE-IN.md, "The agent's own echo").
// With the gate that learns, the call's learnt echo return loss is
// counted in iace_session_echo_return_loss_db: about the line's 25 dB; and
// the echo canceller (on by default), fed the agent's audio by the reader
// from what the playout sent (media.Playout.EchoAudio), takes 20 dB or more
// of that echo away (iace_session_echo_cancelled_db).
func TestTheAgentsOwnEchoDoesNotCutItOff(t *testing.T) {
	for _, c := range []struct {
		margin float64
		learn  bool
		cut    bool
	}{{0, true, false}, {28, false, false}, {0, false, true}} {
		t.Run(fmt.Sprintf("margin %v dB, learn %v", c.margin, c.learn), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := session.DefaultConfig()
				cfg.VAD.EchoMarginDB, cfg.VAD.EchoLearn = c.margin, c.learn
				cfg.VAD.EchoCancel = true // as by default; it needs the gate that learns
				reg := prometheus.NewRegistry()
				echoingCall(t, cfg, reg, func(p *peer) {
					if cut := greetingCut(t, p); cut != c.cut {
						t.Errorf("the agent's own echo cut it off: %v; want %v", cut, c.cut)
					}
				})
				n, sum := histogram(t, reg, "iace_session_echo_return_loss_db")
				t.Logf("echo return loss counted for %d calls, sum %.1f dB", n, sum)
				cn, csum := histogram(t, reg, "iace_session_echo_cancelled_db")
				t.Logf("echo cancelled counted for %d calls, sum %.1f dB", cn, csum)
				switch {
				case !c.learn && n != 0:
					t.Errorf("echo return loss counted %d times with the gate that learns off", n)
				case c.learn && (n != 1 || sum < 22 || sum > 34):
					t.Errorf("echo return loss: %d calls, sum %.1f dB; want 1 call, about 25 dB", n, sum)
				}
				switch {
				case !c.learn && cn != 0:
					t.Errorf("echo cancelled counted %d times with the gate that learns off (the canceller needs it)", cn)
				case c.learn && (cn != 1 || csum < 20):
					t.Errorf("echo cancelled: %d calls, sum %.1f dB; want 1 call, 20 dB or more", cn, csum)
				}
			})
		})
	}
}

// TestNoisesOverTheAgentsEchoDoNotCutItOff plays a whole call over the
// same line (the agent's voice back 25 dB down) with the caller making
// noises over the agent 4 s into its greeting: knocks, coughs, a throat
// cleared, typing, music. The echo under a noise carries the agent's
// pitch, and without the echo canceller (--vad-echo-cancel=false) the
// noises cut the agent off; with it, the detector hears them
// as they are, and the agent says its whole greeting.
func TestNoisesOverTheAgentsEchoDoNotCutItOff(t *testing.T) {
	for _, cancel := range []bool{true, false} {
		t.Run(fmt.Sprintf("cancel %v", cancel), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := session.DefaultConfig()
				cfg.VAD.EchoCancel = cancel
				echoingCall(t, cfg, prometheus.NewRegistry(), func(p *peer) {
					p.speak(make([]int16, 4*8000)) // the agent talks alone for 4 s
					for _, f := range []string{"ns_knock_loud.wav", "ns_cough_double.wav", "ns_throat.wav", "ns_typing_fast.wav", "ns_music_pluck.wav"} {
						p.speak(readWAV(t, corpus+f))
						p.speak(make([]int16, 8000/2))
					}
					if cut := greetingCut(t, p); cut != !cancel {
						t.Errorf("the caller's noises cut the agent off: %v; want %v", cut, !cancel)
					}
				})
			})
		})
	}
}

// TestTheCallerInterruptsOverTheAgentsEcho: on the same line, with the
// echo canceller on and at work, a caller who says "Stop, I want to speak to
// someone." over the agent, 4 s into its greeting, cuts it off, and within
// the barge-in latency the corpus measures (a clear within a second of
// the words' start).
func TestTheCallerInterruptsOverTheAgentsEcho(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := session.DefaultConfig()
		cfg.VAD.EchoCancel = true
		echoingCall(t, cfg, prometheus.NewRegistry(), func(p *peer) {
			start := p.speak(make([]int16, 4*8000))
			p.speak(readWAV(t, corpus+"int_stop_c1.wav"))
			r := p.next(t, "the greeting's end mark or a clear", greetingEndOrClear)
			if r.event != "clear" {
				t.Fatalf("the caller's interruption over the agent's echo did not cut it off")
			}
			if late := r.at.Sub(start); late > time.Second {
				t.Errorf("the clear came %v after the caller started, want within 1s", late)
			}
		})
	})
}

// TestTheCancellerFollowsTheAgentsTurns: on the same line, a call of
// three of the agent's turns (the greeting and two answers), the far end
// starting the second a frame later after it arrives than the others (its
// own tick, its jitter buffer), so that each turn's echo comes back 160
// samples off the last one's under the echo canceller's filter. The
// canceller finds each turn's echo again (the default, since it does):
// no turn is cut off, and it takes 20 dB or more of the echo away. With
// the filter left where the greeting put it, the second turn was cut off.
func TestTheCancellerFollowsTheAgentsTurns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		skews := []time.Duration{0, media.FrameDuration, 0}
		script := map[string]any{"custom_parameters": map[string]string{"sim_script": "what are your opening hours|how much does it cost"}}
		echoingCallWith(t, session.DefaultConfig(), reg, 25, script, skews, func(p *peer) {
			line := readWAV(t, corpus+"eot_order_c1.wav")
			for turn := range skews {
				if turn > 0 {
					p.speak(line)
				}
				if r := p.next(t, "the turn's end mark or a clear", greetingEndOrClear); r.event == "clear" {
					t.Fatalf("turn %d (the far end %v late) was cut off", turn, skews[turn])
				}
			}
		})
		n, sum := histogram(t, reg, "iace_session_echo_cancelled_db")
		if n != 1 || sum < 20 {
			t.Errorf("echo cancelled: %d calls, sum %.1f dB; want 1 call, 20 dB or more", n, sum)
		}
	})
}

// TestALoudLinesEchoDoesNotCutTheAgentOff: a line that sends the agent's
// voice back only 15 dB down (a speakerphone, or a hybrid with no echo
// canceller in the network), louder than the gate may ever rise (19 dB
// under the agent, so that a quiet caller is still heard), so its echo
// starts an utterance as the agent starts talking. The detector takes
// that utterance for the echo: it is no interruption (the agent's audio
// is held for a frame and goes on), the canceller learns the line during
// it, and the gate stays over the echo while it learns. The greeting and
// the two answers that follow are said whole, and the canceller takes 20
// dB or more away.
// Before the echo's utterance was held, the greeting was cut off and the
// cut taken for one of the caller's lines; before the canceller learnt
// during utterances, every turn was cut off.
func TestALoudLinesEchoDoesNotCutTheAgentOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		script := map[string]any{"custom_parameters": map[string]string{
			"sim_script": "what are your opening hours|how much does it cost|where are you located"}}
		echoingCallWith(t, session.DefaultConfig(), reg, 15, script, nil, func(p *peer) {
			if greetingCut(t, p) {
				t.Fatal("the agent's own echo cut the greeting off")
			}
			line := readWAV(t, corpus+"eot_order_c1.wav")
			for turn := range 2 {
				p.speak(line)
				if r := p.next(t, "the answer's end mark or a clear", greetingEndOrClear); r.event == "clear" {
					t.Errorf("answer %d was cut off", turn+1)
				}
			}
		})
		n, sum := histogram(t, reg, "iace_session_echo_cancelled_db")
		if n != 1 || sum < 20 {
			t.Errorf("echo cancelled: %d calls, sum %.1f dB; want 1 call, 20 dB or more", n, sum)
		}
	})
}

// echoingCall runs, inside a synctest bubble, one call of an agent whose
// greeting is the corpus's agent voice, over a line that sends what the
// far end plays back 25 dB down, with the engine's metrics on reg: call
// plays the caller's side; then the line stops echoing, the caller hangs
// up, and every goroutine of the call has ended.
func echoingCall(t *testing.T, cfg session.Config, reg *prometheus.Registry, call func(p *peer)) {
	t.Helper()
	echoingCallWith(t, cfg, reg, 25, nil, nil, call)
}

// echoingCallWith is echoingCall with the echo lossDB under the agent, the
// stream's start fields and the far end's lateness at each turn
// (peer.skews).
func echoingCallWith(t *testing.T, cfg session.Config, reg *prometheus.Registry, lossDB float64, fields map[string]any, skews []time.Duration, call func(p *peer)) {
	t.Helper()
	voice := readWAV(t, corpus+"agent.wav") // 11 s of espeak, 8 kHz
	ulaw := make([]byte, len(voice))
	media.EncodeULawTo(ulaw, voice)
	agent := store.DefaultAgent()
	agent.Greeting = "Hello. This greeting is the test voice."
	h, ended, pacer := agentHandlerWith(t, cfg, agent, recorded(ulaw), session.NewMetrics(reg))
	p := newPeer(t, pipeDial(t, h), fields, func(p *peer) {
		p.echoGain, p.skews = math.Pow(10, -lossDB/20), skews
	})
	call(p)
	p.mu.Lock()
	p.echoGain = 0
	p.mu.Unlock()
	hangUpSync(p, ended)
	pacer.Close()
	synctest.Wait()
}

// greetingEndOrClear matches the greeting's end mark or a clear.
func greetingEndOrClear(r received) bool { return r.event == "clear" || isMark("-end")(r) }

// greetingCut waits for the greeting's end mark or a clear, and reports
// whether the agent was cut off.
func greetingCut(t *testing.T, p *peer) bool {
	t.Helper()
	return p.next(t, "the greeting's end mark or a clear", greetingEndOrClear).event == "clear"
}

// recorded is a Synthesizer that says every sentence with the same
// recording, in PCMU.
type recorded []byte

func (r recorded) Synthesize(_ context.Context, req ai.SpeechRequest) (io.ReadCloser, error) {
	if req.Format != media.PCMU8k {
		return nil, fmt.Errorf("recorded speech is PCMU at 8 kHz, not %v", req.Format)
	}
	return io.NopCloser(bytes.NewReader(r)), nil
}

// histogram returns the sample count and sum of the histogram of reg
// named name.
func histogram(t *testing.T, reg *prometheus.Registry, name string) (uint64, float64) {
	t.Helper()
	h := family(t, reg, name).GetMetric()[0].GetHistogram()
	return h.GetSampleCount(), h.GetSampleSum()
}
