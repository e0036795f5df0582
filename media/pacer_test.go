package media

import (
	"bytes"
	"context"
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

// handDriven is a pacer of one shard that no goroutine drives (tests call
// serviceAll), with one PCMU playout writing to a fakeOutput.
func handDriven(t *testing.T) (p *Pacer, out *fakeOutput, pl *Playout, now time.Time) {
	t.Helper()
	p = newPacer(PacerConfig{Lead: 200 * time.Millisecond, MaxChunk: 100 * time.Millisecond, Keepalive: time.Hour, Shards: 1}, 1)
	now = time.Now()
	out = &fakeOutput{start: now}
	pl = p.NewPlayout(out, PCMU8k)
	t.Cleanup(pl.Close)
	return p, out, pl, now
}

// TestPacerHandsEachTickToTheOutputOnce drives a shard by hand: each tick's
// messages for a call are written in order and flushed once; a busy output
// is passed over, keeping its audio, and counted; an output that failed
// fails the playout.
func TestPacerHandsEachTickToTheOutputOnce(t *testing.T) {
	p, out, pl, now := handDriven(t)
	shard := p.shards[0]
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
	tick := pacerTickFixture(1000)
	b.ReportAllocs()
	for b.Loop() {
		tick()
	}
}

// pacerTickFixture returns one 20 ms tick of a pacer over calls speaking
// calls, each topped up with a second of audio when less than half a
// second is queued. The pacer's shard goroutine is not running: the tick
// drives it. BenchmarkPacerTick1000Calls and TestPacerTickAllocs share it.
func pacerTickFixture(calls int) (tick func()) {
	p := newPacer(PacerConfig{Lead: 200 * time.Millisecond, MaxChunk: 100 * time.Millisecond, Keepalive: time.Hour, Shards: 1}, 1)
	shard := p.shards[0]
	audio := make([]byte, 8000)
	var pls []*Playout
	for range calls {
		pl := p.NewPlayout(nopOutput{}, PCMU8k)
		pls = append(pls, pl)
	}
	now := time.Now()
	return func() {
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

// TestPacerWaitRoomBoundsWhatAWriterQueues: a writer that waits for room
// before each write never has more than the lead plus writerAhead (plus its
// write) queued, however long its utterance, and all of it is sent in
// order at the pace it plays.
func TestPacerWaitRoomBoundsWhatAWriterQueues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPacer(t)
		defer p.Close()
		out := &fakeOutput{start: time.Now()}
		pl := p.NewPlayout(out, PCMU8k)
		defer pl.Close()
		gen := pl.Generation()
		const total, read = 80000, 640 // ten seconds, in reads of 80 ms
		bound := PCMU8k.BytesPer(200*time.Millisecond) + PCMU8k.BytesPer(writerAhead) + read
		audio := make([]byte, total)
		for i := range audio {
			audio[i] = byte(i / 160)
		}
		most := 0
		for off := 0; off < total; off += read {
			if !pl.WaitRoom(t.Context(), gen) {
				t.Fatal("WaitRoom refused a current generation")
			}
			pl.Write(gen, audio[off:off+read])
			pl.mu.Lock()
			most = max(most, pl.queued)
			pl.mu.Unlock()
		}
		pl.Mark(gen, "end")
		if most > bound {
			t.Errorf("a writer that waits had %d bytes queued, bound %d", most, bound)
		}
		// All but what may be queued ahead (the lead, writerAhead and a read)
		// was taken only as it played.
		if elapsed := time.Since(out.start); elapsed < 10*time.Second-200*time.Millisecond-writerAhead-PCMU8k.Duration(read) {
			t.Errorf("ten seconds of audio were taken in %v: the writer did not wait for it to play", elapsed)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		var sent []byte
		for _, w := range out.snapshot() {
			sent = append(sent, w.audio...)
		}
		if !bytes.Equal(sent, audio) {
			t.Errorf("sent %d bytes, not the %d written in order", len(sent), total)
		}
	})
}

// TestPacerWaitBelowReturnsWhenTheQueueRunsLow: a writer waiting for less
// than d to be queued (to start a slow synthesis in time) is let go when
// what is queued plays down to d, not before and not much after.
func TestPacerWaitBelowReturnsWhenTheQueueRunsLow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPacer(t)
		defer p.Close()
		pl := p.NewPlayout(&fakeOutput{start: time.Now()}, PCMU8k)
		defer pl.Close()
		gen := pl.Generation()
		start := time.Now()
		pl.WriteShared(gen, make([]byte, PCMU8k.BytesPer(10*time.Second)))
		if !pl.WaitBelow(t.Context(), gen, 3*time.Second) {
			t.Fatal("WaitBelow refused a current generation")
		}
		// Ten seconds queued, of which the lead went out at once: less than
		// three are left after 6.8 s, give or take the 100 ms the shard
		// sends at a time.
		if waited, want := time.Since(start), 10*time.Second-3*time.Second-200*time.Millisecond; waited < want || waited > want+120*time.Millisecond {
			t.Errorf("WaitBelow(3 s) returned after %v of a 10 s queue; want about %v", waited, want)
		}
		if !pl.WaitBelow(t.Context(), gen, 3*time.Second) {
			t.Fatal("WaitBelow refused a current generation")
		}
		if waited := time.Since(start); waited > 10*time.Second-3*time.Second {
			t.Errorf("a second WaitBelow waited although the queue was low already (%v in)", waited)
		}
	})
}

