package local

import (
	"context"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/iace/iace/ai"
)

// SimScriptParam is the stream parameter (Telnyx start.custom_parameters) that
// carries the simulated caller's lines, separated by "|": the n-th utterance
// the VAD cuts is "heard" as the n-th line.
const SimScriptParam = "sim_script"

// SimPlaceholder is what SimTranscriber hears once the script is used up, or
// when there is no script.
const SimPlaceholder = "(unintelligible speech)"

// Limits on a script, which comes from the untrusted stream start message.
const (
	simMaxLines     = 64
	simMaxLineBytes = 500
	simResultsCap   = 16
)

// SimTranscriber is a simulated speech-to-text provider for load tests and
// demos: it does not listen to the audio at all. Each utterance (each
// EndOfSpeech) yields the next line of the script given in the stream's
// SimScriptParam parameter, so a scripted caller drives the whole loop.
type SimTranscriber struct{}

// NewSimTranscriber returns a simulated transcriber.
func NewSimTranscriber() *SimTranscriber { return &SimTranscriber{} }

// Open starts a simulated stream for one call. It starts no goroutine; the
// stream lives until Close (cancelling ctx does not close it).
func (*SimTranscriber) Open(ctx context.Context, cfg ai.TranscribeConfig) (ai.TranscriptStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &SimStream{
		script:  parseSimScript(cfg.Params[SimScriptParam]),
		results: make(chan ai.Transcript, simResultsCap),
	}, nil
}

// parseSimScript splits a script into trimmed, non-empty lines, keeping at most
// simMaxLines lines of at most simMaxLineBytes bytes each.
func parseSimScript(s string) []string {
	var lines []string
	for line := range strings.SplitSeq(s, "|") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(lines) == simMaxLines {
			break
		}
		lines = append(lines, truncateUTF8(line, simMaxLineBytes))
	}
	return lines
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimSpace(s[:n])
}

// SimStream is one call's simulated transcription stream. Its methods are safe
// for concurrent use and never block.
type SimStream struct {
	script  []string
	results chan ai.Transcript

	mu         sync.Mutex
	closed     bool
	frames     uint64
	utterances int
	dropped    uint64
}

// Send counts one frame of caller audio, in whatever format the call
// carries; the content is ignored.
func (s *SimStream) Send(_ []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.frames++
	return nil
}

// EndOfSpeech emits the final transcript of the utterance that just ended: the
// next script line, or SimPlaceholder. If the consumer has let the results
// buffer fill up, the transcript is dropped and counted.
func (s *SimStream) EndOfSpeech() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	text := SimPlaceholder
	if s.utterances < len(s.script) {
		text = s.script[s.utterances]
	}
	s.utterances++
	select {
	case s.results <- ai.Transcript{Text: text, Final: true, SpeechFinal: true}: // a scripted line is a whole utterance
	default:
		s.dropped++
	}
	return nil
}

// Results delivers the transcripts; it is closed by Close.
func (s *SimStream) Results() <-chan ai.Transcript { return s.results }

// Close ends the stream and closes Results. It is idempotent.
func (s *SimStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.results)
	}
	return nil
}

// Frames returns how many audio frames Send has received.
func (s *SimStream) Frames() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames
}

// Dropped returns how many transcripts were dropped because Results was full.
func (s *SimStream) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}
