package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
)

// The holding phrase is what a caller hears when a provider fails: it must
// play even when text-to-speech is the provider that is down. So it is
// rendered once per voice, language and format, at engine start
// (PrerenderHolding) or at the first call that needs it, and kept in memory
// for the life of the engine, outside any cache that could evict it.

// Bounds of one rendering: a phrase of a few seconds is tens of kilobytes.
const (
	holdingRenderTimeout = 10 * time.Second
	maxHoldingAudioBytes = 1 << 20
	// holdingRetryAfter spaces the renderings of a phrase whose last one
	// failed, so calls during a TTS outage do not each try again.
	holdingRetryAfter = 30 * time.Second
)

type holdingKey struct {
	voice, language string
	format          media.Format
}

// holdingAudio is the engine's store of rendered holding phrases. Calls read
// it concurrently; a rendering writes it once.
type holdingAudio struct {
	mu        sync.Mutex
	audio     map[holdingKey][]byte
	rendering map[holdingKey]bool
	failedAt  map[holdingKey]time.Time
}

func newHoldingAudio() *holdingAudio {
	return &holdingAudio{audio: map[holdingKey][]byte{}, rendering: map[holdingKey]bool{}, failedAt: map[holdingKey]time.Time{}}
}

func (h *holdingAudio) get(k holdingKey) ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.audio[k]
	return a, ok
}

// claim reports whether the caller should render k now: it is not rendered,
// no one else is rendering it, and its last failure is not too recent.
func (h *holdingAudio) claim(k holdingKey, now time.Time, force bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.audio[k]; ok || h.rendering[k] {
		return false
	}
	if at, ok := h.failedAt[k]; ok && !force && now.Sub(at) < holdingRetryAfter {
		return false
	}
	h.rendering[k] = true
	return true
}

func (h *holdingAudio) done(k holdingKey, audio []byte, err error, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.rendering, k)
	switch {
	case err == nil:
		h.audio[k] = audio
		delete(h.failedAt, k)
	case !errors.Is(err, context.Canceled):
		h.failedAt[k] = now
	}
}

// PrerenderHolding renders the holding phrase in voice, language and format
// now, so a later outage of the synthesizer cannot silence it. It is a no-op
// when that rendering is already held. Call it at start for the voices the
// agents use; calls render what is missing on their own.
func (e *Engine) PrerenderHolding(ctx context.Context, voice, language string, f media.Format) error {
	k := holdingKey{voice: voice, language: language, format: f}
	if !e.holding.claim(k, time.Now(), true) {
		if _, ok := e.holding.get(k); ok {
			return nil
		}
		return errors.New("session: holding phrase: a rendering is already in progress")
	}
	return e.renderHolding(ctx, k)
}

// renderHolding synthesizes the phrase for k, which the caller has claimed.
func (e *Engine) renderHolding(ctx context.Context, k holdingKey) error {
	ctx, cancel := context.WithTimeout(ctx, holdingRenderTimeout)
	defer cancel()
	audio, err := synthesizeAll(ctx, e.deps.Synth, ai.SpeechRequest{Text: e.cfg.HoldingPhrase, Voice: k.voice, Language: k.language, Format: k.format})
	e.holding.done(k, audio, err, time.Now())
	if err != nil {
		return fmt.Errorf("session: holding phrase: %w", err)
	}
	return nil
}

func synthesizeAll(ctx context.Context, synth Synthesizer, req ai.SpeechRequest) ([]byte, error) {
	rc, err := synth.Synthesize(ctx, req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }() // read to the end or failed; nothing to report
	audio, err := io.ReadAll(io.LimitReader(rc, maxHoldingAudioBytes+1))
	switch {
	case err != nil:
		return nil, err
	case len(audio) > maxHoldingAudioBytes:
		return nil, fmt.Errorf("more than %d bytes of audio", maxHoldingAudioBytes)
	case len(audio) == 0:
		return nil, errors.New("no audio")
	}
	return audio, nil
}

// holdingKey is the rendering this call's holding phrase needs.
func (s *Session) holdingKey() holdingKey {
	return holdingKey{voice: s.agent.Voice, language: s.agent.Language, format: s.playout.Format()}
}

// ensureHolding starts rendering this call's holding phrase if no rendering
// is held yet. The rendering runs among the call's turn goroutines (run waits
// for them), off the media path.
func (s *Session) ensureHolding(ctx context.Context) {
	k := s.holdingKey()
	if !s.eng.holding.claim(k, time.Now(), false) {
		return
	}
	s.turns.Go(func() {
		if err := s.eng.renderHolding(ctx, k); err != nil {
			s.log.Warn("holding phrase not rendered; it will be synthesized when needed", "err", err)
		}
	})
}

// renderedSpeech is a Synthesizer that answers with audio rendered earlier,
// shared by every call (never written to): the playout queues it by
// reference.
type renderedSpeech struct{ audio []byte }

func (r renderedSpeech) Synthesize(context.Context, ai.SpeechRequest) (io.ReadCloser, error) {
	return ai.NewSharedSpeech(r.audio), nil
}

// Lookup is Synthesize without a context: the rendering is at hand.
func (r renderedSpeech) Lookup(ai.SpeechRequest) (ai.SharedSpeech, bool) {
	return ai.NewSharedSpeech(r.audio), true
}