// TestPacerWaitRoomIsReleasedAtOnce: a writer waiting for room is let go,
// refused, as soon as a clear starts a new generation, a fence, the call's
// end or its context; while held it waits, and Resume lets it go on.
func TestPacerWaitRoomIsReleasedAtOnce(t *testing.T) {
	for _, c := range []struct {
		name    string
		release func(pl *Playout, cancel func())
		want    bool
	}{
		{"clear", func(pl *Playout, _ func()) { pl.Clear() }, false},
		{"fence", func(pl *Playout, _ func()) { pl.Fence() }, false},
		{"close", func(pl *Playout, _ func()) { pl.Close() }, false},
		{"context", func(_ *Playout, cancel func()) { cancel() }, false},
		{"resume", func(pl *Playout, _ func()) { pl.Resume() }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newTestPacer(t)
				defer p.Close()
				pl := p.NewPlayout(&fakeOutput{start: time.Now()}, PCMU8k)
				defer pl.Close()
				gen := pl.Generation()
				pl.Hold() // nothing drains: the writer waits until released
				// 1.5 s: more than the lead plus writerAhead, even after the
				// hold has topped the far end up to the lead.
				pl.Write(gen, make([]byte, 12000))
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				done := make(chan bool)
				go func() { done <- pl.WaitRoom(ctx, gen) }()
				time.Sleep(time.Second)
				synctest.Wait()
				select {
				case <-done:
					t.Fatal("WaitRoom returned while the queue was full and held")
				default:
				}
				start := time.Now()
				c.release(pl, cancel)
				if got := <-done; got != c.want {
					t.Errorf("WaitRoom = %v, want %v", got, c.want)
				}
				// Resume's room comes as the queue drains; the others at once.
				if c.want && time.Since(start) > time.Second || !c.want && time.Since(start) != 0 {
					t.Errorf("released after %v", time.Since(start))
				}
			})
		})
	}
}

