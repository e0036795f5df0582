package openai_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/ai/openai/openaitest"
	"github.com/iace/iace/media"
)

// newTranscriber starts a fake and a transcriber for it with test-sized
// delays.
func newTranscriber(t *testing.T, tweak func(*openai.Config, *openai.TranscriberConfig)) (*openaitest.Server, *openai.Transcriber, *prometheus.Registry) {
	t.Helper()
	srv := openaitest.Start(openaitest.Options{APIKey: testKey})
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	cfg := openai.Config{
		BaseURL:    srv.URL,
		APIKey:     testKey,
		Retry:      openai.RetryConfig{BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond},
		Breaker:    openai.BreakerConfig{Failures: 3, Delay: 200 * time.Millisecond},
		Registerer: reg,
		Logger:     slog.New(slog.DiscardHandler),
	}
	tc := openai.TranscriberConfig{Timeout: 2 * time.Second}
	if tweak != nil {
		tweak(&cfg, &tc)
	}
	tr, err := openai.NewTranscriber(cfg, tc)
	if err != nil {
		t.Fatalf("NewTranscriber: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return srv, tr, reg
}

// tone is d of a 440 Hz tone at rate, loud enough to count as speech.
func tone(rate int, d time.Duration) []int16 {
	n := int(int64(rate) * int64(d) / int64(time.Second))
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
	}
	return pcm
}

// l16k is Telnyx's wideband format: L16 (big-endian) at 16 kHz.
var l16k = media.Format{Encoding: media.EncodingL16, SampleRate: 16000}

// encode returns pcm in f, as a call carries it.
func encode(f media.Format, pcm []int16) []byte {
	b := make([]byte, len(pcm)*f.Encoding.BytesPerSample())
	return b[:media.EncodeTo(b, pcm, f.Encoding)]
}

// heard returns pcm as it comes out of f: what a stream in f uploads.
func heard(f media.Format, pcm []int16) []int16 {
	out := make([]int16, len(pcm))
	return out[:media.DecodeTo(out, encode(f, pcm), f.Encoding)]
}

// sendFrames sends pcm in 20 ms frames encoded in f.
func sendFrames(t *testing.T, s ai.TranscriptStream, f media.Format, pcm []int16) {
	t.Helper()
	frame := f.SampleRate / 50
	for len(pcm) > 0 {
		n := min(frame, len(pcm))
		if err := s.Send(encode(f, pcm[:n])); err != nil {
			t.Fatalf("Send: %v", err)
		}
		pcm = pcm[n:]
	}
}

func openStream(t *testing.T, tr *openai.Transcriber, f media.Format) ai.TranscriptStream {
	t.Helper()
	s, err := tr.Open(context.Background(), ai.TranscribeConfig{Format: f, Language: "en-US"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func nextTranscript(t *testing.T, s ai.TranscriptStream) ai.Transcript {
	t.Helper()
	select {
	case tr, ok := <-s.Results():
		if !ok {
			t.Fatal("Results closed")
		}
		return tr
	case <-time.After(5 * time.Second):
		t.Fatal("no transcript within 5s")
	}
	return ai.Transcript{}
}

func dropped(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "iace_openai_utterances_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestTranscriberDeliversFinalTranscriptAfterEndOfSpeech(t *testing.T) {
	srv, tr, reg := newTranscriber(t, nil)
	srv.EnqueueTranscription(openaitest.TranscriptionReply{Text: " Can I book a cleaning on Friday?"})
	s := openStream(t, tr, media.PCMU8k)
	audio := tone(8000, time.Second)
	sendFrames(t, s, media.PCMU8k, audio)
	select {
	case got := <-s.Results():
		t.Fatalf("a transcript before EndOfSpeech: %+v", got)
	default:
	}
	if err := s.EndOfSpeech(); err != nil {
		t.Fatal(err)
	}
	got := nextTranscript(t, s)
	if got.Text != "Can I book a cleaning on Friday?" || !got.Final {
		t.Errorf("transcript = %+v", got)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Path != "/audio/transcriptions" || r.Authorization != "Bearer "+testKey || !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		t.Errorf("path %q auth %q content type %q", r.Path, r.Authorization, r.Header.Get("Content-Type"))
	}
	tx := r.Transcription
	if tx.Err != "" || tx.Model != openai.DefaultTranscriptionModel || tx.ResponseFormat != "json" || tx.Language != "en" || tx.Filename != "utterance.wav" {
		t.Errorf("form = %+v", tx)
	}
	if tx.WAV == nil || tx.WAV.Format != (media.Format{Encoding: media.EncodingPCM16, SampleRate: 8000}) || tx.WAV.Channels != 1 || len(tx.File) != 44+2*len(audio) {
		t.Fatalf("wav header %+v, %d bytes", tx.WAV, len(tx.File))
	}
	// The mu-law frames are decoded once, in the stream, for the upload.
	want := heard(media.PCMU8k, audio)
	for i := range want {
		if tx.Samples[i] != want[i] {
			t.Fatalf("sample %d = %d, want %d", i, tx.Samples[i], want[i])
		}
	}
	if got := counter(t, reg, "iace_openai_requests_total", "transcribe", "ok"); got != 1 {
		t.Errorf("ok transcriptions = %v, want 1", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-s.Results(); ok {
		t.Error("Results still open after Close")
	}
	if err := s.Send(encode(media.PCMU8k, audio[:160])); !errors.Is(err, openai.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}

func TestTranscriberUploadsWidebandL16AsPCM16(t *testing.T) {
	srv, tr, _ := newTranscriber(t, nil)
	srv.EnqueueTranscription(openaitest.TranscriptionReply{Text: "wideband"})
	s := openStream(t, tr, l16k)
	audio := tone(16000, 700*time.Millisecond)
	sendFrames(t, s, l16k, audio)
	_ = s.EndOfSpeech()
	if got := nextTranscript(t, s); got.Text != "wideband" {
		t.Fatalf("transcript = %+v", got)
	}
	tx := srv.Requests()[0].Transcription
	if tx.WAV == nil || tx.WAV.Format != (media.Format{Encoding: media.EncodingPCM16, SampleRate: 16000}) || len(tx.Samples) != len(audio) {
		t.Fatalf("wav header %+v, %d samples, want PCM16/16000 and %d", tx.WAV, len(tx.Samples), len(audio))
	}
	for i := range audio {
		if tx.Samples[i] != audio[i] { // L16 is lossless: only its byte order changes
			t.Fatalf("sample %d = %d, want %d", i, tx.Samples[i], audio[i])
		}
	}
}

func TestTranscriberSkipsShortAndSilentUtterances(t *testing.T) {
	srv, tr, reg := newTranscriber(t, nil)
	srv.EnqueueTranscription(openaitest.TranscriptionReply{Text: "Friday works."})
	s := openStream(t, tr, l16k)
	sendFrames(t, s, l16k, tone(16000, 100*time.Millisecond)) // a click
	_ = s.EndOfSpeech()
	sendFrames(t, s, l16k, make([]int16, 16000)) // a second of silence
	_ = s.EndOfSpeech()
	_ = s.EndOfSpeech() // nothing held at all
	sendFrames(t, s, l16k, tone(16000, 600*time.Millisecond))
	_ = s.EndOfSpeech()
	if got := nextTranscript(t, s); got.Text != "Friday works." {
		t.Errorf("transcript = %+v", got)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Transcription.Duration() != 600*time.Millisecond {
		t.Fatalf("%d requests, want only the real utterance", len(reqs))
	}
	if a, b := dropped(t, reg, "too_short"), dropped(t, reg, "silent"); a != 2 || b != 1 {
		t.Errorf("dropped too_short %v silent %v, want 2 and 1", a, b)
	}
}

func TestTranscriberCapsTheUtterance(t *testing.T) {
	srv, tr, reg := newTranscriber(t, func(_ *openai.Config, tc *openai.TranscriberConfig) { tc.MaxUtterance = time.Second })
	s := openStream(t, tr, media.PCMU8k)
	sendFrames(t, s, media.PCMU8k, tone(8000, 3*time.Second))
	_ = s.EndOfSpeech()
	nextTranscript(t, s)
	if d := srv.Requests()[0].Transcription.Duration(); d != time.Second {
		t.Errorf("uploaded %v of audio, want the 1s cap", d)
	}
	if got := dropped(t, reg, "too_long"); got != 1 {
		t.Errorf("too_long = %v, want 1 (once per utterance)", got)
	}
}

func TestTranscriberDropsUtterancesBeyondTheQueue(t *testing.T) {
	srv, tr, reg := newTranscriber(t, func(_ *openai.Config, tc *openai.TranscriberConfig) { tc.MaxQueued = 1 })
	srv.SetDefaultTranscription(openaitest.TranscriptionReply{Text: "slow", FirstByteDelay: 500 * time.Millisecond})
	s := openStream(t, tr, media.PCMU8k)
	start := time.Now()
	for range 3 {
		sendFrames(t, s, media.PCMU8k, tone(8000, 500*time.Millisecond))
		if err := s.EndOfSpeech(); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("EndOfSpeech blocked for %v", d)
	}
	// One utterance in flight and one queued at most: of three, one at
	// least is dropped.
	if got := dropped(t, reg, "queue_full"); got < 1 {
		t.Errorf("queue_full = %v, want at least 1", got)
	}
}

func TestTranscriberRetriesServerErrors(t *testing.T) {
	srv, tr, reg := newTranscriber(t, nil)
	srv.EnqueueTranscription(openaitest.TranscriptionReply{Fault: openaitest.FaultUnavailable},
		openaitest.TranscriptionReply{Fault: openaitest.FaultServerError}, openaitest.TranscriptionReply{Text: "third time"})
	text, err := tr.Transcribe(context.Background(), tone(8000, time.Second), 8000, "")
	if err != nil || text != "third time" {
		t.Fatalf("Transcribe = %q, %v", text, err)
	}
	if n := len(srv.Requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if got := counter(t, reg, "iace_openai_retries_total", "transcribe", ""); got != 2 {
		t.Errorf("retries = %v, want 2", got)
	}
}

func TestTranscriberHonoursRetryAfter(t *testing.T) {
	srv, tr, _ := newTranscriber(t, nil)
	srv.EnqueueTranscription(openaitest.TranscriptionReply{Fault: openaitest.FaultRateLimit, RetryAfter: time.Second},
		openaitest.TranscriptionReply{Text: "after the wait"})
	text, err := tr.Transcribe(context.Background(), tone(8000, time.Second), 8000, "en")
	if err != nil || text != "after the wait" {
		t.Fatalf("Transcribe = %q, %v", text, err)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].Received.Sub(reqs[0].Received); gap < time.Second {
		t.Errorf("retried after %v, want at least the 1s Retry-After", gap)
	}
}

func TestTranscriberGivesUpOnALongRetryAfter(t *testing.T) {
	srv, tr, _ := newTranscriber(t, func(cfg *openai.Config, _ *openai.TranscriberConfig) {
		cfg.Retry.MaxRetryAfter = 500 * time.Millisecond
	})
	srv.EnqueueTranscription(openaitest.TranscriptionReply{Fault: openaitest.FaultRateLimit, RetryAfter: 2 * time.Second})
	start := time.Now()
	_, err := tr.Transcribe(context.Background(), tone(8000, time.Second), 8000, "")
	var ae *openai.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests || ae.RetryAfter != 2*time.Second || !errors.Is(err, ai.ErrUnavailable) {
		t.Fatalf("err = %v, want the 429", err)
	}
	if d := time.Since(start); d > time.Second || len(srv.Requests()) != 1 {
		t.Errorf("gave up after %v and %d requests, want at once after 1", d, len(srv.Requests()))
	}
}

func TestTranscriberTimesOutASlowAttemptAndRetries(t *testing.T) {
	srv, tr, _ := newTranscriber(t, func(_ *openai.Config, tc *openai.TranscriberConfig) { tc.Timeout = 100 * time.Millisecond })
	srv.EnqueueTranscription(openaitest.TranscriptionReply{FirstByteDelay: 3 * time.Second}, openaitest.TranscriptionReply{Text: "fast"})
	text, err := tr.Transcribe(context.Background(), tone(8000, time.Second), 8000, "")
	if err != nil || text != "fast" {
		t.Fatalf("Transcribe = %q, %v", text, err)
	}
	select {
	case <-srv.Cancellations():
	case <-time.After(time.Second):
		t.Error("the fake never saw the slow attempt abandoned")
	}
}

func TestTranscriberSlowEveryTimeFailsWithErrTimeout(t *testing.T) {
	srv, tr, _ := newTranscriber(t, func(cfg *openai.Config, tc *openai.TranscriberConfig) {
		tc.Timeout = 50 * time.Millisecond
		cfg.Retry.MaxAttempts = 2
	})
	srv.SetDefaultTranscription(openaitest.TranscriptionReply{FirstByteDelay: time.Second})
	_, err := tr.Transcribe(context.Background(), tone(8000, time.Second), 8000, "")
	if !errors.Is(err, openai.ErrTimeout) || !errors.Is(err, ai.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrTimeout wrapping ai.ErrUnavailable", err)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestTranscriberBreakerOpens(t *testing.T) {
	srv, tr, reg := newTranscriber(t, func(cfg *openai.Config, _ *openai.TranscriberConfig) {
		cfg.Retry.MaxAttempts = 1
		cfg.Breaker = openai.BreakerConfig{Failures: 2, Delay: time.Minute}
	})
	srv.SetDefaultTranscription(openaitest.TranscriptionReply{Fault: openaitest.FaultUnavailable})
	audio := tone(8000, time.Second)
	for range 2 {
		if _, err := tr.Transcribe(context.Background(), audio, 8000, ""); !errors.Is(err, ai.ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
	}
	_, err := tr.Transcribe(context.Background(), audio, 8000, "")
	if !errors.Is(err, openai.ErrCircuitOpen) || !errors.Is(err, ai.ErrUnavailable) {
		t.Fatalf("third call: %v, want ErrCircuitOpen", err)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests reached the fake, want 2", n)
	}
	if got := gauge(t, reg, "iace_openai_breaker_state", "transcribe"); got != 2 {
		t.Errorf("breaker state = %v, want 2 (open)", got)
	}
	if got := counter(t, reg, "iace_openai_requests_total", "transcribe", "rejected"); got != 1 {
		t.Errorf("rejected = %v, want 1", got)
	}
}

func TestTranscriberMalformedAnswerIsNotRetried(t *testing.T) {
	srv, tr, _ := newTranscriber(t, nil)
	srv.EnqueueTranscription(openaitest.TranscriptionReply{Fault: openaitest.FaultMalformed})
	_, err := tr.Transcribe(context.Background(), tone(8000, time.Second), 8000, "")
	if !errors.Is(err, openai.ErrMalformed) || errors.Is(err, ai.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestTranscriberUnknownModelIsRejected(t *testing.T) {
	srv, tr, _ := newTranscriber(t, func(_ *openai.Config, tc *openai.TranscriberConfig) { tc.Model = "llama-3.3-70b-versatile" })
	_, err := tr.Transcribe(context.Background(), tone(8000, time.Second), 8000, "")
	var ae *openai.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Code != "model_not_found" || len(srv.Requests()) != 1 {
		t.Fatalf("err = %v, want one 404 model_not_found", err)
	}
}

func TestTranscriberCancelAbortsTheUpload(t *testing.T) {
	srv, tr, _ := newTranscriber(t, nil)
	srv.EnqueueTranscription(openaitest.TranscriptionReply{Text: "never", FirstByteDelay: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := tr.Open(ctx, ai.TranscribeConfig{Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	sendFrames(t, s, media.PCMU8k, tone(8000, time.Second))
	_ = s.EndOfSpeech()
	// Wait until the upload is at the fake, then hang up.
	select {
	case <-srv.Arrivals():
	case <-time.After(5 * time.Second):
		t.Fatal("the upload never reached the fake")
	}
	start := time.Now()
	cancel()
	select {
	case <-srv.Cancellations():
	case <-time.After(2 * time.Second):
		t.Fatal("the fake never saw the upload cancelled")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel and Close took %v", d)
	}
	if tr, ok := <-s.Results(); ok {
		t.Errorf("a transcript after cancel: %+v", tr)
	}
}

func TestTranscriberRejectsBadRates(t *testing.T) {
	_, tr, _ := newTranscriber(t, nil)
	if _, err := tr.Open(context.Background(), ai.TranscribeConfig{}); err == nil {
		t.Error("Open without a format succeeded")
	}
	if _, err := tr.Open(context.Background(), ai.TranscribeConfig{Format: media.Format{Encoding: media.EncodingPCMU, SampleRate: 11025}}); err == nil {
		t.Error("Open at 11025 Hz succeeded")
	}
	if _, err := tr.Transcribe(context.Background(), tone(8000, time.Second), 100000, ""); err == nil {
		t.Error("Transcribe at 100 kHz succeeded")
	}
	if _, err := tr.Transcribe(context.Background(), nil, 8000, ""); !errors.Is(err, openai.ErrNoSpeech) {
		t.Errorf("empty audio: %v, want ErrNoSpeech", err)
	}
}

func BenchmarkTranscriptStreamSend(b *testing.B) {
	srv := openaitest.Start(openaitest.Options{})
	defer srv.Close()
	tr, err := openai.NewTranscriber(openai.Config{BaseURL: srv.URL, Logger: slog.New(slog.DiscardHandler)}, openai.TranscriberConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tr.Close() }()
	s, err := tr.Open(context.Background(), ai.TranscribeConfig{Format: media.PCMU8k})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	frame := encode(media.PCMU8k, tone(8000, 20*time.Millisecond))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = s.Send(frame)
		if i%1400 == 1399 { // a 28 s utterance, under the cap
			_ = s.EndOfSpeech()
		}
	}
}
