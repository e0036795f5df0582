package session_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"testing"
	"testing/synctest"

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
// counted in iace_session_echo_return_loss_db: about the line's 25 dB.
func TestTheAgentsOwnEchoDoesNotCutItOff(t *testing.T) {
	voice := readWAV(t, corpus+"agent.wav") // 11 s of espeak, 8 kHz
	ulaw := make([]byte, len(voice))
	media.EncodeULawTo(ulaw, voice)
	agent := store.DefaultAgent()
	agent.Greeting = "Hello. This greeting is the test voice."
	for _, c := range []struct {
		margin float64
		learn  bool
		cut    bool
	}{{0, true, false}, {28, false, false}, {0, false, true}} {
		t.Run(fmt.Sprintf("margin %v dB, learn %v", c.margin, c.learn), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := session.DefaultConfig()
				cfg.VAD.EchoMarginDB, cfg.VAD.EchoLearn = c.margin, c.learn
				reg := prometheus.NewRegistry()
				h, ended, pacer := agentHandlerWith(t, cfg, agent, recorded(ulaw), session.NewMetrics(reg))
				p := newPeer(t, pipeDial(t, h), nil)
				p.mu.Lock()
				p.echoGain = math.Pow(10, -25.0/20)
				p.mu.Unlock()
				r := p.next(t, "the greeting's end mark or a clear", func(r received) bool {
					return r.event == "clear" || isMark("-end")(r)
				})
				if cut := r.event == "clear"; cut != c.cut {
					t.Errorf("the agent's own echo cut it off: %v; want %v", cut, c.cut)
				}
				p.mu.Lock()
				p.echoGain = 0
				p.mu.Unlock()
				hangUpSync(p, ended)
				pacer.Close()
				synctest.Wait()
				n, sum := histogram(t, reg, "iace_session_echo_return_loss_db")
				t.Logf("echo return loss counted for %d calls, sum %.1f dB", n, sum)
				switch {
				case !c.learn && n != 0:
					t.Errorf("echo return loss counted %d times with the gate that learns off", n)
				case c.learn && (n != 1 || sum < 22 || sum > 34):
					t.Errorf("echo return loss: %d calls, sum %.1f dB; want 1 call, about 25 dB", n, sum)
				}
			})
		})
	}
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
