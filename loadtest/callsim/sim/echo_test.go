package sim

import (
	"encoding/base64"
	"math"
	"testing"
	"time"

	"github.com/iace/iace/media"
)

// TestEchoLineSendsBackWhatTheCallerHeard: audio placed at the time it
// plays comes back in the frame sent echo-delay later, at the gain; a
// frame with nothing played under it goes out as it was; a clear takes
// back what had not played.
func TestEchoLineSendsBackWhatTheCallerHeard(t *testing.T) {
	e := newEchoLine(-20, 100*time.Millisecond)
	pcm := make([]int16, 800) // 100 ms of a tone, playing from 1 s on
	for i := range pcm {
		pcm[i] = int16(10000 * math.Sin(float64(i)/4))
	}
	e.place(time.Second, pcm)
	var raw [frameBytes]byte
	media.EncodingPCMU.FillSilence(raw[:])
	silence := base64.StdEncoding.EncodeToString(raw[:])

	if got := e.mix(time.Second, silence); got != silence {
		t.Error("the frame heard while the audio played carries its echo already: want it 100 ms later")
	}
	got := e.mix(time.Second+100*time.Millisecond, silence)
	b, err := base64.StdEncoding.DecodeString(got)
	if err != nil || len(b) != frameBytes {
		t.Fatalf("mixed frame: %v, %d bytes", err, len(b))
	}
	frame := make([]int16, frameBytes)
	media.DecodeULawTo(frame, b)
	var heard, played float64
	for i, v := range frame {
		heard += float64(v) * float64(v)
		played += float64(pcm[i]) * float64(pcm[i])
	}
	if db := 10 * math.Log10(heard/played); math.Abs(db+20) > 0.5 {
		t.Errorf("the echo is %.1f dB under what played, want -20", db)
	}

	e.cut(time.Second + 40*time.Millisecond) // a clear: the rest never played
	if got := e.mix(time.Second+160*time.Millisecond, silence); got != silence {
		t.Error("audio a clear dropped still came back")
	}
}
