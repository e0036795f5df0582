package media

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// fakeOutput records what the pacer writes and when.
type fakeOutput struct {
	mu      sync.Mutex
	start   time.Time
	log     []written
	pings   int
	flushes int
	fail    error
	ready   error // what Ready says
}

type written struct {
	at    time.Duration
	kind  string // audio, mark, clear
	audio []byte
	mark  string
}

func (o *fakeOutput) add(w written) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	w.at = time.Since(o.start)
	o.log = append(o.log, w)
	return nil
}

func (o *fakeOutput) WriteAudio(b []byte) error {
	return o.add(written{kind: "audio", audio: bytes.Clone(b)})
}
func (o *fakeOutput) WriteMark(n string) error { return o.add(written{kind: "mark", mark: n}) }
func (o *fakeOutput) WriteClear() error        { return o.add(written{kind: "clear"}) }
func (o *fakeOutput) Keepalive() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pings++
	return nil
}

func (o *fakeOutput) Ready() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ready
}

func (o *fakeOutput) Flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.flushes++
	return o.fail
}

func (o *fakeOutput) setReady(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ready = err
}

func (o *fakeOutput) snapshot() []written {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]written(nil), o.log...)
}

func newTestPacer(t *testing.T) *Pacer {
	t.Helper()
	p, err := NewPacer(PacerConfig{Lead: 200 * time.Millisecond, MaxChunk: 100 * time.Millisecond, Keepalive: time.Second, Shards: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPacerPacesAnUtteranceWithMarks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPacer(t)
		defer p.Close()
		out := &fakeOutput{start: time.Now()}
		pl := p.NewPlayout(out, PCMU8k)
		defer pl.Close()

		gen := pl.Generation()
		audio := bytes.Repeat([]byte{0x55}, 8000) // one second
		pl.Write(gen, audio[:160])
		pl.Mark(gen, "start")
		end, _ := pl.Write(gen, audio[160:])
		pos, _ := pl.Mark(gen, "end")
		if end != 8000 || pos != 8000 {
			t.Fatalf("positions %d, %d: want 8000", end, pos)
		}
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()

		log := out.snapshot()
		if log[0].kind != "audio" || len(log[0].audio) != 160 || log[1].kind != "mark" || log[1].mark != "start" {
			t.Fatalf("the utterance must open with one frame and the start mark, got %v", kinds(log))
		}
		last := log[len(log)-1]
		if last.kind != "mark" || last.mark != "end" {
			t.Fatalf("the end mark must follow the last frame, got %v", kinds(log))
		}
		var sent int
		for _, w := range log {
			if w.kind != "audio" {
				continue
			}
			if len(w.audio)%160 != 0 || len(w.audio) > 800 {
				t.Errorf("message of %d bytes: want whole frames, at most 100 ms", len(w.audio))
			}
			sent += len(w.audio)
			// Never more than the lead ahead of real time.
			if ahead := PCMU8k.Duration(sent) - w.at; ahead > 200*time.Millisecond {
				t.Errorf("at %v, %v of audio sent: %v ahead, lead is 200ms", w.at, PCMU8k.Duration(sent), ahead)
			}
		}
		if sent != 8000 {
			t.Errorf("sent %d bytes, want 8000", sent)
		}
		if n := len(log) - 2; n > 12 {
			t.Errorf("%d audio messages for one second: want about 11 (100 ms chunks)", n)
		}
		if last.at > 900*time.Millisecond {
			t.Errorf("the last audio went out at %v: the lead should put it out by 800 ms", last.at)
		}
	})
}

func TestPacerClearDropsQueuedAudioAndReportsWhatPlayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPacer(t)
		defer p.Close()
		out := &fakeOutput{start: time.Now()}
		pl := p.NewPlayout(out, PCMU8k)
		defer pl.Close()
		gen := pl.Generation()
		pl.Write(gen, bytes.Repeat([]byte{0x55}, 16000)) // two seconds
		pl.Mark(gen, "end")
		time.Sleep(500 * time.Millisecond)
		played, newGen := pl.Clear()
		if want := int64(4000); played < want-160 || played > want+160 {
			t.Errorf("played %d bytes at 500 ms, want about %d", played, want)
		}
		if _, ok := pl.Write(gen, []byte{1, 2, 3}); ok {
			t.Error("audio of the cleared generation was accepted")
		}
		if end, ok := pl.Write(newGen, bytes.Repeat([]byte{0x11}, 160)); !ok || end != played+160 {
			t.Errorf("new audio ends at %d (ok %v), want %d: the timeline continues from what played", end, ok, played+160)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		log := out.snapshot()
		var i int
		for i = range log {
			if log[i].kind == "clear" {
				break
			}
		}
		if log[i].kind != "clear" || log[i].at != 500*time.Millisecond {
			t.Fatalf("no clear at 500ms: %v", kinds(log))
		}
		for _, w := range log[i+1:] {
			if w.kind == "mark" || w.kind == "audio" && w.audio[0] != 0x11 {
				t.Errorf("after the clear: %s %v", w.kind, w.mark)
			}
		}
	})
}

func TestPacerPadsTailsToWholeFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPacer(t)
		defer p.Close()
		out := &fakeOutput{start: time.Now()}
		pl := p.NewPlayout(out, Format{Encoding: EncodingPCMA, SampleRate: 8000})
		defer pl.Close()
		gen := pl.Generation()
		pl.Write(gen, bytes.Repeat([]byte{0x01}, 250))
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if log := out.snapshot(); len(log) != 1 || len(log[0].audio) != 160 {
			t.Fatalf("before the mark only whole frames go out, got %v", kinds(log))
		}
		pl.Mark(gen, "end")
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		log := out.snapshot()
		if len(log) != 3 || len(log[1].audio) != 160 || log[1].audio[89] != 0x01 || log[1].audio[90] != 0xD5 || log[2].mark != "end" {
			t.Fatalf("the tail must be padded with A-law silence, got %v", kinds(log))
		}
	})
}

func TestPacerKeepaliveAndFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPacer(t)
		defer p.Close()
		out := &fakeOutput{start: time.Now()}
		pl := p.NewPlayout(out, PCMU8k)
		defer pl.Close()
		time.Sleep(3500 * time.Millisecond)
		synctest.Wait()
		out.mu.Lock()
		pings := out.pings
		out.fail = errors.New("broken pipe")
		out.mu.Unlock()
		if pings != 4 {
			t.Errorf("%d pings in 3.5 s at 1 s intervals, want 4", pings)
		}
		pl.Write(pl.Generation(), make([]byte, 160))
		select {
		case <-pl.Failed():
		case <-time.After(time.Second):
			t.Fatal("a failed write did not fail the playout")
		}
		if pl.Err() == nil {
			t.Error("Err is nil after a failure")
		}
	})
}

// TestPacerHandsEachTickToTheOutputOnce drives a shard by hand: each tick's
// messages for a call are written in order and flushed once; a busy output
// is passed over, keeping its audio, and counted; an output that failed
// fails the playout.
func TestPacerHandsEachTickToTheOutputOnce(t *testing.T) {
	p := newPacer(PacerConfig{Lead: 200 * time.Millisecond, MaxChunk: 100 * time.Millisecond, Keepalive: time.Hour, Shards: 1}, 1)
	shard := p.shards[0]
	now := time.Now()
	out := &fakeOutput{start: now}
	pl := p.NewPlayout(out, PCMU8k)
	defer pl.Close()
	gen := pl.Generation()
	pl.Write(gen, bytes.Repeat([]byte{0x55}, 160))
	pl.Mark(gen, "start")
	pl.Write(gen, bytes.Repeat([]byte{0x55}, 8000-160))
	pl.Mark(gen, "end")

	shard.serviceAll(now)
	if log := out.snapshot(); out.flushes != 1 || out.pings != 1 || len(log) != 3 ||
		len(log[0].audio) != 160 || log[1].mark != "start" || len(log[2].audio) != 800 {
		t.Fatalf("first tick: %d flushes, %d pings, %s; want 160 bytes, the start mark, 800 bytes and a ping in one flush",
			out.flushes, out.pings, kinds(log))
	}

	// Busy: passed over, nothing taken from the queue, counted.
	out.setReady(ErrOutputBusy)
	queued := pl.Queued()
	for i := 1; i <= 10; i++ {
		shard.serviceAll(now.Add(time.Duration(i) * FrameDuration))
	}
	if n := len(out.snapshot()); n != 3 || out.flushes != 1 || pl.Queued() != queued {
		t.Fatalf("a busy output got %d messages and %d flushes, queue %v (was %v)", n, out.flushes, pl.Queued(), queued)
	}
	if n := testutilCounter(p.metrics.busy); n != 10 {
		t.Errorf("busy counter %v, want 10", n)
	}

	// Ready again: the rest follows, whole and in order.
	out.setReady(nil)
	for i := 11; i < 100; i++ {
		shard.serviceAll(now.Add(time.Duration(i) * FrameDuration))
	}
	log := out.snapshot()
	sent := 0
	for _, w := range log {
		sent += len(w.audio)
	}
	if last := log[len(log)-1]; sent != 8000 || last.kind != "mark" || last.mark != "end" {
		t.Fatalf("after the busy spell: %d bytes sent, then %s", sent, kinds(log))
	}

	// Failed: the playout fails with the output's error.
	broken := errors.New("peer stopped reading")
	out.setReady(broken)
	shard.serviceAll(now.Add(100 * FrameDuration))
	select {
	case <-pl.Failed():
	default:
		t.Fatal("a failed output did not fail the playout")
	}
	if !errors.Is(pl.Err(), broken) {
		t.Errorf("Err %v", pl.Err())
	}
}

func testutilCounter(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

func kinds(log []written) string {
	var b bytes.Buffer
	for _, w := range log {
		fmt.Fprintf(&b, "%v:%s(%d%s) ", w.at, w.kind, len(w.audio), w.mark)
	}
	return b.String()
}

// BenchmarkPacerTick1000Calls is one pacer tick over 1,000 speaking calls:
// the cost the pacer adds per call per 20 ms.
func BenchmarkPacerTick1000Calls(b *testing.B) {
	// A pacer whose shard goroutine is not running: the benchmark drives it.
	p := newPacer(PacerConfig{Lead: 200 * time.Millisecond, MaxChunk: 100 * time.Millisecond, Keepalive: time.Hour, Shards: 1}, 1)
	shard := p.shards[0]
	audio := make([]byte, 8000)
	var pls []*Playout
	for range 1000 {
		pl := p.NewPlayout(nopOutput{}, PCMU8k)
		pls = append(pls, pl)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(FrameDuration)
		for _, pl := range pls {
			if pl.Queued() < time.Second/2 {
				pl.Write(0, audio)
			}
		}
		shard.serviceAll(now)
	}
}

type nopOutput struct{}

func (nopOutput) WriteAudio([]byte) error { return nil }
func (nopOutput) WriteMark(string) error  { return nil }
func (nopOutput) WriteClear() error       { return nil }
func (nopOutput) Keepalive() error        { return nil }
func (nopOutput) Ready() error            { return nil }
func (nopOutput) Flush() error            { return nil }
