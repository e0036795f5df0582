package ai

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/iace/iace/media"
)

// SpeechSource produces the audio of one sentence; it has the method of the
// session's Synthesizer, which every text-to-speech provider implements.
type SpeechSource interface {
	Synthesize(ctx context.Context, req SpeechRequest) (io.ReadCloser, error)
}

// maxCachedAudioBytes bounds one cache entry: a stream longer than this (about
// 2 minutes of PCMU, 10 s of PCM16 at 48 kHz) passes through but is not kept.
const maxCachedAudioBytes = 1 << 20

// SpeechCache keeps the complete audio of short sentences so that a text said
// on every call (the greeting, stock replies) is synthesized once, not once per
// call. It is a SpeechSource itself and safe for concurrent use.
//
// A miss streams from the next source as it is produced and keeps a copy; the
// copy is stored only if the stream reached io.EOF without error, so an early
// Close (barge-in) or a failed synthesis never leaves partial audio behind.
// Two concurrent misses on one text both synthesize; the later one to finish
// replaces the earlier, identical entry.
type SpeechCache struct {
	next         SpeechSource
	maxTextBytes int
	lru          *lru.Cache[speechKey, []byte] // nil: caching disabled

	hits, misses atomic.Uint64
}

// speechKey is everything that changes the audio of a sentence.
type speechKey struct {
	text, voice, language string
	format                media.Format
}

// NewSpeechCache returns a cache of at most entries sentences in front of
// next. Only texts of at most maxTextBytes bytes are cached; longer ones pass
// straight through. With entries <= 0 nothing is cached.
func NewSpeechCache(next SpeechSource, entries int, maxTextBytes int) *SpeechCache {
	c := &SpeechCache{next: next, maxTextBytes: maxTextBytes}
	if entries > 0 {
		l, err := lru.New[speechKey, []byte](entries)
		if err != nil {
			panic("ai: speech cache: " + err.Error()) // only for size <= 0, excluded above
		}
		c.lru = l
	}
	return c
}

// Synthesize returns the cached audio of req at once, or streams it from the
// next source and caches it when the stream completes.
func (c *SpeechCache) Synthesize(ctx context.Context, req SpeechRequest) (io.ReadCloser, error) {
	if c.lru == nil || len(req.Text) > c.maxTextBytes || req.Text == "" {
		return c.next.Synthesize(ctx, req)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := speechKey{text: req.Text, voice: req.Voice, language: req.Language, format: req.Format}
	if audio, ok := c.lru.Get(key); ok {
		c.hits.Add(1)
		return io.NopCloser(bytes.NewReader(audio)), nil
	}
	c.misses.Add(1)
	rc, err := c.next.Synthesize(ctx, req)
	if err != nil {
		return nil, err
	}
	return &teeReader{src: rc, cache: c.lru, key: key}, nil
}

// Hits returns how many requests were answered from the cache.
func (c *SpeechCache) Hits() uint64 { return c.hits.Load() }

// Misses returns how many cacheable requests had to be synthesized.
func (c *SpeechCache) Misses() uint64 { return c.misses.Load() }

// Len returns how many sentences the cache holds.
func (c *SpeechCache) Len() int {
	if c.lru == nil {
		return 0
	}
	return c.lru.Len()
}

// teeReader passes a synthesis stream through and stores a copy of it in the
// cache once the stream has ended cleanly.
type teeReader struct {
	src   io.ReadCloser
	cache *lru.Cache[speechKey, []byte]
	key   speechKey
	buf   []byte
	// done is set once the copy was stored or abandoned; no more copying then.
	done bool
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.src.Read(p)
	if t.done {
		return n, err
	}
	if len(t.buf)+n > maxCachedAudioBytes {
		t.abandon()
	} else {
		t.buf = append(t.buf, p[:n]...)
	}
	switch {
	case errors.Is(err, io.EOF):
		if !t.done {
			t.cache.Add(t.key, t.buf)
			t.buf, t.done = nil, true
		}
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
