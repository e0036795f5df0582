package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telemetry"
)

// DefaultTranscriptionModel is Groq's fast Whisper (docs/protocols/llm.md section 2).
const DefaultTranscriptionModel = "whisper-large-v3-turbo"

// Defaults of TranscriberConfig.
const (
	defaultTranscribeTimeout = 10 * time.Second
	defaultMaxUtterance      = 30 * time.Second
	defaultMinUtterance      = 250 * time.Millisecond
	defaultSilencePeak       = 200
	defaultMaxQueued         = 4
	defaultMaxTranscript     = 4096
	maxPromptBytes           = 1024 // Groq allows 224 tokens
	maxTranscriptionAnswer   = 1 << 20
)

// ErrNoSpeech is returned by Transcribe for audio too short or too quiet to
// hold speech; nothing is sent for it (Groq bills at least 10 s a request,
// and Whisper makes words up from silence).
var ErrNoSpeech = errors.New("openai: no speech in the audio")

// TranscriberConfig configures a Transcriber. Zero fields take defaults.
type TranscriberConfig struct {
	// Model is the Whisper model. Default whisper-large-v3-turbo.
	Model string
	// Language is the ISO-639-1 code sent when the stream's configuration
	// names none; empty lets the server detect it.
	Language string
	// Prompt is a spelling and context hint (names, products), sent with
	// every utterance; at most 1 KiB.
	Prompt string
	// Timeout bounds one attempt, upload to the last byte of the answer.
	// Default 10s.
	Timeout time.Duration
	// MaxUtterance caps the audio held for one utterance; what comes after
	// is dropped and counted. Default 30s.
	MaxUtterance time.Duration
	// MinUtterance: shorter utterances are dropped without a request (a
	// click, a breath). Default 250ms; negative: keep all.
	MinUtterance time.Duration
	// SilencePeak: an utterance whose loudest sample stays below it is
	// dropped without a request. Default 200 (about -44 dBFS); negative:
	// keep all.
	SilencePeak int
	// MaxQueued caps the utterances of one stream waiting for their
	// transcript; EndOfSpeech drops and counts beyond it. Default 4.
	MaxQueued int
	// MaxTranscriptBytes caps the text of one transcript. Default 4096.
	MaxTranscriptBytes int
}

func (c TranscriberConfig) withDefaults() TranscriberConfig {
	c.Model = cmpOr(c.Model, DefaultTranscriptionModel)
	setDur(&c.Timeout, defaultTranscribeTimeout)
	setDur(&c.MaxUtterance, defaultMaxUtterance)
	setDur(&c.MinUtterance, defaultMinUtterance)
	c.SilencePeak = cmpOr(c.SilencePeak, defaultSilencePeak)
	c.MaxQueued = cmpOr(c.MaxQueued, defaultMaxQueued)
	c.MaxTranscriptBytes = cmpOr(c.MaxTranscriptBytes, defaultMaxTranscript)
	c.Language = whisperLanguage(c.Language)
	return c
}

// Validate reports every problem of a configuration with its defaults
// applied.
func (c TranscriberConfig) Validate() error {
	var errs []error
	if c.Timeout < 0 || c.MaxUtterance < 0 {
		errs = append(errs, errors.New("openai transcribe: timeout and max utterance must not be negative"))
	}
	if c.MaxUtterance > 10*time.Minute {
		errs = append(errs, fmt.Errorf("openai transcribe: max utterance %v over 10m", c.MaxUtterance))
	}
	if c.MaxQueued < 1 {
		errs = append(errs, fmt.Errorf("openai transcribe: max queued %d (want at least 1)", c.MaxQueued))
	}
	if c.MaxTranscriptBytes < 16 {
		errs = append(errs, fmt.Errorf("openai transcribe: max transcript bytes %d (want at least 16)", c.MaxTranscriptBytes))
	}
	if len(c.Prompt) > maxPromptBytes {
		errs = append(errs, fmt.Errorf("openai transcribe: prompt of %d bytes over %d", len(c.Prompt), maxPromptBytes))
	}
	return errors.Join(errs...)
}

// Transcriber is a VAD-cut speech-to-text provider on an OpenAI-compatible
// POST /audio/transcriptions (Groq Whisper by default): each stream buffers
// the caller's audio until the session's VAD says the utterance ended, then
// uploads it as a WAV file and delivers one final transcript. It is safe for
// concurrent use; Close releases its idle connections.
type Transcriber struct {
	cfg      TranscriberConfig
	provider string
	op       *unary
	drop     *prometheus.CounterVec
	log      *slog.Logger
}

// NewTranscriber builds a transcriber for the API of cfg (base URL, key,
// retries, breaker, bulkhead, metrics; the chat and speech fields are not
// used). It sends nothing.
func NewTranscriber(cfg Config, tc TranscriberConfig) (*Transcriber, error) {
	cfg = cfg.withDefaults()
	tc = tc.withDefaults()
	if err := errors.Join(cfg.Validate(), tc.Validate()); err != nil {
		return nil, err
	}
	op, err := newUnary(cfg, opTranscribe, "/audio/transcriptions", tc.Timeout, maxTranscriptionAnswer)
	if err != nil {
		return nil, err
	}
	drop := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "openai", Name: "utterances_dropped_total",
		Help: "Caller utterances (or audio of them) not transcribed, by reason: too_short, silent, too_long (audio past the cap), queue_full."},
		[]string{"provider", "reason"})
	if cfg.Registerer != nil {
		if drop, err = telemetry.Register(cfg.Registerer, drop); err != nil {
			return nil, fmt.Errorf("openai: metrics: %w", err)
		}
	}
	return &Transcriber{cfg: tc, provider: cfg.Name, op: op, drop: drop, log: cfg.Logger.With(slog.String("provider", cfg.Name), slog.String("operation", opTranscribe))}, nil
}

