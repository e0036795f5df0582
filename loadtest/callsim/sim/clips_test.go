package sim

import (
	"bytes"
	"encoding/base64"
	"io/fs"
	"math"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/iace/iace/loadtest/callsim/audio"
	"github.com/iace/iace/media"
)

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"what are your opening hours": "what_are_your_opening_hours",
		"I want to talk to a human":   "i_want_to_talk_to_a_human",
		"  Hello,   world! 42 ":       "hello_world_42",
		"?!":                          "",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every default line has an embedded WAV, so a default run sounds like speech.
func TestEmbeddedAudioCoversTheDefaults(t *testing.T) {
	for _, text := range append(DefaultScript, DefaultBargeInText, DefaultTransferText) {
		if _, err := fs.Stat(audio.FS, slug(text)+".wav"); err != nil {
			t.Errorf("%q: %v (run loadtest/callsim/audio/gen.sh)", text, err)
		}
	}
	lib, err := loadLibrary(nil, append(DefaultScript, DefaultBargeInText), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	bi := lib.clips[DefaultBargeInText]
	if bi.source != "embedded" || len(bi.frames) < 30 {
		t.Errorf("barge-in line: %s, %d frames; it must last well over 600 ms", bi.source, len(bi.frames))
	}
}

func wavBytes(t *testing.T, rate int, pcm []int16) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := media.WriteWAV(&b, rate, pcm); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestLoadLibrary(t *testing.T) {
	// 300 ms of 16 kHz tone between 100 ms of silence on each side.
	pcm := make([]int16, 8000)
	for i := 1600; i < 6400; i++ {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*300*float64(i)/16000))
	}
	dir := fstest.MapFS{"custom_line.wav": {Data: wavBytes(t, 16000, pcm)}, "broken.wav": {Data: []byte("RIFF")}}

	lib, err := loadLibrary(dir, []string{"custom line", "goodbye", "no wav for this one"}, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c := lib.clips["custom line"]; c.source != "file" || len(c.frames) < 14 || len(c.frames) > 16 {
		t.Errorf("custom line: %s, %d frames, want ~15 (resampled to 8 kHz, silence trimmed)", c.source, len(c.frames))
	}
	if c := lib.clips["goodbye"]; c.source != "embedded" {
		t.Errorf("goodbye from %s", c.source)
	}
	if c := lib.clips["no wav for this one"]; c.source != "synthetic" || len(c.frames) < 50 {
		t.Errorf("synthetic line: %s, %d frames", c.source, len(c.frames))
	}
	for _, c := range lib.clips {
		for _, f := range c.frames {
			if raw, err := base64.StdEncoding.DecodeString(f); err != nil || len(raw) != frameBytes {
				t.Fatalf("%q: frame of %d bytes", c.text, len(raw))
			}
		}
	}
	if raw, _ := base64.StdEncoding.DecodeString(lib.silence); !bytes.Equal(raw, bytes.Repeat([]byte{0xFF}, frameBytes)) {
		t.Error("silence is not mu-law 0xFF")
	}
	if _, err := loadLibrary(dir, []string{"broken"}, 0, 1); err == nil {
		t.Error("a broken WAV loaded")
	}
}

func TestNoise(t *testing.T) {
	lib, err := loadLibrary(nil, []string{"goodbye"}, -40, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(lib.noise) != noiseFrames {
		t.Fatalf("%d noise frames", len(lib.noise))
	}
	var sum float64
	var n int
	pcm := make([]int16, frameBytes)
	for _, f := range lib.noise {
		raw, _ := base64.StdEncoding.DecodeString(f)
		media.DecodeULawTo(pcm, raw)
		for _, s := range pcm {
			sum += float64(s) * float64(s)
			n++
		}
	}
	rms := math.Sqrt(sum / float64(n))
	if want := 32767 * math.Pow(10, -40.0/20); math.Abs(rms-want)/want > 0.1 {
		t.Errorf("noise rms %.0f, want %.0f (-40 dBFS)", rms, want)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).withDefaults().Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	err := Config{URL: "http://x", Calls: -1, BargeIn: 2, Loss: -0.1, NoiseDB: 3, Script: []string{"ok", "!!"}, Ramp: -1}.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"scheme", "calls", "bargein", "loss", "noise", "script line 2", "ramp"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