// TestPacerSharedAudioIsQueuedByReference: shared audio is sent as written,
// interleaved in order with copied audio, frames cut across both, marks
// and positions as with Write; the playout keeps no copy of it.
func TestPacerSharedAudioIsQueuedByReference(t *testing.T) {
	p, out, pl, now := handDriven(t)
	gen := pl.Generation()
	shared := bytes.Repeat([]byte{0x22}, 4000)
	var want []byte
	pl.Write(gen, bytes.Repeat([]byte{0x11}, 100)) // not a whole frame
	want = append(want, bytes.Repeat([]byte{0x11}, 100)...)
	if end, ok := pl.WriteShared(gen, shared); !ok || end != 4100 {
		t.Fatalf("WriteShared ends at %d (ok %v), want 4100", end, ok)
	}
	want = append(want, shared...)
	pos, _ := pl.Mark(gen, "mid") // pads with silence
	want = append(want, bytes.Repeat([]byte{0xFF}, int(pos)-len(want))...)
	pl.WriteShared(gen, shared)
	want = append(want, shared...)
	end, _ := pl.Mark(gen, "end")
	if pos != 4160 || end != 8160 {
		t.Fatalf("marks at %d and %d, want 4160 and 8160", pos, end)
	}
	pl.mu.Lock()
	owned := len(pl.buf) - pl.off
	pl.mu.Unlock()
	if owned >= len(shared) {
		t.Errorf("the playout's own buffer holds %d bytes: shared audio was copied", owned)
	}
	for i := range 100 {
		p.shards[0].serviceAll(now.Add(time.Duration(i) * FrameDuration))
	}
	var sent []byte
	var marks []string
	for _, w := range out.snapshot() {
		sent = append(sent, w.audio...)
		if w.kind == "mark" {
			marks = append(marks, fmt.Sprintf("%s@%d", w.mark, len(sent)))
		}
		if len(w.audio)%160 != 0 {
			t.Errorf("a message of %d bytes", len(w.audio))
		}
	}
	if !bytes.Equal(sent, want) {
		t.Errorf("sent %d bytes, not the %d written", len(sent), len(want))
	}
	if got := fmt.Sprint(marks); got != "[mid@4160 end@8160]" {
		t.Errorf("marks %s", got)
	}
	if shared[0] != 0x22 || !bytes.Equal(shared, bytes.Repeat([]byte{0x22}, 4000)) {
		t.Error("the shared audio was written to")
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for _, r := range pl.runs[:cap(pl.runs)] {
		if r.shared != nil {
			t.Error("a sent run still references shared audio")
		}
	}
}

// TestPacerHoldAndResume drives a shard by hand: a hold sends no audio but
// keeps the keepalives, Played follows what the far end still plays, the
// pause is no underrun; Resume within the lead goes on with no gap; Resume
// after it continues where it stopped; Clear ends a hold.
func TestPacerHoldAndResume(t *testing.T) {
	p := newPacer(PacerConfig{Lead: 200 * time.Millisecond, MaxChunk: 100 * time.Millisecond, Keepalive: 100 * time.Millisecond, Shards: 1}, 1)
	shard := p.shards[0]
	start := time.Now()
	out := &fakeOutput{start: start}
	pl := p.NewPlayout(out, PCMU8k)
	defer pl.Close()
	gen := pl.Generation()
	audio := make([]byte, 24000) // three seconds, numbered by frame
	for i := range audio {
		audio[i] = byte(i / 160)
	}
	pl.Write(gen, audio)
	tick := func(i int) time.Time {
		at := start.Add(time.Duration(i) * FrameDuration)
		shard.serviceAll(at)
		return at
	}
	sentAt := func() int {
		n := 0
		for _, w := range out.snapshot() {
			n += len(w.audio)
		}
		return n
	}
	for i := range 25 { // to 480 ms: 600 ms sent in 100 ms chunks
		tick(i)
	}
	before := sentAt()
	pl.Hold()
	if !pl.Held() {
		t.Fatal("Held is false after Hold")
	}
	pings := out.pings
	// The first tick tops the far end up to the whole lead (rounded up to
	// a frame), in whatever piece fits, so a decision has all of it; then
	// nothing more goes.
	holdAt := tick(25)
	sent := sentAt()
	pl.mu.Lock()
	playEnd := pl.playEnd
	pl.mu.Unlock()
	if want := monotonic(holdAt) + 200*time.Millisecond; playEnd < want || playEnd >= want+FrameDuration || sent == before {
		t.Errorf("after the hold's first tick the far end plays until %v, want %v (the whole lead); %d bytes were sent then",
			playEnd-monotonic(holdAt), want-monotonic(holdAt), sent-before)
	}
	for i := 26; i < 28; i++ { // held to 540 ms: the far end still plays
		tick(i)
	}
	if n := sentAt(); n != sent {
		t.Fatalf("%d bytes sent while held", n-sent)
	}
	if out.pings <= pings {
		t.Error("no keepalive while held")
	}
	// Played: the far end keeps playing what it has.
	at := monotonic(start.Add(27 * FrameDuration))
	pl.mu.Lock()
	played := pl.playedLocked(at)
	pl.mu.Unlock()
	if want := int64(sent) - int64(PCMU8k.BytesPer(playEnd-at)); playEnd <= at || played != want {
		t.Errorf("played %d while held, want %d (sent %d, %v of it still ahead)", played, want, sent, playEnd-at)
	}
	pl.Resume()
	held, next := len(out.snapshot()), 28
	for ; next < 34 && len(out.snapshot()) == held; next++ { // the next chunk goes once it fits in the lead
		tick(next)
	}
	log := out.snapshot()
	if len(log) == held || log[held].kind != "audio" || log[held].audio[0] != byte(sent/160) {
		t.Fatalf("after Resume: %v; want the frame after the last one sent (%d)", kinds(log[held:]), sent/160)
	}
	// No gap: the far end still had audio, so the new audio plays right
	// behind it.
	pl.mu.Lock()
	after := pl.playEnd
	pl.mu.Unlock()
	if want := playEnd + PCMU8k.Duration(sentAt()-sent); after != want {
		t.Errorf("after Resume the far end plays to %v, want %v: a gap", after, want)
	}

	// A hold longer than the lead: the far end runs dry; not an underrun.
	underruns := testutilCounter(p.metrics.underruns)
	pl.Hold()
	for i := next; i < 80; i++ {
		tick(i)
	}
	sent = sentAt()
	pl.Resume()
	for i := 80; i < 90; i++ {
		tick(i)
	}
	if n := testutilCounter(p.metrics.underruns); n != underruns {
		t.Errorf("%v underruns counted for a hold", n-underruns)
	}
	log = out.snapshot()
	for _, w := range log {
		if w.kind == "audio" && w.at >= 80*FrameDuration {
			if w.audio[0] != byte(sent/160) {
				t.Errorf("after a long hold the audio goes on at frame %d, want %d", w.audio[0], byte(sent/160))
			}
			break
		}
	}

	// Clear ends a hold.
	pl.Hold()
	_, gen = pl.Clear()
	if pl.Held() {
		t.Error("Clear did not end the hold")
	}
	pl.Write(gen, bytes.Repeat([]byte{0xAB}, 160))
	tick(90)
	if log := out.snapshot(); log[len(log)-1].kind != "audio" || log[len(log)-1].audio[0] != 0xAB {
		t.Errorf("after Clear the new audio was not sent: %v", kinds(log[len(log)-2:]))
	}
}

// TestPacerHoldFillsTheFarEndToTheHoldLead: with a HoldLead above the
// lead, a hold first fills the far end to it, so that a decision that takes
// longer than the lead (an "mm-hmm" told by its words) resumes the agent
// with no gap, and a clear still drops what was not played.
func TestPacerHoldFillsTheFarEndToTheHoldLead(t *testing.T) {
	cfg := DefaultPacerConfig()
	cfg.Shards = 1
	if cfg.HoldLead != 700*time.Millisecond {
		t.Fatalf("default hold lead %v; this test expects 700ms", cfg.HoldLead)
	}
	p := newPacer(cfg, 1)
	shard := p.shards[0]
	start := time.Now()
	out := &fakeOutput{start: start}
	pl := p.NewPlayout(out, PCMU8k)
	defer pl.Close()
	gen := pl.Generation()
	pl.Write(gen, make([]byte, PCMU8k.BytesPer(3*time.Second)))
	tick := func(i int) time.Duration {
		at := start.Add(time.Duration(i) * FrameDuration)
		shard.serviceAll(at)
		return monotonic(at)
	}
	playEnd := func() time.Duration {
		pl.mu.Lock()
		defer pl.mu.Unlock()
		return pl.playEnd
	}
	for i := range 25 {
		tick(i)
	}
	pl.Hold()
	holdAt := tick(25)
	if ahead := playEnd() - holdAt; ahead < cfg.HoldLead || ahead >= cfg.HoldLead+FrameDuration {
		t.Fatalf("after the hold's first tick the far end has %v to play; want the hold lead, %v", ahead, cfg.HoldLead)
	}
	// Held 600 ms (longer than the lead, shorter than the hold's), then
	// resumed: the far end never ran dry.
	i := 26
	for ; i < 25+30; i++ {
		if now := tick(i); playEnd() <= now {
			t.Fatalf("the far end ran dry %v into the hold", now-holdAt)
		}
	}
	pl.Resume()
	for end := i + 50; i < end; i++ {
		if now := tick(i); playEnd() <= now {
			t.Fatalf("the far end ran dry %v after the resume", now-holdAt-600*time.Millisecond)
		}
	}
	// A barge-in's clear drops what the hold sent ahead: played counts
	// only what the far end had time to play.
	pl.Hold()
	holdAt = tick(i)
	sent := int64(0)
	for _, w := range out.snapshot() {
		sent += int64(len(w.audio))
	}
	pl.mu.Lock()
	played := pl.playedLocked(holdAt)
	pl.mu.Unlock()
	if want := sent - int64(PCMU8k.BytesPer(cfg.HoldLead)); played < want-160 || played > want {
		t.Errorf("right after a hold %d bytes count as played of %d sent; want about %d", played, sent, want)
	}
	pl.Clear()
	tick(i + 1)
	if log := out.snapshot(); log[len(log)-1].kind != "clear" {
		t.Errorf("no clear after the hold: %v", kinds(log[len(log)-3:]))
	}
}

// TestPacerCloseLetsWritersGo: a writer waiting for room on a playout of a
// pacer that stops is let go, refused.
func TestPacerCloseLetsWritersGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPacer(t)
		pl := p.NewPlayout(&fakeOutput{start: time.Now()}, PCMU8k)
		gen := pl.Generation()
		pl.Hold()
		pl.Write(gen, make([]byte, 16000)) // 2 s: more than the lead plus writerAhead
		done := make(chan bool)
		go func() { done <- pl.WaitRoom(t.Context(), gen) }()
		synctest.Wait()
		p.Close()
		if <-done {
			t.Error("WaitRoom said there was room on a playout whose pacer stopped")
		}
		if _, ok := pl.Write(gen, make([]byte, 160)); ok {
			t.Error("a playout whose pacer stopped took audio")
		}
	})
}

