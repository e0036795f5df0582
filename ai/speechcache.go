package ai

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"sync"
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
// A miss streams from the next source into one buffer that every call
// asking for the same sentence meanwhile reads too (they count as hits): the
// source is read no faster than the fastest of them reads, so a caller that
// reads as it plays leaves the rest in the source (its pipe, or the TCP
// connection), and the sentence is synthesized once however many calls ask
// for it at once. The audio is stored only if the stream reached io.EOF
// without error; when every reader closed early (barge-in) the synthesis is
// stopped, and a failed or stopped one never leaves partial audio behind.
//
// Cached audio is shared by every call that hits it and is never written
// after it is stored. Read copies out of it, so no caller can change what
// another gets; the streams are also SharedSpeech, whose ReadShared hands out
// the shared bytes themselves, read-only, for a reader that can queue them
// without a copy (the call's playout).
type SpeechCache struct {
	next         SpeechSource
	maxTextBytes int
	maxAudio     int                             // bytes of one entry's audio at most
	cache        *otter.Cache[speechKey, []byte] // nil: caching disabled

	mu       sync.Mutex
	inflight map[speechKey]*speechFill // misses being synthesized; guarded by mu

	hits, misses atomic.Uint64
}

// SharedSpeech is a speech stream whose audio is held in memory that other
// calls share (a SpeechCache's): ReadShared returns its next piece without
// copying it, waiting while that is still being synthesized, and (nil,
// io.EOF) after the last piece. A piece is read-only: whoever gets it must
// never write to it, since every other call plays the same bytes. Read
// copies, as any io.Reader's.
type SharedSpeech interface {
	io.ReadCloser
	ReadShared() ([]byte, error)
}

