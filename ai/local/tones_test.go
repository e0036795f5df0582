package local_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
)

func tones(t *testing.T, text string, f media.Format) []byte {
	t.Helper()
	rc, err := local.NewTones().Synthesize(t.Context(), ai.SpeechRequest{Text: text, Format: f})
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, rc)
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTonesLengthScalesWithText(t *testing.T) {
	short := "Hello there."
	long := "Thank you for calling, how can I help you today?"
	ds, dl := media.PCMU8k.Duration(len(tones(t, short, media.PCMU8k))), media.PCMU8k.Duration(len(tones(t, long, media.PCMU8k)))
	if want := time.Duration(len(short)) * local.TonesPerChar; ds != want {
		t.Errorf("%q lasts %v, want %v", short, ds, want)
	}
	if want := time.Duration(len(long)) * local.TonesPerChar; dl != want {
		t.Errorf("%q lasts %v, want %v", long, dl, want)
	}
	huge := media.PCMU8k.Duration(len(tones(t, strings.Repeat("word ", 500), media.PCMU8k)))
	if huge != local.TonesMax {
		t.Errorf("a 2500-character text lasts %v, want the cap %v", huge, local.TonesMax)
	}
}

func TestTonesAreSoftButAudible(t *testing.T) {
	audio := tones(t, "Thank you for calling, how can I help you today?", media.PCMU8k)
	level := rms(audio)
	if level < 500 || level > 5000 {
		t.Errorf("RMS level %.0f, want soft tones (500-5000 of 32767)", level)
	}
	// Words are separated by silence.
	pcm := make([]int16, len(audio))
	media.DecodeTo(pcm, audio, media.EncodingPCMU)
	silent := 0
	for _, v := range pcm {
		if v > -16 && v < 16 {
			silent++
		}
	}
	if silent < len(pcm)/10 {
		t.Errorf("only %d of %d samples silent, want gaps between words", silent, len(pcm))
	}
}

func TestTonesInEveryFormat(t *testing.T) {
	text := "One two three."
	want := time.Duration(len(text)) * local.TonesPerChar
	for _, f := range []media.Format{media.PCMU8k, {Encoding: media.EncodingPCMA, SampleRate: 8000}, {Encoding: media.EncodingL16, SampleRate: 16000}, {Encoding: media.EncodingPCM16, SampleRate: 48000}} {
		if d := f.Duration(len(tones(t, text, f))); d != want {
			t.Errorf("%v: lasts %v, want %v", f, d, want)
		}
	}
}

func TestTonesRejectsBadRequests(t *testing.T) {
	tn := local.NewTones()
	if _, err := tn.Synthesize(t.Context(), ai.SpeechRequest{Text: "  ", Format: media.PCMU8k}); !errors.Is(err, local.ErrEmptyText) {
		t.Errorf("empty text: %v, want ErrEmptyText", err)
	}
	if _, err := tn.Synthesize(t.Context(), ai.SpeechRequest{Text: "hi"}); !errors.Is(err, media.ErrUnsupportedEncoding) {
		t.Errorf("no format: %v, want ErrUnsupportedEncoding", err)
	}
}