// A playout holds a buffer of its own only while its copied audio waits:
// once all of it has gone out, or been cleared, a listening call keeps
// none, and the next reply's audio comes out whole and in order.
func TestAPlayoutKeepsNoBufferOnceItsAudioIsSent(t *testing.T) {
	p, out, pl, now := handDriven(t)
	shard := p.shards[0]
	held := func() int {
		pl.mu.Lock()
		defer pl.mu.Unlock()
		return cap(pl.buf)
	}
	tick := 0
	drain := func() {
		for ; pl.Queued() > 0 && tick < 1000; tick++ {
			shard.serviceAll(now.Add(time.Duration(tick) * FrameDuration))
		}
	}
	reply := func(b byte) []byte { return bytes.Repeat([]byte{b}, 1600) }

	pl.Write(pl.Generation(), reply(0x11))
	if held() == 0 {
		t.Fatal("queued audio has no buffer")
	}
	drain()
	if c := held(); c != 0 {
		t.Errorf("after its audio went out the playout keeps a %d-byte buffer, want none", c)
	}

	pl.Write(pl.Generation(), reply(0x22))
	pl.Clear()
	if c := held(); c != 0 {
		t.Errorf("after a clear the playout keeps a %d-byte buffer, want none", c)
	}

	pl.Write(pl.Generation(), reply(0x33))
	drain()
	var got []byte
	for _, w := range out.snapshot() {
		got = append(got, w.audio...)
	}
	if want := append(reply(0x11), reply(0x33)...); !bytes.Equal(got, want) {
		t.Errorf("the caller got %d bytes, want the first and third replies whole (%d bytes)", len(got), len(want))
	}
}