// NewSharedSpeech returns a SharedSpeech of audio, which nobody may write to
// again: a rendering that many calls play.
func NewSharedSpeech(audio []byte) SharedSpeech { return &cachedSpeech{audio: audio} }

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
		c.inflight = make(map[speechKey]*speechFill)
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
	if !c.cacheable(req) {
		return c.next.Synthesize(ctx, req)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := speechKey{text: req.Text, voice: req.Voice, language: req.Language, format: req.Format}
	if s, ok := c.lookup(key); ok {
		return s, nil
	}
	c.mu.Lock()
	if f := c.inflight[key]; f != nil { // being synthesized for another call: read along
		f.refs++
		c.mu.Unlock()
		c.hits.Add(1)
		return &fillReader{f: f, ctx: ctx}, nil
	}
	// The synthesis serves every reader of f, so it outlives this call's
	// context; it is stopped when the last reader closes.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &speechFill{c: c, key: key, refs: 1, cancel: cancel}
	c.inflight[key] = f
	c.mu.Unlock()
	c.misses.Add(1)
	rc, err := c.next.Synthesize(sctx, req)
	f.mu.Lock()
	if err != nil {
		f.end(err) // the readers that joined meanwhile get the error
	} else {
		f.src = rc
		f.wakeLocked()
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &fillReader{f: f, ctx: ctx}, nil
}

// Lookup returns the cached audio of req, if the cache holds it, without
// synthesizing anything: a hit, counted as one. A miss is not counted; the
// caller decides whether to Synthesize.
func (c *SpeechCache) Lookup(req SpeechRequest) (SharedSpeech, bool) {
	if !c.cacheable(req) {
		return nil, false
	}
	s, ok := c.lookup(speechKey{text: req.Text, voice: req.Voice, language: req.Language, format: req.Format})
	if !ok {
		return nil, false // not a typed nil
	}
	return s, true
}

// cacheable says whether the cache keeps req's audio at all: caching is on
// and the text is neither empty nor too long.
func (c *SpeechCache) cacheable(req SpeechRequest) bool {
	return c.cache != nil && req.Text != "" && len(req.Text) <= c.maxTextBytes
}

func (c *SpeechCache) lookup(key speechKey) (*cachedSpeech, bool) {
	audio, ok := c.cache.GetIfPresent(key)
	if !ok {
		return nil, false
	}
	c.hits.Add(1)
	return &cachedSpeech{audio: audio}, true
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
// which would hand the slice itself to a Writer; ReadShared hands it out
// under SharedSpeech's rule (read-only).
type cachedSpeech struct{ audio []byte }

func (s *cachedSpeech) Read(p []byte) (int, error) {
	if len(s.audio) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.audio)
	s.audio = s.audio[n:]
	return n, nil
}

// ReadShared returns the rest of the audio at once, then io.EOF.
func (s *cachedSpeech) ReadShared() ([]byte, error) {
	if len(s.audio) == 0 {
		return nil, io.EOF
	}
	b := s.audio[:len(s.audio):len(s.audio)]
	s.audio = nil
	return b, nil
}

// Close drops the rest of the sentence: Read returns io.EOF from then on.
func (s *cachedSpeech) Close() error {
	s.audio = nil
	return nil
}

// errFillStopped ends a synthesis whose readers all closed before its end.
var errFillStopped = errors.New("ai: speech synthesis stopped: no reader left")

// fillReadBytes is the least room a read from the source is given.
const fillReadBytes = 4096

// speechFill is one miss being synthesized: its audio so far, which every
// reader (fillReader) of it shares, and the source it comes from. Whichever
// reader reaches the end of buf reads the source (one at a time); the
// others wait for it.
type speechFill struct {
	c    *SpeechCache
	key  speechKey
	refs int // readers not closed; guarded by c.mu

	mu     sync.Mutex
	src    io.ReadCloser // nil until Synthesize returned it
	cancel context.CancelFunc
	// buf is only ever appended to: bytes before len(buf) never change, so
	// readers keep slices of it, while the one reading the source fills the
	// room past len(buf).
	buf       []byte
	reading   bool          // a reader is reading the source
	done      bool          // the source ended: err says how (io.EOF: complete)
	err       error         //
	more      chan struct{} // closed when buf grows or the fill ends; nil while nobody waits
	oversized bool          // buf outgrew the cache's entry bound: not stored
}

// wakeLocked lets readers waiting for more audio look again.
func (f *speechFill) wakeLocked() {
	if f.more != nil {
		close(f.more)
		f.more = nil
	}
}

// end finishes the fill with err (io.EOF: complete, and stored in the cache
// unless it is too large), with f.mu held: the source is closed unless a
// reader is still reading it (it closes it then), and no new caller joins.
func (f *speechFill) end(err error) {
	if f.done {
		return
	}
	f.done, f.err = true, err
	if errors.Is(err, io.EOF) && !f.oversized && len(f.buf) > 0 {
		// Exactly the audio's size: the weight is what it holds.
		f.c.cache.Set(f.key, bytes.Clone(f.buf))
	}
	f.c.mu.Lock()
	if f.c.inflight[f.key] == f {
		delete(f.c.inflight, f.key)
	}
	f.c.mu.Unlock()
	if f.cancel != nil {
		f.cancel()
	}
	if f.src != nil && !f.reading {
		_ = f.src.Close() // ended or abandoned: nothing to report
	}
	f.wakeLocked()
}

// fillReader is one call's stream of a speechFill.
type fillReader struct {
	f      *speechFill
	ctx    context.Context //nolint:containedctx // the Synthesize call's: a wait for audio ends with it
	pos    int
	closed bool
}

// next returns up to limit bytes of the shared audio after r.pos, waiting
// for them while the synthesis runs.
func (r *fillReader) next(limit int) ([]byte, error) {
	if r.closed {
		return nil, errFillStopped
	}
	f := r.f
	f.mu.Lock()
	for {
		if r.pos < len(f.buf) {
			end := len(f.buf)
			if end-r.pos > limit {
				end = r.pos + limit
			}
			b := f.buf[r.pos:end:end]
			r.pos = end
			f.mu.Unlock()
			return b, nil
		}
		if f.done {
			err := f.err
			f.mu.Unlock()
			return nil, err
		}
		if f.src != nil && !f.reading {
			f.read()
			continue
		}
		if f.more == nil {
			f.more = make(chan struct{})
		}
		more := f.more
		f.mu.Unlock()
		select {
		case <-more:
		case <-r.ctx.Done():
			return nil, r.ctx.Err()
		}
		f.mu.Lock()
	}
}

// read reads the source once into the room past buf, with f.mu held (and
// released while it reads).
func (f *speechFill) read() {
	f.reading = true
	if cap(f.buf)-len(f.buf) < fillReadBytes {
		nb := make([]byte, len(f.buf), max(2*cap(f.buf), len(f.buf)+fillReadBytes))
		copy(nb, f.buf)
		f.buf = nb // readers keep their slices of the old array, which never changes
	}
	room := f.buf[len(f.buf):cap(f.buf)]
	src := f.src
	f.mu.Unlock()
	n, err := src.Read(room)
	f.mu.Lock()
	f.reading = false
	if f.done { // stopped while it read
		_ = src.Close() // abandoned: nothing to report
		return
	}
	f.buf = f.buf[:len(f.buf)+n]
	if len(f.buf) > f.c.maxAudio {
		f.oversized = true
	}
	if err != nil {
		f.end(err)
		return
	}
	f.wakeLocked()
}

func (r *fillReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := r.next(len(p))
	return copy(p, b), err
}

// ReadShared returns the next piece of the shared audio: what the synthesis
// has produced past what this reader had, read-only.
func (r *fillReader) ReadShared() ([]byte, error) { return r.next(math.MaxInt) }

// Close ends this reader; the synthesis stops, unstored, when no other
// reader is left before its end.
func (r *fillReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	f := r.f
	f.c.mu.Lock()
	f.refs--
	last := f.refs == 0
	if last && f.c.inflight[f.key] == f {
		delete(f.c.inflight, f.key) // nobody joins a fill about to stop
	}
	f.c.mu.Unlock()
	if last {
		f.mu.Lock()
		f.end(errFillStopped)
		f.mu.Unlock()
	}
	return nil
}
