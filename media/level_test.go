package media

import (
	"bytes"
	"math"
	"testing"
	"testing/synctest"
	"time"
)

// TestLoudestFrameDB reads the level of the loudest frame in each encoding
// the pacer sends: a full-scale square wave is 0 dBFS, a tenth of it -20.
func TestLoudestFrameDB(t *testing.T) {
	square := func(amp int16, n int) []int16 {
		s := make([]int16, n)
		for i := range s {
			s[i] = amp
			if i%2 == 1 {
				s[i] = -amp
			}
		}
		return s
	}
	// One quiet frame, then one at a tenth of full scale: the louder wins.
	pcm := append(square(100, 160), square(3277, 160)...)
	for _, enc := range []Encoding{EncodingPCMU, EncodingPCMA, EncodingL16, EncodingPCM16} {
		bps := enc.BytesPerSample()
		b := make([]byte, len(pcm)*bps)
		EncodeTo(b, pcm, enc)
		got := LoudestFrameDB(b, enc, 160*bps)
		if math.Abs(got+20) > 0.3 { // G.711 quantizes
			t.Errorf("%v: loudest frame %.2f dBFS, want -20", enc, got)
		}
	}
	if got := LoudestFrameDB(bytes.Repeat([]byte{0xFF}, 160), EncodingPCMU, 160); got != NoLevelDB {
		t.Errorf("mu-law silence: %v dBFS, want NoLevelDB", got)
	}
	if got := LoudestFrameDB(nil, EncodingPCMU, 160); got != NoLevelDB {
		t.Errorf("no audio: %v dBFS, want NoLevelDB", got)
	}
}

// TestEchoReferenceFollowsWhatTheFarEndMayPlay: no reference before the
// agent speaks; the loudest level written while its audio is sent and
// plays; none again once the far end has played it all and echoTail has
// passed.
func TestEchoReferenceFollowsWhatTheFarEndMayPlay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPacer(t)
		defer p.Close()
		out := &fakeOutput{start: time.Now()}
		pl := p.NewPlayout(out, PCMU8k)
		defer pl.Close()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if got := pl.EchoReference(); got != NoLevelDB {
			t.Fatalf("before the agent spoke: %v dBFS, want NoLevelDB", got)
		}

		pcm := make([]int16, 8000) // one second at -20 dBFS
		for i := range pcm {
			pcm[i] = 3277
			if i%2 == 1 {
				pcm[i] = -3277
			}
		}
		audio := make([]byte, len(pcm))
		EncodeULawTo(audio, pcm)
		start := time.Now()
		pl.Write(pl.Generation(), audio)
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		if got := pl.EchoReference(); math.Abs(got+20) > 0.3 {
			t.Fatalf("while the agent plays: %.2f dBFS, want -20", got)
		}
		// The second of audio has played 1 s after it began (plus the
		// lead it went out ahead); its echo may come for echoTail more.
		for pl.EchoReference() != NoLevelDB {
			time.Sleep(FrameDuration)
			synctest.Wait()
		}
		if gone := time.Since(start); gone < time.Second+echoTail-FrameDuration || gone > time.Second+echoTail+2*FrameDuration {
			t.Errorf("the reference lasted %v after the audio was written, want about %v", gone, time.Second+echoTail)
		}
	})
}
