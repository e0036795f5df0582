package session

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/vad"
)

// TestDroppedStreamEventsLogABoundedNumberOfLines: a session far behind its
// reader drops events; a flood of them (a peer pressing keys as fast as it
// can send frames) is counted, but logs only a few lines, as bad frames do.
func TestDroppedStreamEventsLogABoundedNumberOfLines(t *testing.T) {
	var buf bytes.Buffer
	s := &Session{eng: &Engine{cfg: DefaultConfig(), metrics: NewMetrics(nil)},
		log: slog.New(slog.NewTextHandler(&buf, nil)), ctrl: make(chan inboundEvent)} // no room: every event drops
	for range 200 {
		s.sendCtrl(inboundEvent{kind: inDTMF, digit: '1', at: time.Now()})
	}
	lines := strings.Count(buf.String(), "\n")
	if lines == 0 || lines > maxLoggedDrops+1 {
		t.Errorf("200 dropped events logged %d lines, want 1 to %d:\n%s", lines, maxLoggedDrops+1, buf.String())
	}
	if s.droppedEvents != 200 {
		t.Errorf("%d drops counted, want 200", s.droppedEvents)
	}
}

// wireStream is a TranscriptStream that keeps copies of the frames it is sent.
type wireStream struct{ frames [][]byte }

func (w *wireStream) Send(frame []byte) error {
	w.frames = append(w.frames, bytes.Clone(frame))
	return nil
}
func (w *wireStream) EndOfSpeech() error            { return nil }
func (w *wireStream) Results() <-chan ai.Transcript { return nil }
func (w *wireStream) Close() error                  { return nil }

// TestReaderFeedsTheTranscriberTheFramesAsTheyCame: the transcriber gets the
// caller's bytes in the call's format, not PCM decoded and encoded back; the
// reader decodes only for the VAD, frames longer than 20 ms whole, and a
// concealed frame is the format's silence.
func TestReaderFeedsTheTranscriberTheFramesAsTheyCame(t *testing.T) {
	for _, f := range []media.Format{media.PCMU8k, {Encoding: media.EncodingPCMA, SampleRate: 8000}, {Encoding: media.EncodingL16, SampleRate: 16000}} {
		t.Run(f.String(), func(t *testing.T) {
			cfg := DefaultConfig()
			v, err := vad.New(cfg.VAD, f.SampleRate)
			if err != nil {
				t.Fatal(err)
			}
			s := &Session{eng: &Engine{cfg: cfg, metrics: NewMetrics(nil)}, in: f, ctrl: make(chan inboundEvent, 64)}
			s.playout = testPlayout(t, f)
			stt := &wireStream{}
			in := newInbound(s, v, stt, cfg.ReorderDepth)

			frame := func(d time.Duration, seed int) []byte {
				pcm := make([]int16, f.SampleRate*int(d/time.Millisecond)/1000)
				for i := range pcm {
					pcm[i] = int16((i*seed)%2000 - 1000)
				}
				b := make([]byte, len(pcm)*f.Encoding.BytesPerSample())
				return b[:media.EncodeTo(b, pcm, f.Encoding)]
			}
			sent := [][]byte{frame(20*time.Millisecond, 7), frame(60*time.Millisecond, 13)} // the second outgrows the decode buffer
			for _, b := range sent {
				in.push(-1, bytes.Clone(b))
			}
			in.frame(nil, true) // a lost frame, concealed
			silence := make([]byte, f.FrameBytes())
			f.Encoding.FillSilence(silence)
			sent = append(sent, silence)

			if len(stt.frames) != len(sent) {
				t.Fatalf("the transcriber got %d frames, want %d", len(stt.frames), len(sent))
			}
			for i := range sent {
				if !bytes.Equal(stt.frames[i], sent[i]) {
					t.Errorf("frame %d reached the transcriber as % X..., want the bytes as they came % X...", i, stt.frames[i][:4], sent[i][:4])
				}
			}
			// The VAD's buffer grew to hold the long frame decoded.
			if want := len(sent[1]) / f.Encoding.BytesPerSample(); len(in.pcm) < want {
				t.Fatalf("decode buffer of %d samples for a frame of %d", len(in.pcm), want)
			}
		})
	}
}

func TestReaderFrameDoesNotAllocate(t *testing.T) {
	cfg := DefaultConfig()
	v, err := vad.New(cfg.VAD, 8000)
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{eng: &Engine{cfg: cfg, metrics: NewMetrics(nil)}, in: media.PCMU8k, ctrl: make(chan inboundEvent, 64)}
	s.playout = testPlayout(t, s.in)
	stt, err := local.NewSimTranscriber().Open(t.Context(), ai.TranscribeConfig{Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stt.Close() }()
	in := newInbound(s, v, stt, cfg.ReorderDepth)
	frame := make([]byte, 160)
	media.PCMU8k.Encoding.FillSilence(frame)
	seq := int64(0)
	if a := testing.AllocsPerRun(200, func() { in.push(seq, frame); seq++ }); a != 0 {
		t.Errorf("a frame through reorder, transcriber, decode and VAD allocates %v times, want 0", a)
	}
}
