package ai

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"sync/atomic"

	"github.com/maypok86/otter/v2"

	"github.com/iace/iace/media"
)

// SpeechSource produces the audio of one sentence; it has the method of the
// session's Synthesizer, which every text-to-speech provider implements.
type SpeechSource interface {
	Synthesize(ctx context.Context, req SpeechRequest) (io.ReadCloser, error)
}

// DefaultSpeechCacheBytes is a sensible bound for a SpeechCache: 64 MiB hold
// about 2 hours of PCMU (some thousands of stock sentences), or 35 minutes
// of L16 at 16 kHz.
const DefaultSpeechCacheBytes = 64 << 20

// maxCachedAudioBytes bounds one cache entry: a stream longer than this (about
// 2 minutes of PCMU, 10 s of PCM16 at 48 kHz) passes through but is not kept.
const maxCachedAudioBytes = 1 << 20

// speechEntryOverhead is what an entry weighs beyond its audio and key
// strings: the cache's node and the key's headers, roughly.
const speechEntryOverhead = 128

// SpeechCache keeps the complete audio of short sentences so that a text said
// on every call (the greeting, stock replies) is synthesized once, not once per
// call. It is bounded by the bytes it holds (the audio, plus the key and a
// little bookkeeping per entry), and evicts what is least likely to be asked
// again (otter's W-TinyLFU). It is a SpeechSource itself and safe for
// concurrent use.
//
// A miss streams from the next source as it is produced and keeps a copy; the
// copy is stored only if the stream reached io.EOF without error, so an early
// Close (barge-in) or a failed synthesis never leaves partial audio behind.
// Two concurrent misses on one text both synthesize; the later one to finish
// replaces the earlier, identical entry.
//
// Cached audio is shared by every call that hits it and is never written
// after it is stored: a hit is served by copying out of it, so no caller can
// change what another gets.
type SpeechCache struct {
	next         SpeechSource
	maxTextBytes int
	maxAudio     int                             // bytes of one entry's audio at most
	cache        *otter.Cache[speechKey, []byte] // nil: caching disabled

	hits, misses atomic.Uint64
}

// speechKey is everything that changes the audio of a sentence.
type speechKey struct {
	text, voice, language string
	format                media.Format
}

// weigh is an entry's weight: its bytes, roughly.
func weigh(k speechKey, audio []byte) uint32 {
	w := len(audio) + len(k.text) + len(k.voice) + len(k.language) + speechEntryOverhead
	return uint32(min(int64(w), math.MaxUint32))
}

// NewSpeechCache returns a cache in front of next that holds at most
// maxBytes bytes (DefaultSpeechCacheBytes is a sensible bound). Only texts of
// at most maxTextBytes bytes are cached, and only audio of at most 1 MiB
// (and of at most maxBytes); the rest passes straight through. With
// maxBytes <= 0 nothing is cached.
func NewSpeechCache(next SpeechSource, maxBytes int64, maxTextBytes int) *SpeechCache {
	c := &SpeechCache{next: next, maxTextBytes: maxTextBytes}
	if maxBytes > 0 {
		c.maxAudio = int(min(maxBytes, maxCachedAudioBytes))
		c.cache = otter.Must(&otter.Options[speechKey, []byte]{
			MaximumWeight: uint64(maxBytes),
			Weigher:       weigh,
			// Maintenance runs on the calling goroutine: no goroutine
			// escapes the cache, and writes (misses) are rare.
			Executor: func(fn func()) { fn() },
		})
	}
	return c
}

// Synthesize returns the cached audio of req at once, or streams it from the
// next source and caches it when the stream completes.
func (c *SpeechCache) Synthesize(ctx context.Context, req SpeechRequest) (io.ReadCloser, error) {
	if c.cache == nil || len(req.Text) > c.maxTextBytes || req.Text == "" {
		return c.next.Synthesize(ctx, req)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := speechKey{text: req.Text, voice: req.Voice, language: req.Language, format: req.Format}
	if audio, ok := c.cache.GetIfPresent(key); ok {
		c.hits.Add(1)
		return &cachedSpeech{audio: audio}, nil
	}
	c.misses.Add(1)
	rc, err := c.next.Synthesize(ctx, req)
	if err != nil {
		return nil, err
	}
	return &teeReader{src: rc, cache: c.cache, key: key, max: c.maxAudio}, nil
}

// Hits returns how many requests were answered from the cache.
func (c *SpeechCache) Hits() uint64 { return c.hits.Load() }

// Misses returns how many cacheable requests had to be synthesized.
func (c *SpeechCache) Misses() uint64 { return c.misses.Load() }

// Len returns how many sentences the cache holds, approximately.
func (c *SpeechCache) Len() int {
	if c.cache == nil {
		return 0
	}
	return c.cache.EstimatedSize()
}

// Bytes returns the weight of what the cache holds: its audio, keys and
// bookkeeping, in bytes. It stays within the bound given to NewSpeechCache.
func (c *SpeechCache) Bytes() uint64 {
	if c.cache == nil {
		return 0
	}
	return c.cache.WeightedSize()
}

// cachedSpeech serves one hit. audio is the cache's own slice, shared by all
// hits of the entry: Read only copies out of it, and the type has no WriteTo,
// which would hand the slice itself to a Writer.
type cachedSpeech struct{ audio []byte }

func (s *cachedSpeech) Read(p []byte) (int, error) {
	if len(s.audio) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.audio)
	s.audio = s.audio[n:]
	return n, nil
}

// Close drops the rest of the sentence: Read returns io.EOF from then on.
func (s *cachedSpeech) Close() error {
	s.audio = nil
	return nil
}

// teeReader passes a synthesis stream through and stores a copy of it in the
// cache once the stream has ended cleanly.
type teeReader struct {
	src   io.ReadCloser
	cache *otter.Cache[speechKey, []byte]
	key   speechKey
	max   int
	buf   []byte
	// done is set once the copy was stored or abandoned; no more copying then.
	done bool
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.src.Read(p)
	if t.done {
		return n, err
	}
	if len(t.buf)+n > t.max {
		t.abandon()
	} else {
		t.buf = append(t.buf, p[:n]...) // a copy: p is the caller's
	}
	switch {
	case errors.Is(err, io.EOF):
		if !t.done && len(t.buf) > 0 {
			// Exactly the audio's size: the weight is what it holds.
			t.cache.Set(t.key, bytes.Clone(t.buf))
		}
		t.buf, t.done = nil, true
	case err != nil:
		t.abandon()
	}
	return n, err
}

// abandon drops the copy: this stream will not be cached.
func (t *teeReader) abandon() { t.buf, t.done = nil, true }

// Close closes the underlying stream; an unfinished copy is dropped.
func (t *teeReader) Close() error {
	t.abandon()
	return t.src.Close()
}