// Close releases the idle connections of the transcriber's own transport.
// Open streams are closed by their own Close.
func (t *Transcriber) Close() error {
	t.op.close()
	return nil
}

// transcriptionAnswer is the json response_format (docs/protocols/llm.md section 2).
type transcriptionAnswer struct {
	Text *string `json:"text"`
}

// Transcribe uploads one utterance of mono PCM16 at sampleRate and returns
// its text, trimmed and capped. language is an ISO-639-1 code (a BCP 47 tag
// such as en-US is cut to "en"); empty uses the configured one. Audio too
// short or too quiet fails with ErrNoSpeech without a request; audio past
// MaxUtterance is cut. Failures of the provider are retried.
func (t *Transcriber) Transcribe(ctx context.Context, pcm []int16, sampleRate int, language string) (string, error) {
	if sampleRate < 8000 || sampleRate > 48000 {
		return "", fmt.Errorf("openai transcribe: sample rate %d out of range 8000-48000", sampleRate)
	}
	if maxSamples := t.maxSamples(sampleRate); len(pcm) > maxSamples {
		pcm = pcm[:maxSamples]
	}
	if reason := t.skip(pcm, sampleRate); reason != "" {
		return "", fmt.Errorf("openai transcribe: %w (%s)", ErrNoSpeech, reason)
	}
	return t.upload(ctx, pcm, sampleRate, cmpOr(whisperLanguage(language), t.cfg.Language))
}

// upload sends one utterance and parses the answer.
func (t *Transcriber) upload(ctx context.Context, pcm []int16, sampleRate int, language string) (string, error) {
	body, contentType, err := t.form(pcm, sampleRate, language)
	if err != nil {
		return "", err
	}
	data, err := t.op.post(ctx, contentType, body)
	if err != nil {
		return "", err
	}
	var ans transcriptionAnswer
	if err := json.Unmarshal(data, &ans); err != nil || ans.Text == nil {
		return "", fmt.Errorf("openai transcribe: %w: answer is not {\"text\":...}", ErrMalformed)
	}
	return capText(strings.TrimSpace(*ans.Text), t.cfg.MaxTranscriptBytes), nil
}

// maxSamples is MaxUtterance in samples at rate.
func (t *Transcriber) maxSamples(rate int) int {
	return int(int64(rate) * int64(t.cfg.MaxUtterance) / int64(time.Second))
}

// skip returns why an utterance is not worth a request, "" if it is.
func (t *Transcriber) skip(pcm []int16, rate int) string {
	if len(pcm) == 0 || t.cfg.MinUtterance > 0 && int64(len(pcm))*int64(time.Second) < int64(rate)*int64(t.cfg.MinUtterance) {
		return reasonTooShort
	}
	if t.cfg.SilencePeak > 0 {
		peak := 0
		for _, s := range pcm {
			peak = max(peak, abs(int(s)))
		}
		if peak < t.cfg.SilencePeak {
			return reasonSilent
		}
	}
	return ""
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// Reasons an utterance was dropped, values of the reason label.
const (
	reasonTooShort  = "too_short"
	reasonSilent    = "silent"
	reasonTooLong   = "too_long"
	reasonQueueFull = "queue_full"
)

// form builds the multipart body: the utterance as a 44-byte-header WAV
// (PCM16 mono at the call's rate; the server resamples), model,
// response_format=json and the optional language and prompt.
func (t *Transcriber) form(pcm []int16, rate int, language string) ([]byte, string, error) {
	var buf bytes.Buffer
	buf.Grow(44 + 2*len(pcm) + 1024)
	w := multipart.NewWriter(&buf)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="file"; filename="utterance.wav"`)
	h.Set("Content-Type", "audio/wav")
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, "", fmt.Errorf("openai transcribe: %w", err)
	}
	if err := media.WriteWAV(part, rate, pcm); err != nil {
		return nil, "", fmt.Errorf("openai transcribe: %w", err)
	}
	fields := [][2]string{{"model", t.cfg.Model}, {"response_format", "json"}, {"temperature", "0"}}
	if language != "" {
		fields = append(fields, [2]string{"language", language})
	}
	if t.cfg.Prompt != "" {
		fields = append(fields, [2]string{"prompt", t.cfg.Prompt})
	}
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			return nil, "", fmt.Errorf("openai transcribe: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("openai transcribe: %w", err)
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// whisperLanguage turns a language tag into the ISO-639-1 code Whisper
// takes ("en-US" -> "en"), or "" if it does not look like one.
func whisperLanguage(tag string) string {
	code, _, _ := strings.Cut(strings.TrimSpace(tag), "-")
	code, _, _ = strings.Cut(code, "_")
	code = strings.ToLower(code)
	if len(code) < 2 || len(code) > 3 {
		return ""
	}
	for _, r := range code {
		if r < 'a' || r > 'z' {
			return ""
		}
	}
	return code
}

// capText cuts s to at most n bytes without splitting a rune.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimSpace(s[:n])
}
