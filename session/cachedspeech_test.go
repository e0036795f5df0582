package session_test

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// TestACachedGreetingHoldsNoGoroutineWhileItPlays: a greeting whose
// sentences the speech cache holds (or fills) is queued by reference as it
// comes, so the call keeps no goroutine for it while it plays: a greeting of
// a minute would otherwise hold one, and its stack, in every call. The
// caller still hears all of it, without a gap. The first call fills the
// cache; the second synthesizes nothing.
func TestACachedGreetingHoldsNoGoroutineWhileItPlays(t *testing.T) {
	agent := store.DefaultAgent()
	agent.Greeting = "Thank you for calling the test line. Every sentence of this greeting is cached. " +
		"Our offices open at nine in the morning. They close at five in the afternoon. How can I help you today?"
	synctest.Test(t, func(t *testing.T) {
		tones := &countingSynth{next: local.NewTones(), of: agent.Greeting}
		cache := ai.NewSpeechCache(tones, 1<<20, 512)
		h, ended, pacer := agentHandler(t, session.DefaultConfig(), agent, cache)

		var greeting int64 // bytes of the greeting's audio, as synthesized for the first call
		for call := 1; call <= 2; call++ {
			synthesized := tones.calls.Load()
			p := newPeer(t, pipeDial(t, h), nil)
			start := p.next(t, "the greeting's start mark", isMark("-start"))
			time.Sleep(2 * time.Second) // well into the greeting
			synctest.Wait()
			if n := goroutinesIn("session.(*turnWorker).speak("); n != 0 {
				t.Errorf("call %d: %d goroutines still speak 2 s into the greeting; want 0", call, n)
			}
			if call == 1 {
				greeting = tones.bytes.Load()
			} else if n := tones.calls.Load() - synthesized; n != 0 {
				t.Errorf("call 2 synthesized %d sentences; want 0, all from the cache", n)
			}

			heard, gaps := listenToTheEnd(t, p, start)
			if heard != greeting || gaps > 0 {
				t.Errorf("call %d: the caller heard %d bytes of the greeting with %v of gaps; want all %d, no gap", call, heard, gaps, greeting)
			}
			hangUpSync(p, ended)
		}
		pacer.Close()
		synctest.Wait()
	})
}

// agentHandler starts, inside a bubble, an engine of cfg whose one agent is
// agent and whose speech comes from synth, and returns its media stream
// handler.
func agentHandler(t *testing.T, cfg session.Config, agent store.Agent, synth session.Synthesizer) (http.Handler, chan session.CallSummary, *media.Pacer) {
	t.Helper()
	return agentHandlerWith(t, cfg, agent, synth, nil)
}

// agentHandlerWith is agentHandler with the engine's metrics (nil: its own).
func agentHandlerWith(t *testing.T, cfg session.Config, agent store.Agent, synth session.Synthesizer, m *session.Metrics) (http.Handler, chan session.CallSummary, *media.Pacer) {
	t.Helper()
	agents, err := store.NewStaticAgents([]store.Agent{agent})
	if err != nil {
		t.Fatal(err)
	}
	eng, pacer, ended, log := newTestEngine(t, cfg, func(d *session.Deps) {
		d.Agents, d.Synth, d.Metrics = agents, synth, m
	})
	conn := telnyx.DefaultConnConfig()
	conn.AllowUnauthenticated = true
	return telnyx.NewHandler(conn, eng, telnyx.NewMetrics(nil), log), ended, pacer
}

// listenToTheEnd reads what the peer gets until the end mark of the turn
// that start began: the bytes of its audio (with the frame before start)
// and the gaps the far end would play, sending each message as it comes.
func listenToTheEnd(t *testing.T, p *peer, start received) (heard int64, gaps time.Duration) {
	t.Helper()
	heard = 160 // the frame before the start mark (PCMU, 8 kHz)
	playEnd := start.at.Add(media.FrameDuration)
	for {
		r := p.next(t, "the turn's end mark", func(r received) bool { return r.event == "media" || isMark("-end")(r) })
		if r.event != "media" {
			return heard, gaps
		}
		heard += int64(r.bytes)
		if r.at.After(playEnd) {
			gaps += r.at.Sub(playEnd)
		}
		playEnd = later(playEnd, r.at).Add(time.Duration(r.bytes/160) * media.FrameDuration)
	}
}

