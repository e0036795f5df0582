package ai_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
)

// fakeSpeech is a SpeechSource whose audio is derived from the text, served
// in small reads; failText makes a stream fail half way.
type fakeSpeech struct {
	calls    atomic.Uint64
	failText string
	serial   atomic.Int64 // makes every synthesis differ, to tell cached bytes apart
}

var errSynthesis = errors.New("synthesis failed")

func (f *fakeSpeech) Synthesize(_ context.Context, req ai.SpeechRequest) (io.ReadCloser, error) {
	f.calls.Add(1)
	audio := bytes.Repeat([]byte(fmt.Sprintf("%s/%s/%s/%d;", req.Text, req.Voice, req.Format, f.serial.Add(1))), 100)
	r := iotest.HalfReader(bytes.NewReader(audio))
	if req.Text == f.failText {
		r = io.MultiReader(io.LimitReader(r, int64(len(audio)/2)), iotest.ErrReader(errSynthesis))
	}
	return io.NopCloser(r), nil
}

func synth(t *testing.T, c *ai.SpeechCache, text string) []byte {
	t.Helper()
	b, err := trySynth(t.Context(), c, text)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func trySynth(ctx context.Context, c *ai.SpeechCache, text string) ([]byte, error) {
	rc, err := c.Synthesize(ctx, ai.SpeechRequest{Text: text, Voice: "en-us", Format: media.PCMU8k})
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	return b, errors.Join(err, rc.Close())
}

func TestSpeechCacheSecondRequestIsAHitWithIdenticalBytes(t *testing.T) {
	src := &fakeSpeech{}
	c := ai.NewSpeechCache(src, ai.DefaultSpeechCacheBytes, 200)
	first := synth(t, c, "Hello, thanks for calling.")
	second := synth(t, c, "Hello, thanks for calling.")
	if !bytes.Equal(first, second) {
		t.Error("cached audio differs from the first synthesis")
	}
	if src.calls.Load() != 1 || c.Hits() != 1 || c.Misses() != 1 {
		t.Errorf("calls %d hits %d misses %d, want 1 1 1", src.calls.Load(), c.Hits(), c.Misses())
	}
}

// TestSpeechCacheLookupNeverSynthesizes: Lookup answers only from what the
// cache holds, with the stored bytes, shared; a miss asks nobody.
func TestSpeechCacheLookupNeverSynthesizes(t *testing.T) {
	src := &fakeSpeech{}
	c := ai.NewSpeechCache(src, ai.DefaultSpeechCacheBytes, 200)
	req := ai.SpeechRequest{Text: "Hello, thanks for calling.", Voice: "en-us", Format: media.PCMU8k}
	if _, ok := c.Lookup(req); ok || src.calls.Load() != 0 || c.Misses() != 0 {
		t.Fatalf("Lookup of an empty cache: ok %v, %d syntheses, %d misses; want false, 0, 0", ok, src.calls.Load(), c.Misses())
	}
	first := synth(t, c, req.Text)
	s, ok := c.Lookup(req)
	if !ok {
		t.Fatal("Lookup missed a sentence just synthesized")
	}
	got, err := s.ReadShared()
	if err != nil || !bytes.Equal(got, first) {
		t.Errorf("Lookup's audio (err %v) differs from the synthesis", err)
	}
	if _, err := s.ReadShared(); !errors.Is(err, io.EOF) {
		t.Errorf("after all of it, ReadShared = %v, want io.EOF", err)
	}
	if src.calls.Load() != 1 || c.Hits() != 1 {
		t.Errorf("%d syntheses, %d hits; want 1 and 1", src.calls.Load(), c.Hits())
	}
	req.Voice = "en-gb"
	if _, ok := c.Lookup(req); ok {
		t.Error("Lookup found the sentence in another voice")
	}
}

func TestSpeechCacheKeysOnVoiceAndFormat(t *testing.T) {
	src := &fakeSpeech{}
	c := ai.NewSpeechCache(src, ai.DefaultSpeechCacheBytes, 200)
	reqs := []ai.SpeechRequest{
		{Text: "Hi", Voice: "en-us", Format: media.PCMU8k},
		{Text: "Hi", Voice: "en-gb", Format: media.PCMU8k},
		{Text: "Hi", Voice: "en-us", Format: media.Format{Encoding: media.EncodingPCMA, SampleRate: 8000}},
		{Text: "Hi", Voice: "en-us", Language: "en", Format: media.PCMU8k},
	}
	for _, req := range reqs {
		rc, err := c.Synthesize(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatal(err)
		}
		closeOK(t, rc)
	}
	if c.Hits() != 0 || c.Misses() != 4 {
		t.Errorf("hits %d misses %d, want 0 4: each request differs", c.Hits(), c.Misses())
	}
}

func TestSpeechCacheDoesNotKeepAStreamClosedEarly(t *testing.T) {
	src := &fakeSpeech{}
	c := ai.NewSpeechCache(src, ai.DefaultSpeechCacheBytes, 200)
	rc, err := c.Synthesize(t.Context(), ai.SpeechRequest{Text: "Hello", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	closeOK(t, rc) // barge-in
	if c.Len() != 0 {
		t.Fatalf("cache holds %d entries after an early Close, want 0", c.Len())
	}
	synth(t, c, "Hello")
	if src.calls.Load() != 2 || c.Hits() != 0 {
		t.Errorf("calls %d hits %d, want 2 0", src.calls.Load(), c.Hits())
	}
}

func TestSpeechCacheDoesNotKeepAFailedStream(t *testing.T) {
	src := &fakeSpeech{failText: "Hello"}
	c := ai.NewSpeechCache(src, ai.DefaultSpeechCacheBytes, 200)
	for range 2 {
		rc, err := c.Synthesize(t.Context(), ai.SpeechRequest{Text: "Hello", Format: media.PCMU8k})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(rc); !errors.Is(err, errSynthesis) {
			t.Fatalf("ReadAll = %v, want the synthesis error passed through", err)
		}
		closeOK(t, rc)
	}
	if src.calls.Load() != 2 || c.Hits() != 0 || c.Len() != 0 {
		t.Errorf("calls %d hits %d len %d, want 2 0 0", src.calls.Load(), c.Hits(), c.Len())
	}
}

func TestSpeechCacheStaysWithinItsByteBound(t *testing.T) {
	src := &fakeSpeech{}
	const bound = 20 << 10
	c := ai.NewSpeechCache(src, bound, 200)
	const n = 40 // about 2.5 KiB each: five times the bound
	var total int
	for i := range n {
		total += len(synth(t, c, fmt.Sprintf("sentence %d", i)))
		if b := c.Bytes(); b > bound {
			t.Fatalf("after %d sentences the cache holds %d bytes, over its bound of %d", i+1, b, bound)
		}
	}
	if total < 4*bound {
		t.Fatalf("the test synthesized only %d bytes", total)
	}
	if l := c.Len(); l == 0 || l >= n {
		t.Errorf("the cache holds %d of %d sentences; want some, not all", l, n)
	}
	// What was evicted is synthesized again.
	misses, held := c.Misses(), c.Len()
	for i := range n {
		synth(t, c, fmt.Sprintf("sentence %d", i))
	}
	if again := c.Misses() - misses; again < n-uint64(held) {
		t.Errorf("re-reading all %d sentences: %d misses, %d hits; want the evicted ones synthesized again", n, again, c.Hits())
	}
	if b := c.Bytes(); b > bound {
		t.Errorf("the cache holds %d bytes, over its bound of %d", b, bound)
	}
}

func TestSpeechCacheDoesNotKeepAudioLargerThanItsBound(t *testing.T) {
	src := &fakeSpeech{}
	c := ai.NewSpeechCache(src, 1000, 200) // one sentence is about 2.5 KiB
	a, b := synth(t, c, "hello"), synth(t, c, "hello")
	if bytes.Equal(a, b) || src.calls.Load() != 2 || c.Len() != 0 || c.Bytes() != 0 {
		t.Errorf("audio over the whole bound was cached (calls %d, len %d, bytes %d)", src.calls.Load(), c.Len(), c.Bytes())
	}
}

func TestSpeechCacheServesCachedAudioReadOnly(t *testing.T) {
	c := ai.NewSpeechCache(&fakeSpeech{}, ai.DefaultSpeechCacheBytes, 200)
	const text = "Thanks for calling."
	// The call that synthesizes it scribbles over what it read.
	first := synth(t, c, text)
	want := bytes.Clone(first)
	clear(first)

	// A hit read into a buffer that is then scribbled over.
	rc, err := c.Synthesize(t.Context(), ai.SpeechRequest{Text: text, Voice: "en-us", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 64)
	for {
		n, err := rc.Read(p)
		clear(p[:n])
		if err != nil {
			break
		}
	}
	closeOK(t, rc)

	// A hit copied to a Writer that (against io.Writer's rules) scribbles
	// over the slice it is given: a reader that handed it the cache's own
	// slice (WriteTo) would let it change the entry.
	rc, err = c.Synthesize(t.Context(), ai.SpeechRequest{Text: text, Voice: "en-us", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	var w scribbler
	if _, err := io.Copy(&w, rc); err != nil {
		t.Fatal(err)
	}
	closeOK(t, rc)
	if !bytes.Equal(w.got, want) {
		t.Fatal("io.Copy of a hit did not deliver the cached audio")
	}

	if got := synth(t, c, text); !bytes.Equal(got, want) {
		t.Error("what one call did to its audio changed what the next call got")
	}
	if c.Hits() != 3 || c.Misses() != 1 {
		t.Errorf("hits %d misses %d, want 3 1", c.Hits(), c.Misses())
	}
}

// scribbler keeps a copy of what it is given and then overwrites the slice,
// as a buggy Writer might.
type scribbler struct{ got []byte }

func (s *scribbler) Write(p []byte) (int, error) {
	s.got = append(s.got, p...)
	for i := range p {
		p[i] = 0xAA //nolint:staticcheck // SA1023: the point of the test is a Writer that breaks the rule
	}
	return len(p), nil
}

func TestSpeechCacheLongTextsPassThrough(t *testing.T) {
	src := &fakeSpeech{}
	c := ai.NewSpeechCache(src, ai.DefaultSpeechCacheBytes, 10)
	long := "This sentence is longer than ten bytes."
	a, b := synth(t, c, long), synth(t, c, long)
	if bytes.Equal(a, b) || src.calls.Load() != 2 || c.Len() != 0 {
		t.Errorf("long text was cached (calls %d, len %d)", src.calls.Load(), c.Len())
	}
}

func TestSpeechCacheDisabledWithNoBytes(t *testing.T) {
	src := &fakeSpeech{}
	c := ai.NewSpeechCache(src, 0, 100)
	synth(t, c, "hi")
	synth(t, c, "hi")
	if src.calls.Load() != 2 || c.Len() != 0 || c.Bytes() != 0 {
		t.Errorf("calls %d len %d bytes %d, want 2 0 0", src.calls.Load(), c.Len(), c.Bytes())
	}
}

func TestSpeechCacheHonoursCancelledContextOnHit(t *testing.T) {
	c := ai.NewSpeechCache(&fakeSpeech{}, ai.DefaultSpeechCacheBytes, 100)
	synth(t, c, "hi")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Synthesize(ctx, ai.SpeechRequest{Text: "hi", Voice: "en-us", Format: media.PCMU8k}); !errors.Is(err, context.Canceled) {
		t.Errorf("Synthesize = %v, want context.Canceled", err)
	}
}

func TestSpeechCacheConcurrentMissesStayConsistent(t *testing.T) {
	src := &fakeSpeech{}
	c := ai.NewSpeechCache(src, ai.DefaultSpeechCacheBytes, 100)
	var wg sync.WaitGroup
	results := make([][]byte, 16)
	for i := range results {
		wg.Go(func() {
			var err error
			if results[i], err = trySynth(t.Context(), c, fmt.Sprintf("text %d", i%3)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if c.Hits()+c.Misses() != 16 || c.Misses() != src.calls.Load() {
		t.Errorf("hits %d + misses %d != 16 or misses != calls %d", c.Hits(), c.Misses(), src.calls.Load())
	}
	// Every text now reads back as one of the syntheses that completed.
	for i := range 3 {
		text := fmt.Sprintf("text %d", i)
		cached := synth(t, c, text)
		found := false
		for j, r := range results {
			found = found || (j%3 == i && bytes.Equal(r, cached))
		}
		if !found {
			t.Errorf("cached audio of %q matches none of its syntheses", text)
		}
	}
}

func BenchmarkSpeechCacheHit(b *testing.B) {
	c := ai.NewSpeechCache(&fakeSpeech{}, ai.DefaultSpeechCacheBytes, 100)
	req := ai.SpeechRequest{Text: "Hello, thanks for calling.", Voice: "en-us", Format: media.PCMU8k}
	buf := make([]byte, 4096)
	for b.Loop() {
		rc, err := c.Synthesize(b.Context(), req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := rc.Read(buf); err != nil {
				break
			}
		}
		closeOK(b, rc)
	}
}

// closeOK closes c and fails the test if that fails.
func closeOK(t testing.TB, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// gatedSpeech is a SpeechSource whose one stream gives a chunk per Read, as
// the test allows it (step); it records how many chunks were read and
// whether the stream was closed and its context cancelled.
type gatedSpeech struct {
	calls  atomic.Int64
	chunks chan []byte // closed: io.EOF
	reads  atomic.Int64
	closed atomic.Bool
	ctx    context.Context //nolint:containedctx // the test looks at it after Synthesize
}

func (g *gatedSpeech) Synthesize(ctx context.Context, _ ai.SpeechRequest) (io.ReadCloser, error) {
	g.calls.Add(1)
	g.ctx = ctx
	return g, nil
}

func (g *gatedSpeech) Read(p []byte) (int, error) {
	b, ok := <-g.chunks
	if !ok {
		return 0, io.EOF
	}
	g.reads.Add(1)
	return copy(p, b), nil
}

func (g *gatedSpeech) Close() error {
	g.closed.Store(true)
	return nil
}

// TestSpeechCacheSharesAMissBeingSynthesized: calls asking for a sentence
// while it is synthesized read along the one synthesis (hits), which is
// read no faster than they read, and hand out the same bytes.
func TestSpeechCacheSharesAMissBeingSynthesized(t *testing.T) {
	src := &gatedSpeech{chunks: make(chan []byte, 10)}
	c := ai.NewSpeechCache(src, ai.DefaultSpeechCacheBytes, 200)
	req := ai.SpeechRequest{Text: "Hello", Format: media.PCMU8k}
	open := func() ai.SharedSpeech {
		rc, err := c.Synthesize(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		s, ok := rc.(ai.SharedSpeech)
		if !ok {
			t.Fatalf("a miss is a %T, not SharedSpeech", rc)
		}
		return s
	}
	a, b := open(), open()
	src.chunks <- bytes.Repeat([]byte{1}, 100)
	src.chunks <- bytes.Repeat([]byte{2}, 100)
	pa, err := a.ReadShared()
	if err != nil || len(pa) != 100 || pa[0] != 1 {
		t.Fatalf("first piece %d bytes, %v", len(pa), err)
	}
	if n := src.reads.Load(); n != 1 {
		t.Errorf("%d reads of the source for one piece read", n)
	}
	pb, err := b.ReadShared()
	if err != nil || &pb[0] != &pa[0] || len(pb) != 100 {
		t.Fatalf("the second reader did not get the same bytes: %d, %v", len(pb), err)
	}
	closeOK(t, a) // a barge-in on one call does not stop the other's
	if p, err := b.ReadShared(); err != nil || len(p) != 100 || p[0] != 2 {
		t.Fatalf("after the other reader closed: %d bytes, %v", len(p), err)
	}
	close(src.chunks)
	if p, err := b.ReadShared(); p != nil || !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %d bytes, %v", len(p), err)
	}
	closeOK(t, b)
	if src.calls.Load() != 1 || c.Misses() != 1 || c.Hits() != 1 || c.Len() != 1 {
		t.Errorf("calls %d misses %d hits %d len %d, want 1 1 1 1", src.calls.Load(), c.Misses(), c.Hits(), c.Len())
	}
	if !src.closed.Load() {
		t.Error("the source was not closed")
	}
	// A hit hands out the cache's bytes, the same for every call.
	h1, h2 := open(), open()
	p1, _ := h1.ReadShared()
	p2, _ := h2.ReadShared()
	if len(p1) != 200 || &p1[0] != &p2[0] || cap(p1) != len(p1) {
		t.Errorf("hits: %d and %d bytes, shared %v, room past the end %d", len(p1), len(p2), &p1[0] == &p2[0], cap(p1)-len(p1))
	}
	closeOK(t, h1)
	closeOK(t, h2)
}

// TestSpeechCacheStopsASynthesisNobodyReads: when every reader closed
// before the end, the synthesis is stopped (its context cancelled, its
// stream closed) and nothing is cached.
func TestSpeechCacheStopsASynthesisNobodyReads(t *testing.T) {
	src := &gatedSpeech{chunks: make(chan []byte, 10)}
	c := ai.NewSpeechCache(src, ai.DefaultSpeechCacheBytes, 200)
	ctx, cancel := context.WithCancel(t.Context())
	rc, err := c.Synthesize(ctx, ai.SpeechRequest{Text: "Hello", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	src.chunks <- []byte{1, 2, 3}
	if _, err := rc.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	other, err := c.Synthesize(ctx, ai.SpeechRequest{Text: "Hello", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	// One caller's context ending does not stop a synthesis another reads.
	cancel()
	if src.ctx.Err() != nil {
		t.Fatal("the caller's context stopped a synthesis shared with others")
	}
	closeOK(t, rc)
	closeOK(t, other)
	if src.ctx.Err() == nil || !src.closed.Load() {
		t.Errorf("with no reader left the synthesis goes on (context %v, closed %v)", src.ctx.Err(), src.closed.Load())
	}
	if c.Len() != 0 {
		t.Errorf("cache holds %d entries after every reader closed early", c.Len())
	}
}
