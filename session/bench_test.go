package session

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/media/vad"
)

// BenchmarkInboundFrame is one caller frame's whole work after the socket
// read, as the reader does it: parse the Telnyx media frame and its base64,
// the reorder buffer, G.711 decode and the VAD. Steady state must not allocate.
func BenchmarkInboundFrame(b *testing.B) { benchInbound(b, nil) }

// BenchmarkInboundFrameTapped is BenchmarkInboundFrame with a supervisor
// listening: the frame is also handed to the call's tap, here one that
// copies it into a ring, as media/rtc's Monitor does.
func BenchmarkInboundFrameTapped(b *testing.B) { benchInbound(b, &copyTap{}) }

// BenchmarkInboundFrameTranscribed is BenchmarkInboundFrame with the call's
// transcriber fed as well (the offline simulator's stream, which only
// counts): the reader's own share of feeding one.
func BenchmarkInboundFrameTranscribed(b *testing.B) {
	stt, err := local.NewSimTranscriber().Open(b.Context(), ai.TranscribeConfig{Format: media.PCMU8k})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = stt.Close() }()
	benchInboundWith(b, nil, stt)
}

// copyTap copies caller frames into a ring of 16 frames.
type copyTap struct {
	ring [16][160]byte
	n    int
}

func (c *copyTap) CallerAudio(frame []byte) {
	copy(c.ring[c.n%len(c.ring)][:], frame)
	c.n++
}
func (c *copyTap) AgentAudio([]byte) {}
func (c *copyTap) AgentCleared()     {}

func benchInbound(b *testing.B, tap Tap) { benchInboundWith(b, tap, nil) }

func benchInboundWith(b *testing.B, tap Tap, stt TranscriptStream) {
	f := newInboundFixture(b, tap, stt)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.frame(i)
		i++
	}
	f.checkQuiet()
}

// inboundFixture is a call's inbound path as the reader drives it, fed
// frames of low-level noise: the VAD does all its work but fires no turn.
// The benchmarks above and TestInboundFrameAllocs share it.
type inboundFixture struct {
	tb   testing.TB
	s    *Session
	in   *inbound
	msgs [][]byte
	p    telnyx.Parser
	ev   telnyx.Event
}

func newInboundFixture(tb testing.TB, tap Tap, stt TranscriptStream) *inboundFixture {
	tb.Helper()
	cfg := DefaultConfig()
	v, err := vad.New(cfg.VAD, 8000)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Session{eng: &Engine{cfg: cfg, metrics: NewMetrics(nil)}, in: media.PCMU8k, ctrl: make(chan inboundEvent, 64)}
	s.playout = testPlayout(tb, s.in)
	f := &inboundFixture{tb: tb, s: s, in: newInbound(s, v, stt, cfg.ReorderDepth)}
	if tap != nil {
		s.tap.set(tap)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 64
	f.msgs = make([][]byte, n)
	for i := range f.msgs {
		pcm := make([]int16, 160)
		for j := range pcm {
			pcm[j] = int16(rng.IntN(200) - 100)
		}
		ulaw := make([]byte, 160)
		media.EncodeULawTo(ulaw, pcm)
		f.msgs[i] = fmt.Appendf(nil, `{"event":"media","sequence_number":"%d","stream_id":"9B1F7C2E-4D0A-4E55-8C11-2F6A0D7B3E90","media":{"track":"inbound","chunk":"%d","timestamp":"%d","payload":"%s"}}`,
			i+2, i+1, i*20, base64.StdEncoding.EncodeToString(ulaw))
	}
	return f
}

// frame is the reader's work for the i-th frame (0, 1, 2... in order).
func (f *inboundFixture) frame(i int) {
	if err := f.p.Parse(f.msgs[i%len(f.msgs)], &f.ev); err != nil {
		f.tb.Fatal(err)
	}
	f.in.push(int64(i), f.ev.Media.Payload)
}

// checkQuiet fails if the noise made the VAD fire.
func (f *inboundFixture) checkQuiet() {
	if len(f.s.ctrl) != 0 {
		f.tb.Fatalf("the VAD fired %d events on low noise", len(f.s.ctrl))
	}
}

// testPlayout is a playout, silent, for a Session a test builds by hand:
// the reader asks it for the agent's level every frame.
func testPlayout(tb testing.TB, f media.Format) *media.Playout {
	tb.Helper()
	pacer, err := media.NewPacer(media.DefaultPacerConfig(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pacer.Close)
	pl := pacer.NewPlayout(discardOutput{}, f)
	tb.Cleanup(pl.Close)
	return pl
}

// discardOutput is a media.Output that takes everything and sends nothing.
type discardOutput struct{}

func (discardOutput) Ready() error            { return nil }
func (discardOutput) WriteAudio([]byte) error { return nil }
func (discardOutput) WriteMark(string) error  { return nil }
func (discardOutput) WriteClear() error       { return nil }
func (discardOutput) Keepalive() error        { return nil }
func (discardOutput) Flush() error            { return nil }
