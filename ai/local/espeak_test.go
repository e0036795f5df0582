package local_test

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
)

const sixWords = "Thank you for calling us today."

func newEspeak(t testing.TB) *local.Espeak {
	t.Helper()
	e, err := local.NewEspeak(local.EspeakConfig{})
	if errors.Is(err, ai.ErrUnavailable) {
		t.Skip("espeak-ng is not installed:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// children lists the processes whose parent is this test binary, zombies
// included: after Close there must be none.
func children(t *testing.T) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(os.Getpid())
	var kids []string
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == me {
			kids = append(kids, s[:i+1]+" "+f[0])
		}
	}
	return kids
}

// rms returns the root mean square level of PCMU audio, in PCM16 units.
func rms(pcmu []byte) float64 {
	pcm := make([]int16, len(pcmu))
	media.DecodeTo(pcm, pcmu, media.EncodingPCMU)
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(len(pcm), 1)))
}

func TestEspeakSpeaksASentenceInPCMU(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEspeak(t)
	start := time.Now()
	rc, err := e.Synthesize(t.Context(), ai.SpeechRequest{Text: sixWords, Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, rc)
	first := make([]byte, 160)
	n, err := io.ReadFull(rc, first)
	if err != nil {
		t.Fatal(err)
	}
	ttfb := time.Since(start)
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	audio := slices.Concat(first[:n], rest)
	total := time.Since(start)
	d := media.PCMU8k.Duration(len(audio))
	t.Logf("%q: %v of audio (%d bytes), first 20 ms frame after %v, all after %v", sixWords, d, len(audio), ttfb, total)
	if d < time.Second || d > 4*time.Second {
		t.Errorf("audio lasts %v, want 1-4 s for a six-word sentence", d)
	}
	if level := rms(audio); level < 500 {
		t.Errorf("RMS level %.0f, want speech, not silence", level)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("Close after EOF: %v", err)
	}
	if kids := children(t); len(kids) != 0 {
		t.Errorf("child processes left: %v", kids)
	}
}

func TestEspeakProducesExactlyTheRequestedFormat(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEspeak(t)
	formats := []media.Format{
		media.PCMU8k,
		{Encoding: media.EncodingPCMA, SampleRate: 8000},
		{Encoding: media.EncodingL16, SampleRate: 16000},
		{Encoding: media.EncodingPCM16, SampleRate: 22050},
		{Encoding: media.EncodingPCM16, SampleRate: 24000},
	}
	var want time.Duration
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			rc, err := e.Synthesize(t.Context(), ai.SpeechRequest{Text: sixWords, Format: f})
			if err != nil {
				t.Fatal(err)
			}
			defer closeOK(t, rc)
			audio, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if len(audio)%f.Encoding.BytesPerSample() != 0 {
				t.Errorf("%d bytes is not a whole number of samples", len(audio))
			}
			d := f.Duration(len(audio))
			if want == 0 {
				want = d
			}
			if diff := (d - want).Abs(); diff > 5*time.Millisecond {
				t.Errorf("lasts %v, but %v in %v", d, want, formats[0])
			}
		})
	}
}

func TestEspeakReadsTheTextNotOptions(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEspeak(t)
	rc, err := e.Synthesize(t.Context(), ai.SpeechRequest{Text: "--help -v xx $(true); `true`", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, rc)
	audio, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if d := media.PCMU8k.Duration(len(audio)); d < 500*time.Millisecond {
		t.Errorf("only %v of audio: the text was not spoken", d)
	}
}

func TestEspeakCancellationEndsTheProcess(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEspeak(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// A long text: espeak-ng fills the pipe and waits for the reader.
	long := strings.Repeat("This is a rather long sentence that goes on. ", 20)
	rc, err := e.Synthesize(ctx, ai.SpeechRequest{Text: long, Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1600)); err != nil {
		t.Fatal(err)
	}
	cancel()
	start := time.Now()
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel = %v, want context.Canceled", err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("ending the stream took %v, want it prompt", d)
	}
	if kids := children(t); len(kids) != 0 {
		t.Errorf("child processes left: %v", kids)
	}
}

func TestEspeakCloseBeforeTheEndKillsTheProcess(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEspeak(t)
	long := strings.Repeat("This is a rather long sentence that goes on. ", 20)
	for _, read := range []int{0, 1600} {
		rc, err := e.Synthesize(t.Context(), ai.SpeechRequest{Text: long, Format: media.PCMU8k})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, read)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := rc.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := rc.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Close took %v, want it prompt", d)
		}
		if _, err := rc.Read(make([]byte, 10)); !errors.Is(err, local.ErrClosed) {
			t.Errorf("Read after Close = %v, want ErrClosed", err)
		}
		if kids := children(t); len(kids) != 0 {
			t.Errorf("after Close with %d bytes read: child processes left: %v", read, kids)
		}
	}
}

func TestEspeakCloseAbortsABlockedRead(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEspeak(t)
	long := strings.Repeat("This is a rather long sentence that goes on. ", 20)
	rc, err := e.Synthesize(t.Context(), ai.SpeechRequest{Text: long, Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, rc)
		done <- err
	}()
	time.Sleep(5 * time.Millisecond)
	if err := rc.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Log("the reader finished the audio before Close")
		} else if !errors.Is(err, local.ErrClosed) {
			t.Errorf("reader ended with %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Read still blocked 2 s after Close")
	}
}

