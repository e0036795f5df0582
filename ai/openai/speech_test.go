package openai_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/ai/openai/openaitest"
	"github.com/iace/iace/media"
)

func TestSynthesizeConvertsWAVToPCMU(t *testing.T) {
	for _, tc := range []struct {
		name      string
		streaming bool
	}{{"with a sized header", false}, {"with a streaming header", true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, reg := setup(t, nil)
			srv.EnqueueSpeech(openaitest.SpeechReply{SampleRate: 24000, Duration: time.Second, ChunkBytes: 1001,
				StreamingHeader: tc.streaming})
			rc, err := c.Synthesize(context.Background(), ai.SpeechRequest{Text: "Your cleaning is booked.", Format: media.PCMU8k})
			if err != nil {
				t.Fatal(err)
			}
			audio, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			// One second of 24 kHz becomes 8000 mu-law bytes at 8 kHz; the
			// resampler's edges may move a sample or two.
			if n := len(audio); n < 7995 || n > 8005 {
				t.Errorf("%d bytes of PCMU, want 8000", n)
			}
			r := srv.Requests()[0]
			if r.Speech.Model != openai.DefaultSpeechModel || r.Speech.Voice != openai.DefaultSpeechVoice ||
				r.Speech.ResponseFormat != "wav" || r.Speech.Input != "Your cleaning is booked." {
				t.Errorf("request = %+v", r.Speech)
			}
			if got := counter(t, reg, "iace_openai_requests_total", "speech", "ok"); got != 1 {
				t.Errorf("ok = %v", got)
			}
		})
	}
}

func TestSynthesizePCMFromOpenAI(t *testing.T) {
	srv := openaitest.Start(openaitest.Options{Vendor: openaitest.OpenAI})
	defer srv.Close()
	c, err := openai.New(openai.Config{BaseURL: srv.URL, SpeechModel: "gpt-4o-mini-tts", SpeechVoice: "alloy", SpeechFormat: openai.SpeechPCM})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	srv.EnqueueSpeech(openaitest.SpeechReply{Duration: 500 * time.Millisecond})
	rc, err := c.Synthesize(context.Background(), ai.SpeechRequest{Text: "Hello.", Voice: "coral",
		Format: media.Format{Encoding: media.EncodingPCM16, SampleRate: 16000}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	audio, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(audio); n < 15990 || n > 16010 {
		t.Errorf("%d bytes of PCM16/16000, want 16000", n)
	}
	if r := srv.Requests()[0]; r.Speech.ResponseFormat != "pcm" || r.Speech.Voice != "coral" || r.Authorization != "" {
		t.Errorf("request %+v, Authorization %q", r.Speech, r.Authorization)
	}
}

func TestSynthesizeCloseAbortsTheRequest(t *testing.T) {
	srv, c, _ := setup(t, nil)
	srv.EnqueueSpeech(openaitest.SpeechReply{Duration: 100 * time.Millisecond, Hold: true, StreamingHeader: true})
	rc, err := c.Synthesize(context.Background(), ai.SpeechRequest{Text: "Hold on.", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 160)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Cancellations():
	case <-time.After(time.Second):
		t.Fatal("the fake never saw the speech request closed")
	}
	if _, err := rc.Read(buf); !errors.Is(err, openai.ErrClosed) {
		t.Errorf("Read after Close = %v", err)
	}
}

func TestSynthesizeCutIsAnError(t *testing.T) {
	srv, c, _ := setup(t, nil)
	srv.EnqueueSpeech(openaitest.SpeechReply{Duration: time.Second, Fault: openaitest.FaultCut, CutAfter: 2})
	rc, err := c.Synthesize(context.Background(), ai.SpeechRequest{Text: "Cut.", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	_, err = io.ReadAll(rc)
	if !errors.Is(err, openai.ErrTruncated) || !errors.Is(err, ai.ErrUnavailable) {
		t.Errorf("err = %v, want ErrTruncated", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestSynthesizeRetriesBeforeFirstByte(t *testing.T) {
	srv, c, _ := setup(t, nil)
	srv.EnqueueSpeech(openaitest.SpeechReply{Fault: openaitest.FaultUnavailable}, openaitest.SpeechReply{})
	rc, err := c.Synthesize(context.Background(), ai.SpeechRequest{Text: "Again.", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	if _, err := io.ReadAll(rc); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestSynthesizeGroqRejectsLongInput(t *testing.T) {
	_, c, _ := setup(t, nil)
	long := make([]byte, 201)
	for i := range long {
		long[i] = 'a'
	}
	_, err := c.Synthesize(context.Background(), ai.SpeechRequest{Text: string(long), Format: media.PCMU8k})
	var ae *openai.APIError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Errorf("err = %v, want a 400", err)
	}
}

func TestSynthesizeCapsTheAnswer(t *testing.T) {
	srv, c, _ := setup(t, func(cfg *openai.Config) { cfg.MaxSpeechBytes = 10000 })
	srv.EnqueueSpeech(openaitest.SpeechReply{SampleRate: 24000, Duration: time.Second, ChunkBytes: 1001, StreamingHeader: true})
	rc, err := c.Synthesize(context.Background(), ai.SpeechRequest{Text: "Far too long.", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	audio, err := io.ReadAll(rc)
	if !errors.Is(err, openai.ErrTooLarge) {
		t.Fatalf("ReadAll = %v, want ErrTooLarge", err)
	}
	// At most the audio before the cap was converted and read (how much
	// depends on how the wire bytes arrived); 48000 bytes of PCM16 would
	// have made 8000 of PCMU.
	if n := len(audio); n > 10000/6+1 {
		t.Errorf("%d bytes of PCMU before the cap of 10000 wire bytes", n)
	}
	if _, err := rc.Read(make([]byte, 10)); !errors.Is(err, openai.ErrTooLarge) {
		t.Errorf("Read after the cap = %v, want ErrTooLarge again", err)
	}
}