// hangUpSync ends p's call and waits for its record.
func hangUpSync(p *peer, ended <-chan session.CallSummary) {
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x", "stop": map[string]any{}})
	<-ended
	p.close()
}

// goroutinesIn counts the goroutines with fn on their stacks.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), fn)
}

// countingSynth counts the sentences of a text synthesized and the bytes
// of audio read from them (the holding phrase, say, is not counted).
type countingSynth struct {
	next         session.Synthesizer
	of           string
	calls, bytes atomic.Int64
}

func (c *countingSynth) Synthesize(ctx context.Context, req ai.SpeechRequest) (io.ReadCloser, error) {
	rc, err := c.next.Synthesize(ctx, req)
	if err != nil || !strings.Contains(c.of, req.Text) {
		return rc, err
	}
	c.calls.Add(1)
	return countingReader{rc, &c.bytes}, nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}

// TestAnUncachedSentenceAfterCachedOnesStartsInTime: a sentence the cache
// does not hold, after cached ones, is asked of the synthesizer once what
// is queued runs low, not as soon as the cached ones are queued (a
// provider's stream would otherwise wait unread for as long as they play),
// and in time for the caller to hear it without a gap.
func TestAnUncachedSentenceAfterCachedOnesStartsInTime(t *testing.T) {
	cached := []string{"Thank you for calling the test line.", "Every sentence of this greeting but the last is cached.",
		"Our offices open at nine in the morning and close at five in the afternoon, from Monday to Friday."}
	last := "How can I help you today?"
	agent := store.DefaultAgent()
	agent.Greeting = strings.Join(append(cached, last), " ")
	const firstByte = 400 * time.Millisecond
	synctest.Test(t, func(t *testing.T) {
		slow := &slowSynth{next: local.NewTones(), delay: firstByte, asked: map[string]time.Time{}}
		cache := ai.NewSpeechCache(slow, 1<<20, 512)
		var cachedAudio int
		for _, text := range cached {
			rc, err := cache.Synthesize(t.Context(), ai.SpeechRequest{Text: text, Voice: agent.Voice, Language: agent.Language, Format: media.PCMU8k})
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			_ = rc.Close()
			cachedAudio += len(b)
		}
		hits := cache.Hits()
		h, ended, pacer := agentHandler(t, session.DefaultConfig(), agent, cache)
		p := newPeer(t, pipeDial(t, h), nil)
		start := p.next(t, "the greeting's start mark", isMark("-start"))
		_, gaps := listenToTheEnd(t, p, start)
		if n := cache.Hits() - hits; n < uint64(len(cached)) {
			t.Errorf("%d cache hits; want the %d cached sentences", n, len(cached))
		}
		slow.mu.Lock()
		asked, ok := slow.asked[last]
		slow.mu.Unlock()
		runsOut := start.at.Add(media.PCMU8k.Duration(cachedAudio))
		ahead := runsOut.Sub(asked)
		t.Logf("the last sentence was asked for %v before the cached audio ran out; %v of gaps", ahead, gaps)
		if !ok || ahead < firstByte || ahead > 4*time.Second || gaps > 0 {
			t.Errorf("the uncached sentence was asked for %v before the cached audio ran out (asked: %v), and the caller heard %v of gaps; "+
				"want between the synthesizer's first-byte time (%v) and 4 s, and no gap", ahead, ok, gaps, firstByte)
		}
		hangUpSync(p, ended)
		pacer.Close()
		synctest.Wait()
	})
}

// slowSynth answers each sentence after a first-byte delay, as a
// provider does, and notes when each was asked for.
type slowSynth struct {
	next  session.Synthesizer
	delay time.Duration
	mu    sync.Mutex
	asked map[string]time.Time
}

func (s *slowSynth) Synthesize(ctx context.Context, req ai.SpeechRequest) (io.ReadCloser, error) {
	s.mu.Lock()
	s.asked[req.Text] = time.Now()
	s.mu.Unlock()
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.next.Synthesize(ctx, req)
}
