package openai

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
)

// transcriptResultsCap is how many transcripts wait for the session.
const transcriptResultsCap = 16

// Open starts one call's transcription stream for audio in cfg.Format, the
// call's wire format: Send keeps the frames as they came, and the stream's
// goroutine decodes each utterance to PCM16 for the upload. It starts one
// goroutine, which ends when the stream is closed or ctx is cancelled;
// Close waits for it.
func (t *Transcriber) Open(ctx context.Context, cfg ai.TranscribeConfig) (ai.TranscriptStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := cfg.Format.Validate(); err != nil {
		return nil, fmt.Errorf("openai transcribe: format %s: %w", cfg.Format, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	bps := cfg.Format.Encoding.BytesPerSample()
	s := &TranscriptStream{
		t:        t,
		format:   cfg.Format,
		lang:     cmpOr(whisperLanguage(cfg.Language), t.cfg.Language),
		maxBytes: t.maxSamples(cfg.Format.SampleRate) * bps,
		jobs:     make(chan []byte, t.cfg.MaxQueued),
		results:  make(chan ai.Transcript, transcriptResultsCap),
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	s.buf = s.newBuf()
	go s.run(wctx)
	return s, nil
}

// TranscriptStream is one call's VAD-cut transcription: Send buffers the
// caller's audio as it came, EndOfSpeech hands the utterance to the
// stream's goroutine, which decodes and uploads it and delivers a final
// transcript when speech was recognised. Utterances too short or silent,
// and transcriptions that failed, deliver nothing (they are counted, and
// failures logged). Send may be called from another goroutine than
// EndOfSpeech and Close.
type TranscriptStream struct {
	t         *Transcriber
	format    media.Format
	lang      string
	maxBytes  int
	jobs      chan []byte
	results   chan ai.Transcript
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	pcm []int16 // the goroutine's decoded utterance, reused

	mu     sync.Mutex
	buf    []byte // the utterance so far, in format
	cut    bool   // the utterance in buf reached maxBytes
	closed bool
}

// bufPool recycles utterance buffers between streams: after warm-up Send
// does not allocate.
var bufPool sync.Pool

func (s *TranscriptStream) newBuf() []byte {
	if p, ok := bufPool.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	// Two seconds; append grows it.
	return make([]byte, 0, 2*s.format.SampleRate*s.format.Encoding.BytesPerSample())
}

func putBuf(b []byte) {
	b = b[:0]
	bufPool.Put(&b)
}

// Send appends a copy of one frame of caller audio, in the stream's format,
// to the utterance. It never blocks; audio past MaxUtterance is dropped and
// counted once per utterance.
func (s *TranscriptStream) Send(frame []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	// Whole samples only: a split one would shift the rest of the utterance.
	bps := s.format.Encoding.BytesPerSample()
	frame = frame[:len(frame)-len(frame)%bps]
	room := s.maxBytes - len(s.buf)
	if len(frame) > room {
		frame = frame[:max(room, 0)]
		if !s.cut {
			s.cut = true
			s.t.dropped(reasonTooLong)
		}
	}
	s.buf = append(s.buf, frame...)
	return nil
}

// EndOfSpeech queues the utterance held so far for transcription and starts
// a new one. It never blocks: when MaxQueued utterances already wait, this
// one is dropped and counted.
func (s *TranscriptStream) EndOfSpeech() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if len(s.buf) == 0 {
		s.t.dropped(reasonTooShort)
		return nil
	}
	select {
	case s.jobs <- s.buf:
		s.buf = s.newBuf()
	default:
		s.t.dropped(reasonQueueFull)
		s.buf = s.buf[:0]
	}
	s.cut = false
	return nil
}

// Results delivers the final transcripts; it is closed by Close.
func (s *TranscriptStream) Results() <-chan ai.Transcript { return s.results }

// Close stops the stream: a transcription under way is cancelled, queued
// utterances are dropped, and Results is closed once the stream's goroutine
// has ended. It is idempotent.
func (s *TranscriptStream) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		<-s.done
		close(s.results)
	})
	return nil
}

// run transcribes the queued utterances one after the other, in order.
func (s *TranscriptStream) run(ctx context.Context) {
	defer close(s.done)
	for {
		select {
		case <-ctx.Done():
			return
		case audio := <-s.jobs:
			s.pcm = slices.Grow(s.pcm[:0], len(audio)/s.format.Encoding.BytesPerSample())
			pcm := s.pcm[:media.DecodeTo(s.pcm[:cap(s.pcm)], audio, s.format.Encoding)]
			putBuf(audio)
			text, err := s.transcribe(ctx, pcm)
			switch {
			case err == nil && text != "":
				select {
				case s.results <- ai.Transcript{Text: text, Final: true}:
				case <-ctx.Done():
					return
				}
			case err == nil, errors.Is(err, ErrNoSpeech):
			case ctx.Err() != nil:
				return
			default:
				// The error names the status and the provider's message,
				// never the caller's words.
				s.t.log.Warn("utterance not transcribed", slog.Any("error", err), slog.Duration("audio", s.duration(len(pcm))))
			}
		}
	}
}

// transcribe skips an utterance without speech (counting why) and uploads
// the others.
func (s *TranscriptStream) transcribe(ctx context.Context, pcm []int16) (string, error) {
	if reason := s.t.skip(pcm, s.format.SampleRate); reason != "" {
		s.t.dropped(reason)
		return "", ErrNoSpeech
	}
	return s.t.upload(ctx, pcm, s.format.SampleRate, s.lang)
}

func (s *TranscriptStream) duration(samples int) time.Duration {
	return time.Duration(int64(samples) * int64(time.Second) / int64(s.format.SampleRate))
}

// dropped counts an utterance (or its tail) not transcribed.
func (t *Transcriber) dropped(reason string) {
	t.drop.WithLabelValues(t.provider, reason).Inc()
}
