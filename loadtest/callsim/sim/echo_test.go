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
	e := newEchoLine(-20, 100*time.Millisecond, false)
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

// TestEchoLineThroughAHybrid: with EchoHybrid a tone near 1 kHz, where
// the hybrid's response peaks, comes back at about the line's level (-20
// dB), and one at 200 Hz much quieter (a hybrid couples through a
// transformer), the echo delayed as without it.
func TestEchoLineThroughAHybrid(t *testing.T) {
	level := func(hz float64) float64 {
		e := newEchoLine(-20, 100*time.Millisecond, true)
		pcm := make([]int16, 1600) // 200 ms, playing from 1 s on
		for i := range pcm {
			pcm[i] = int16(10000 * math.Sin(2*math.Pi*hz*float64(i)/8000))
		}
		e.place(time.Second, pcm)
		var raw [frameBytes]byte
		media.EncodingPCMU.FillSilence(raw[:])
		silence := base64.StdEncoding.EncodeToString(raw[:])
		if got := e.mix(time.Second+40*time.Millisecond, silence); got != silence {
			t.Errorf("%v Hz: the echo came back before the line's delay", hz)
		}
		// 60 ms into the tone's echo, past the response's start.
		b, err := base64.StdEncoding.DecodeString(e.mix(time.Second+160*time.Millisecond, silence))
		if err != nil || len(b) != frameBytes {
			t.Fatalf("mixed frame: %v, %d bytes", err, len(b))
		}
		frame := make([]int16, frameBytes)
		media.DecodeULawTo(frame, b)
		var heard float64
		for _, v := range frame {
			heard += float64(v) * float64(v)
		}
		played := float64(frameBytes) * 10000 * 10000 / 2
		return 10 * math.Log10(heard/played)
	}
	t.Logf("echo of a 1 kHz tone %.1f dB, of a 200 Hz tone %.1f dB", level(1000), level(200))
	if db := level(1000); db < -21.5 || db > -19.5 {
		t.Errorf("a 1 kHz tone came back %.1f dB under what played, want about -20", db)
	}
	if db := level(200); db > -26 {
		t.Errorf("a 200 Hz tone came back %.1f dB under what played, want 6 dB or more under the line's -20", db)
	}
}