func TestEspeakRejectsBadRequests(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEspeak(t)
	tests := []struct {
		name string
		req  ai.SpeechRequest
		want error
	}{
		{"empty text", ai.SpeechRequest{Text: " \n ", Format: media.PCMU8k}, local.ErrEmptyText},
		{"too long text", ai.SpeechRequest{Text: strings.Repeat("a", 1001), Format: media.PCMU8k}, local.ErrTextTooLong},
		{"voice with a space", ai.SpeechRequest{Text: "hi", Voice: "en us", Format: media.PCMU8k}, local.ErrBadVoice},
		{"voice with a path", ai.SpeechRequest{Text: "hi", Voice: "../../etc/passwd", Format: media.PCMU8k}, local.ErrBadVoice},
		{"voice that looks like an option", ai.SpeechRequest{Text: "hi", Voice: "-w/tmp/x", Format: media.PCMU8k}, local.ErrBadVoice},
		{"voice with shell characters", ai.SpeechRequest{Text: "hi", Voice: "en;ls", Format: media.PCMU8k}, local.ErrBadVoice},
		{"language that is no voice name", ai.SpeechRequest{Text: "hi", Language: "en US", Format: media.PCMU8k}, local.ErrBadVoice},
		{"no format", ai.SpeechRequest{Text: "hi"}, media.ErrUnsupportedEncoding},
		{"unsupported rate", ai.SpeechRequest{Text: "hi", Format: media.Format{Encoding: media.EncodingPCMU, SampleRate: 11025}}, media.ErrUnsupportedEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := e.Synthesize(t.Context(), tt.req)
			if err == nil {
				closeOK(t, rc)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Synthesize = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEspeakUnknownVoiceFailsOnRead(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEspeak(t)
	rc, err := e.Synthesize(t.Context(), ai.SpeechRequest{Text: "hello", Voice: "xx-nosuchvoice", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, rc)
	_, err = io.ReadAll(rc)
	if err == nil || !strings.Contains(err.Error(), "voice") {
		t.Errorf("ReadAll = %v, want espeak-ng's error about the voice", err)
	}
	t.Log(err)
}

func TestEspeakLanguageChoosesTheVoice(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEspeak(t)
	rc, err := e.Synthesize(t.Context(), ai.SpeechRequest{Text: "bonjour", Language: "fr", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, rc)
	if _, err := io.ReadAll(rc); err != nil {
		t.Error(err)
	}
}

func TestNewEspeak(t *testing.T) {
	t.Run("a missing binary makes it unavailable", func(t *testing.T) {
		_, err := local.NewEspeak(local.EspeakConfig{Binary: filepath.Join(t.TempDir(), "espeak-ng")})
		if !errors.Is(err, ai.ErrUnavailable) {
			t.Errorf("NewEspeak = %v, want ai.ErrUnavailable", err)
		}
	})
	t.Run("bad settings are all reported", func(t *testing.T) {
		_, err := local.NewEspeak(local.EspeakConfig{WordsPerMinute: 1000, DefaultVoice: "a b", MaxTextBytes: 1 << 20})
		if err == nil || !errors.Is(err, local.ErrBadVoice) || !strings.Contains(err.Error(), "words per minute") || !strings.Contains(err.Error(), "max text bytes") {
			t.Errorf("NewEspeak = %v, want three problems", err)
		}
	})
}

// BenchmarkEspeakSentence reports espeak-ng's time to the first byte of audio
// and the total time for a six-word sentence in PCMU.
func BenchmarkEspeakSentence(b *testing.B) {
	e := newEspeak(b)
	buf := make([]byte, 4096)
	var ttfb time.Duration
	for b.Loop() {
		start := time.Now()
		rc, err := e.Synthesize(b.Context(), ai.SpeechRequest{Text: sixWords, Format: media.PCMU8k})
		if err != nil {
			b.Fatal(err)
		}
		for first := true; ; first = false {
			if _, err := rc.Read(buf); err != nil {
				if !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
				break
			}
			if first {
				ttfb += time.Since(start)
			}
		}
		closeOK(b, rc)
	}
	b.ReportMetric(float64(ttfb.Microseconds())/1000/float64(b.N), "ms-ttfb/op")
}

func TestSpeechCacheInFrontOfEspeak(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := ai.NewSpeechCache(newEspeak(t), ai.DefaultSpeechCacheBytes, 200)
	req := ai.SpeechRequest{Text: sixWords, Format: media.PCMU8k}
	var got [2][]byte
	for i := range got {
		rc, err := c.Synthesize(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if got[i], err = io.ReadAll(rc); err != nil {
			t.Fatal(err)
		}
		closeOK(t, rc)
	}
	if c.Hits() != 1 || c.Misses() != 1 || string(got[0]) != string(got[1]) || len(got[0]) == 0 {
		t.Errorf("hits %d misses %d, equal %v: want the second request served from the cache", c.Hits(), c.Misses(), string(got[0]) == string(got[1]))
	}
}
