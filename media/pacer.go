package media

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Output is where a Playout's audio goes: a media-stream connection. The pacer
// calls its methods from one goroutine per shard, and none of them may wait on
// the network: a shard serves hundreds of calls, and one write that waited on
// a peer that reads slowly would make every one of them late. Each tick the
// pacer asks Ready, then writes the playout's messages (in the order the far
// end must see them) and hands them over with one Flush.
type Output interface {
	// Ready says whether the output takes messages now: nil when it does;
	// ErrOutputBusy while messages it was given before wait for a peer that
	// reads slowly, in which case the pacer leaves the playout's audio
	// queued and asks again next tick; any other error means the output
	// has failed for good, and the playout fails with it. It never waits,
	// and is called under the playout's lock.
	Ready() error
	// WriteAudio queues one message holding a whole number of frames. It
	// must not keep audio: the pacer reuses the buffer for other calls.
	WriteAudio(audio []byte) error
	// WriteMark queues a mark; the far end echoes it once the audio before it has played.
	WriteMark(name string) error
	// WriteClear queues a clear: the far end stops playing and empties its queue.
	WriteClear() error
	// Keepalive queues a proof that the connection is alive (a WebSocket ping).
	Keepalive() error
	// Flush sends what was queued since the last Flush, in order. What the
	// connection cannot take at once it writes in the background; while it
	// does, Ready says ErrOutputBusy.
	Flush() error
}

// ErrOutputBusy is what Output.Ready returns while an output is still
// writing what it was given before.
var ErrOutputBusy = errors.New("media: output busy")

// ErrOutputStalled is the error (wrapped) an output fails with when what it
// was given waited too long to be written: the far end stopped reading.
var ErrOutputStalled = errors.New("media: output stalled")

// PacerConfig sets how audio is paced out.
type PacerConfig struct {
	// Lead is how much audio may wait in the far end's playback queue. More
	// lead rides out scheduling hiccups; less makes barge-in faster, since
	// queued audio still plays until the clear arrives (docs/protocols/telnyx.md 2.5).
	Lead time.Duration
	// HoldLead is how much audio the far end is filled to when the
	// session holds a playout (a sound over the agent, while it decides
	// whether it is a barge-in): a decision within it (a cough, an
	// "mm-hmm" told by its words) resumes the agent with no gap the caller
	// hears, and a barge-in's clear drops what was not played. 0 means
	// Lead.
	HoldLead time.Duration
	// MaxChunk is the most audio sent in one message. Telnyx accepts 20 ms to
	// 30 s per message; larger chunks mean fewer writes per call.
	MaxChunk time.Duration
	// Keepalive is how often each output is pinged.
	Keepalive time.Duration
	// Shards is the number of pacer goroutines (0: one per CPU).
	Shards int
}

// DefaultPacerConfig keeps 200 ms queued at the far end in 100 ms messages:
// ten writes a second per speaking call instead of fifty. A hold fills it
// to 700 ms: the longest backchannel decision measured (the word must end,
// docs/BARGE-IN.md) fits within it.
func DefaultPacerConfig() PacerConfig {
	return PacerConfig{Lead: 200 * time.Millisecond, HoldLead: 700 * time.Millisecond, MaxChunk: 100 * time.Millisecond, Keepalive: 5 * time.Second}
}

// Validate reports every invalid setting.
func (c PacerConfig) Validate() error {
	var errs []error
	if c.MaxChunk < FrameDuration || c.MaxChunk%FrameDuration != 0 {
		errs = append(errs, fmt.Errorf("max chunk %v: want a whole number of 20 ms frames", c.MaxChunk))
	}
	if c.Lead < c.MaxChunk {
		errs = append(errs, fmt.Errorf("lead %v: want at least the max chunk (%v)", c.Lead, c.MaxChunk))
	}
	if c.Lead > 5*time.Second {
		errs = append(errs, fmt.Errorf("lead %v: want at most 5s, barge-in waits for it", c.Lead))
	}
	if c.HoldLead != 0 && (c.HoldLead < c.Lead || c.HoldLead > 5*time.Second) {
		errs = append(errs, fmt.Errorf("hold lead %v: want 0 (the lead), or from the lead (%v) to 5s", c.HoldLead, c.Lead))
	}
	if c.Keepalive <= 0 {
		errs = append(errs, fmt.Errorf("keepalive %v: want > 0", c.Keepalive))
	}
	if c.Shards < 0 {
		errs = append(errs, fmt.Errorf("shards %d: want >= 0", c.Shards))
	}
	return errors.Join(errs...)
}

// Pacer sends the outbound audio of many calls. Each shard is one goroutine
// that wakes every 20 ms on a monotonic ticker (so its schedule does not
// drift) and tops up every playout it serves to the lead; a playout that gets
// audio while idle, or a clear, wakes its shard at once. One pacer serves all
// calls of a process. A shard never waits on a connection: one still writing
// what it was given (its peer reads slowly) is passed over until it is done,
// and one that failed (its peer stopped reading) fails its playout.
type Pacer struct {
	cfg     PacerConfig
	shards  []*pacerShard
	next    int
	mu      sync.Mutex
	wg      sync.WaitGroup
	stop    chan struct{}
	closed  bool
	metrics pacerMetrics
}

type pacerMetrics struct {
	framesOut prometheus.Counter
	underruns prometheus.Counter
	lateTicks prometheus.Counter
	busy      prometheus.Counter
}

// NewPacer starts a pacer; Close stops it. Its metrics are registered on reg
// (nil: not registered).
func NewPacer(cfg PacerConfig, reg prometheus.Registerer) (*Pacer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := cfg.Shards
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p := newPacer(cfg, n)
	if reg != nil {
		reg.MustRegister(p.metrics.framesOut, p.metrics.underruns, p.metrics.lateTicks, p.metrics.busy)
	}
	for _, s := range p.shards {
		p.wg.Go(s.run)
	}
	return p, nil
}

// newPacer builds a pacer with n shards and starts nothing.
func newPacer(cfg PacerConfig, n int) *Pacer {
	p := &Pacer{cfg: cfg, stop: make(chan struct{})}
	p.metrics = pacerMetrics{
		framesOut: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "iace", Subsystem: "media", Name: "frames_out_total",
			Help: "20 ms frames of agent audio sent to callers."}),
		underruns: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "iace", Subsystem: "media", Name: "playout_underruns_total",
			Help: "Times a caller's playback queue ran dry while the agent still had audio to send."}),
		lateTicks: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "iace", Subsystem: "media", Name: "pacer_late_ticks_total",
			Help: "Pacer ticks that ran more than one frame late (the process is overloaded)."}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "iace", Subsystem: "media", Name: "pacer_output_busy_total",
			Help: "Times the pacer passed over a call for a tick because its connection was still writing what it had been given (the caller's side reads slowly)."}),
	}
	for range n {
		p.shards = append(p.shards, &pacerShard{pacer: p, kick: make(chan struct{}, 1)})
	}
	return p
}

// Close stops every shard and waits for them. Playouts still open are not
// serviced any more: they refuse audio from then on, and writers waiting for
// room are let go.
func (p *Pacer) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.stop)
	p.mu.Unlock()
	p.wg.Wait()
	for _, s := range p.shards {
		s.mu.Lock()
		open := append([]*Playout(nil), s.playouts...)
		s.mu.Unlock()
		for _, pl := range open {
			pl.mu.Lock()
			pl.closed = true
			pl.wakeWriters()
			pl.mu.Unlock()
		}
	}
}

// NewPlayout registers an output whose audio is in format f and returns its
// playout queue. Close the playout when the call ends.
func (p *Pacer) NewPlayout(out Output, f Format) *Playout {
	p.mu.Lock()
	s := p.shards[p.next%len(p.shards)]
	p.next++
	p.mu.Unlock()
	frame := f.FrameBytes()
	start := monotonic(time.Now())
	pl := &Playout{
		shard:      s,
		out:        out,
		format:     f,
		frameBytes: frame,
		maxChunk:   f.BytesPer(p.cfg.MaxChunk),
		lead:       p.cfg.Lead,
		holdLead:   p.HoldLead(),
		keepalive:  p.cfg.Keepalive,
		playEnd:    start,
		nextPing:   math.MinInt64, // the first tick pings
		room:       f.BytesPer(p.cfg.Lead)/frame*frame + f.BytesPer(writerAhead),
		refill:     f.BytesPer(p.cfg.Lead)/frame*frame + f.BytesPer(writerAhead/2),
		failed:     make(chan struct{}),
		levelBytes: int64(f.BytesPer(levelBudget)),
	}
	pl.loudest.Store(math.Float64bits(NoLevelDB))
	s.add(pl)
	return pl
}

// HoldLead returns what a hold fills the far end to (PacerConfig.HoldLead,
// or the lead): a hold shorter than it leaves no gap.
func (p *Pacer) HoldLead() time.Duration {
	if p.cfg.HoldLead == 0 {
		return p.cfg.Lead
	}
	return p.cfg.HoldLead
}

// epoch is the origin of the pacer's monotonic clock: the shards do their
// arithmetic on durations since it, cheaper than on time.Time.
var epoch = time.Now()

// monotonic returns t as a duration on the pacer's clock.
func monotonic(t time.Time) time.Duration { return t.Sub(epoch) }

type pacerShard struct {
	pacer    *Pacer
	mu       sync.Mutex
	playouts []*Playout
	scratch  []*Playout
	kick     chan struct{}
	// send and acts are what one playout's service hands its output,
	// reused for every playout of the shard: the output copies the audio
	// (Output.WriteAudio), so no call keeps a buffer of its own for it.
	send []byte
	acts []playoutAction
}

func (s *pacerShard) add(p *Playout) {
	s.mu.Lock()
	p.index = len(s.playouts)
	s.playouts = append(s.playouts, p)
	s.mu.Unlock()
}

func (s *pacerShard) remove(p *Playout) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := p.index
	if i < 0 || i >= len(s.playouts) || s.playouts[i] != p {
		return
	}
	last := len(s.playouts) - 1
	s.playouts[i] = s.playouts[last]
	s.playouts[i].index = i
	s.playouts[last] = nil
	s.playouts = s.playouts[:last]
	p.index = -1
}

func (s *pacerShard) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *pacerShard) run() {
	t := time.NewTicker(FrameDuration)
	defer t.Stop()
	for {
		select {
		case <-s.pacer.stop:
			return
		case due := <-t.C:
			now := time.Now()
			if now.Sub(due) > FrameDuration {
				s.pacer.metrics.lateTicks.Inc()
			}
			s.serviceAll(now)
		case <-s.kick:
			s.serviceAll(time.Now())
		}
	}
}

func (s *pacerShard) serviceAll(t time.Time) {
	now := monotonic(t)
	s.mu.Lock()
	s.scratch = append(s.scratch[:0], s.playouts...)
	s.mu.Unlock()
	busy := 0
	for i, p := range s.scratch {
		if !p.service(now) {
			busy++
		}
		s.scratch[i] = nil
	}
	if busy > 0 {
		s.pacer.metrics.busy.Add(float64(busy))
	}
}

// Playout is one call's outbound audio queue, filled by the session and
// drained by the pacer in whole frames. Positions are byte offsets on the
// call's outbound timeline; audio removed by Clear is taken off it, so a
// position always means audio that was, or will be, played.
//
// Write, WriteShared, Mark and Clear carry a generation: Clear starts a new
// one, and audio from a turn cancelled by it (still in flight) is discarded
// instead of played.
//
// The queue takes what it is given, but a writer that waits for WaitRoom
// before each write keeps what it queues within the pacer's lead plus one
// MaxChunk (plus that write), however long its utterance: the rest waits
// in the synthesizer's stream. Audio given with WriteShared is queued by
// reference, not copied.
type Playout struct {
	shard      *pacerShard
	out        Output
	format     Format
	frameBytes int
	maxChunk   int
	lead       time.Duration
	holdLead   time.Duration // what a hold fills the far end to
	keepalive  time.Duration
	room       int // bytes: WaitRoom returns while less than this waits to be sent
	refill     int // bytes: a writer waiting in WaitRoom is woken below this
	index      int

	mu sync.Mutex
	// The unsent audio is runs[rhead:], in order. An owned run is the next
	// n bytes of buf[off:] (a copy the playout made); a shared run is a
	// read-only slice the writer handed over (WriteShared). buf is lent
	// by queueBufs in bufBox while it holds audio.
	gen          uint64
	buf          []byte
	bufBox       *[]byte
	off          int
	runs         []playoutRun
	rhead        int
	queued       int   // bytes in the runs: audio waiting to be sent
	base         int64 // timeline position of the first unsent byte
	marks        []playoutMark
	clearPending bool
	held         bool          // Hold: no audio is taken from the queue
	topUp        bool          // Hold: fill the far end to the hold's lead once first
	midUtterance bool          // audio was sent and no mark has closed it yet
	playEnd      time.Duration // when the far end will have played all that was sent (monotonic)
	nextPing     time.Duration // when the next keepalive is due (monotonic)
	// roomWait, when not nil, is closed once a writer in WaitRoom should look
	// again: the queue went below room, or the generation, the hold or the
	// playout's state changed. The shard only looks at it while a writer
	// waits, and never blocks on it.
	roomWait chan struct{}
	// wakeBelow is, while a writer waits, how many bytes left to send wake
	// it (WaitRoom's refill, or WaitBelow's bound).
	wakeBelow int
	err       error
	closed    bool

	failed   chan struct{}
	failOnce sync.Once

	// The agent's level, for the caller's voice detector (EchoReference).
	// loudest is the loudest frame written so far, in dBFS as float64
	// bits (writers raise it); audible says the far end may still be
	// playing what was sent, or sending its echo back (the shard sets it
	// each tick, from its own copy audibleNow).
	loudest    atomic.Uint64
	leveled    atomic.Int64 // bytes of audio loudest was measured on, up to levelBytes
	levelBytes int64        // levelBudget of audio in the playout's format
	audible    atomic.Bool
	audibleNow bool
	// echo keeps what was sent where the far end plays it, for the
	// caller's echo canceller (EchoAudio); nil until the reader first
	// asks, which it does only on a line that sends the agent's echo back.
	echo *echoRing
}

// levelBudget is how much of a call's audio is measured for its loudest
// level: a voice's level hardly changes within a call, and measuring all
// of it would cost every speaking call about 50 ns per 20 ms for nothing.
const levelBudget = 10 * time.Second

// echoTail is how long after the far end has played the last audio sent
// its echo may still come back: the return path's delay (the network and
// the far end's jitter buffer, each way), generously.
const echoTail = 500 * time.Millisecond

// EchoReference returns the level, in dBFS, of the loudest of the agent's
// audio that the caller's line may be sending back as echo now, or
// NoLevelDB when the far end has played nothing for echoTail: what
// vad.Detector.SetEchoReference takes. It is the loudest frame the call
// has written (of its first levelBudget: a voice's level hardly changes
// within a call), and costs two atomic loads: the reader asks it for
// every frame.
func (p *Playout) EchoReference() float64 {
	if !p.audible.Load() {
		return NoLevelDB
	}
	return math.Float64frombits(p.loudest.Load())
}

// EchoPosition returns the sample the far end plays now, on the pacer's
// clock at the playout's rate: where EchoAudio reads from.
func (p *Playout) EchoPosition() int64 {
	return samplesAt(monotonic(time.Now()), p.format.SampleRate)
}

// EchoAudio decodes into dst the agent's audio the far end plays from
// sample pos on (EchoPosition's clock), as the playout estimates it (the
// far end plays what it is sent as soon as it has played what it held):
// what an echo canceller subtracts from the caller's side once it has
// found the line's delay. Silence where nothing was sent, or nothing is
// kept (more than echoKept ago). The first call starts keeping what is
// sent from then on; before it the playout keeps nothing. It does not
// allocate after the first call.
func (p *Playout) EchoAudio(dst []int16, pos int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.echo == nil {
		p.echo = newEchoRing(p.format, samplesAt(monotonic(time.Now()), p.format.SampleRate))
	}
	p.echo.read(dst, pos)
}

// raiseLoudest records the level of audio written, while less than
// levelBudget of it has been measured.
func (p *Playout) raiseLoudest(audio []byte) {
	done := p.leveled.Load()
	if done >= p.levelBytes {
		return
	}
	audio = audio[:min(int64(len(audio)), p.levelBytes-done)]
	p.leveled.Add(int64(len(audio)))
	l := LoudestFrameDB(audio, p.format.Encoding, p.frameBytes)
	for {
		old := p.loudest.Load()
		if l <= math.Float64frombits(old) || p.loudest.CompareAndSwap(old, math.Float64bits(l)) {
			return
		}
	}
}

// playoutRun is a stretch of queued audio: n bytes of the playout's own
// buffer (shared nil) or the rest of a shared slice (n is its length).
type playoutRun struct {
	shared []byte
	n      int
}

type playoutMark struct {
	pos  int64
	name string
}

type playoutAction struct {
	clear bool
	n     int    // bytes of the shard's send buffer to send as one message
	mark  string // a mark to send after it
}

// Format returns the playout's audio format.
func (p *Playout) Format() Format { return p.format }

// Generation returns the current generation, to pass to Write and Mark.
func (p *Playout) Generation() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen
}

// Write queues a copy of audio (any length; frames are cut from it as it
// fills) and returns the timeline position of its end. ok is false when gen
// is stale or the playout is closed; the audio was dropped. Write never
// waits: a writer that must not queue more than it plays waits in WaitRoom
// first.
func (p *Playout) Write(gen uint64, audio []byte) (end int64, ok bool) {
	return p.write(gen, audio, false)
}

// WriteShared queues audio by reference, without copying it, and returns
// the timeline position of its end; ok is false when gen is stale or the
// playout is closed. audio must never be written again, by anyone: it is
// meant for bytes many calls share, such as a speech cache's, and the
// playout reads it until it has been sent or cleared.
func (p *Playout) WriteShared(gen uint64, audio []byte) (end int64, ok bool) {
	return p.write(gen, audio, true)
}

// write is Write, or WriteShared when shared.
func (p *Playout) write(gen uint64, audio []byte, shared bool) (end int64, ok bool) {
	p.raiseLoudest(audio) // outside the lock, on the writer's goroutine: not the pacer's work
	p.mu.Lock()
	if gen != p.gen || p.closed {
		p.mu.Unlock()
		return 0, false
	}
	idle := p.queued == 0
	switch {
	case !shared:
		copy(p.grow(len(audio)), audio)
	case len(audio) > 0:
		p.pushRun(playoutRun{shared: audio[:len(audio):len(audio)], n: len(audio)})
		p.queued += len(audio)
	}
	end = p.base + int64(p.queued)
	p.mu.Unlock()
	if idle {
		p.shard.wake()
	}
	return end, true
}

// writerAhead is how much audio beyond the lead a writer may queue before
// WaitRoom makes it wait, and twice how much must have been sent before it
// is woken: a writer refills half a second at a time (one wake-up, not
// five), and a writer woken late, on a loaded machine, still has half a
// second plus the lead in hand before the caller hears a gap. At 8 kHz
// G.711 it bounds a call's copied audio at about 10 KB, whatever the
// length of the reply.
const writerAhead = time.Second

// WaitRoom returns at once while less than the pacer's lead plus
// writerAhead waits to be sent; past that it waits until less than the
// lead plus half of writerAhead does, so that what the writer queues next
// keeps the queue bounded. It returns true then, and false as soon as gen
// is stale (a Clear or a Fence), the playout is closed or has failed, or
// ctx is done. While the playout is held it waits for Resume (or Clear).
func (p *Playout) WaitRoom(ctx context.Context, gen uint64) bool {
	return p.waitBelow(ctx, gen, p.room, p.refill)
}

// WaitBelow returns once less than d of audio waits to be sent: true then,
// and false as WaitRoom does. A writer about to start a synthesis that
// takes time to answer waits with it, so that it starts neither too late
// nor long before its audio is needed.
func (p *Playout) WaitBelow(ctx context.Context, gen uint64, d time.Duration) bool {
	n := p.format.BytesPer(d)
	return p.waitBelow(ctx, gen, n, n)
}

// waitBelow returns while less than room bytes wait to be sent; a writer
// that has to wait is woken once less than wake do (or when anything else
// changes: it looks again then).
func (p *Playout) waitBelow(ctx context.Context, gen uint64, room, wake int) bool {
	for {
		p.mu.Lock()
		if gen != p.gen || p.closed || p.err != nil {
			p.mu.Unlock()
			return false
		}
		if p.queued < room {
			p.mu.Unlock()
			return true
		}
		if p.roomWait == nil {
			p.roomWait = make(chan struct{})
		}
		p.wakeBelow = wake
		wait := p.roomWait
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return false
		}
	}
}

// wakeWriters releases writers waiting in WaitRoom to look again. Called
// with p.mu held.
func (p *Playout) wakeWriters() {
	if p.roomWait != nil {
		close(p.roomWait)
		p.roomWait = nil
	}
}

// grow adds n bytes to the end of the queue, in the playout's own buffer,
// and returns them to be filled. Called with p.mu held.
func (p *Playout) grow(n int) []byte {
	if n == 0 {
		return nil
	}
	if p.off > 0 && p.off >= len(p.buf)/2 {
		k := copy(p.buf, p.buf[p.off:])
		p.buf = p.buf[:k]
		p.off = 0
	}
	if p.buf == nil {
		p.bufBox = queueBufs.Get(max(n, p.maxChunk+p.frameBytes)) // grows to what the writer keeps queued
		p.buf = *p.bufBox
	}
	l := len(p.buf)
	p.buf = slices.Grow(p.buf, n)[:l+n]
	if last := len(p.runs) - 1; last >= p.rhead && p.runs[last].shared == nil {
		p.runs[last].n += n
	} else {
		p.pushRun(playoutRun{n: n})
	}
	p.queued += n
	return p.buf[l:]
}

// pushRun appends r to the runs. Called with p.mu held.
func (p *Playout) pushRun(r playoutRun) {
	if p.rhead > 0 && p.rhead >= len(p.runs)/2 {
		k := copy(p.runs, p.runs[p.rhead:])
		clear(p.runs[k:]) // no stale reference to shared audio
		p.runs = p.runs[:k]
		p.rhead = 0
	}
	p.runs = append(p.runs, r)
}

// take appends the next n queued bytes to dst and removes them from the
// queue. Called with p.mu held; n is at most p.queued.
func (p *Playout) take(dst []byte, n int) []byte {
	p.queued -= n
	for n > 0 {
		r := &p.runs[p.rhead]
		k := min(n, r.n)
		if r.shared != nil {
			dst = append(dst, r.shared[:k]...)
			r.shared = r.shared[k:]
		} else {
			dst = append(dst, p.buf[p.off:p.off+k]...)
			p.off += k
		}
		r.n -= k
		n -= k
		if r.n == 0 {
			r.shared = nil
			p.rhead++
		}
	}
	if p.rhead == len(p.runs) {
		p.runs, p.rhead = p.runs[:0], 0
	}
	if p.off == len(p.buf) {
		p.releaseBuf()
	}
	return dst
}

// queueBufs lends playouts their own queue's buffer while its audio waits
// to be sent. One grown past 8 KiB by a writer that queued far ahead (one
// that does not wait for room) is let go rather than lent to every call.
var queueBufs = BufferPool{Max: 8 << 10}

// releaseBuf gives the queue's buffer back, empty. Called with p.mu held.
func (p *Playout) releaseBuf() {
	if p.bufBox != nil {
		queueBufs.Put(p.bufBox, p.buf)
	}
	p.buf, p.bufBox, p.off = nil, nil, 0
}

// dropQueue empties the queue. Called with p.mu held.
func (p *Playout) dropQueue() {
	clear(p.runs) // no reference to shared audio is kept
	p.runs, p.rhead = p.runs[:0], 0
	p.releaseBuf()
	p.queued = 0
}

// Mark pads the queue to a whole frame with codec silence and places a mark
// there: it is sent right after the frame that ends at that position. It
// returns the mark's position.
func (p *Playout) Mark(gen uint64, name string) (pos int64, ok bool) {
	p.mu.Lock()
	if gen != p.gen || p.closed {
		p.mu.Unlock()
		return 0, false
	}
	if rem := p.queued % p.frameBytes; rem != 0 {
		p.format.Encoding.FillSilence(p.grow(p.frameBytes - rem))
	}
	pos = p.base + int64(p.queued)
	p.marks = append(p.marks, playoutMark{pos: pos, name: name})
	p.mu.Unlock()
	p.shard.wake()
	return pos, true
}

// Clear drops all audio not yet sent, asks the far end to stop playing and
// drop its queue, ends a Hold, and starts a new generation. It returns the position the
// caller had heard up to (estimated from what was sent and the lead still
// playing) and the new generation.
func (p *Playout) Clear() (played int64, gen uint64) {
	now := monotonic(time.Now())
	p.mu.Lock()
	played = p.playedLocked(now)
	if p.echo != nil {
		p.echo.truncate(samplesAt(now, p.format.SampleRate)) // what was queued at the far end never plays
	}
	p.dropQueue()
	p.base = played
	p.marks = p.marks[:0]
	p.playEnd = now
	p.clearPending = true
	p.held = false
	p.midUtterance = false
	p.gen++
	gen = p.gen
	p.wakeWriters()
	p.mu.Unlock()
	p.shard.wake()
	return played, gen
}

// Fence starts a new generation without dropping anything: audio still
// in flight from a turn that was cancelled before any of it was queued is
// discarded instead of played. It returns the new generation.
func (p *Playout) Fence() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.wakeWriters()
	return p.gen
}

// Hold stops sending: no more audio is taken from the queue, and what was
// sent already plays out at the far end (Played follows it). Keepalives
// still go, and so do marks whose audio was all sent. Writers may still
// queue, up to WaitRoom's bound. Resume goes on where it stopped; Clear
// ends the hold too. The pause is not counted as an underrun.
//
// Before it stops, the next tick (at once: Hold wakes the shard) tops the
// far end's queue up to the hold's lead (PacerConfig.HoldLead), whatever
// the chunk size, so that a decision has all of it to come without a gap;
// if the hold ends in a Clear, the clear drops that audio at the far end
// with the rest.
func (p *Playout) Hold() {
	p.mu.Lock()
	was := p.held
	p.held, p.topUp = true, !was
	p.midUtterance = false // what follows the hold is not a starved queue
	p.mu.Unlock()
	if !was {
		p.shard.wake()
	}
}

// Resume ends a Hold: sending goes on from where it stopped, with no gap
// at the far end if it comes while the audio sent before the hold still
// plays (within the hold's lead).
func (p *Playout) Resume() {
	p.mu.Lock()
	was := p.held
	p.held = false
	p.mu.Unlock()
	if was {
		p.shard.wake()
	}
}

// Held says whether the playout is held (Hold, with no Resume or Clear since).
func (p *Playout) Held() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// Played returns the timeline position the caller has heard up to, estimated.
func (p *Playout) Played() int64 {
	now := monotonic(time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.playedLocked(now)
}

// Queued returns how much audio waits to be sent.
func (p *Playout) Queued() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.format.Duration(p.queued)
}

func (p *Playout) playedLocked(now time.Duration) int64 {
	if ahead := p.playEnd - now; ahead > 0 {
		return max(p.base-int64(p.format.BytesPer(ahead)), 0)
	}
	return p.base
}

// Failed is closed when writing to the output failed; Err says why.
func (p *Playout) Failed() <-chan struct{} { return p.failed }

// Err returns the write error that failed the playout, if any.
func (p *Playout) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Close stops pacing this playout. Queued audio is dropped. It is idempotent.
func (p *Playout) Close() {
	p.mu.Lock()
	p.closed = true
	p.dropQueue()
	p.runs = nil
	p.wakeWriters()
	p.mu.Unlock()
	p.shard.remove(p)
}

// service runs on the shard goroutine: under the lock it decides what to send
// and copies it out; then it writes with no lock held. It returns false when
// the output was busy and the playout was passed over for this tick.
func (p *Playout) service(now time.Duration) bool {
	p.mu.Lock()
	if p.closed || p.err != nil {
		p.mu.Unlock()
		return true
	}
	if err := p.out.Ready(); err != nil {
		p.mu.Unlock()
		if errors.Is(err, ErrOutputBusy) {
			return false // still writing: nothing is taken from the queue, the clock keeps running
		}
		p.fail(err)
		return true
	}
	acts := p.shard.acts[:0]
	send := p.shard.send[:0]
	if p.clearPending {
		p.clearPending = false
		acts = append(acts, playoutAction{clear: true})
	}
	ping := now >= p.nextPing
	if ping {
		p.nextPing = now + p.keepalive
	}
	underrun := false
	for {
		// A mark whose audio has all been sent goes out now.
		if len(p.marks) > 0 && p.marks[0].pos <= p.base {
			if len(acts) > 0 && acts[len(acts)-1].mark == "" && !acts[len(acts)-1].clear {
				acts[len(acts)-1].mark = p.marks[0].name
			} else {
				acts = append(acts, playoutAction{mark: p.marks[0].name})
			}
			p.marks = p.marks[1:]
			if p.queued == 0 {
				p.midUtterance = false // all sent: a gap from here on is a pause, not a starved queue
			}
			continue
		}
		if p.held && !p.topUp {
			break
		}
		queued := p.queued / p.frameBytes * p.frameBytes
		if queued == 0 {
			break
		}
		// The next piece is up to a chunk, up to the next mark, up to what is
		// queued; it goes out once it fits within the lead.
		piece := min(queued, p.maxChunk)
		if len(p.marks) > 0 {
			piece = min(piece, int(p.marks[0].pos-p.base))
		}
		ahead := max(p.playEnd-now, 0)
		lead := p.lead
		if p.topUp {
			lead = p.holdLead
		}
		room := p.format.BytesPer(lead - ahead)
		if p.topUp && room > 0 {
			// Whole frames, rounded up: the far end holds at least the
			// hold's lead, at most a frame more.
			piece = min(piece, (room+p.frameBytes-1)/p.frameBytes*p.frameBytes)
			room = piece
		}
		if piece <= 0 || room < piece {
			break
		}
		n := piece
		if p.midUtterance && now-p.playEnd > FrameDuration {
			underrun = true
		}
		send = p.take(send, n)
		if p.echo != nil {
			p.echo.put(samplesAt(now+ahead, p.format.SampleRate), send[len(send)-n:])
		}
		acts = append(acts, playoutAction{n: n})
		p.base += int64(n)
		p.playEnd = now + ahead + p.format.Duration(n)
		p.midUtterance = true
	}
	if p.topUp {
		p.topUp = false
		p.midUtterance = false // the far end may run dry while held: not an underrun
	}
	if audible := now < p.playEnd+echoTail; audible != p.audibleNow {
		p.audibleNow = audible // stored only when it changes: the reader loads it every frame
		p.audible.Store(audible)
	}
	if p.roomWait != nil && p.queued < p.wakeBelow {
		p.wakeWriters() // only while a writer waits: nothing to do per frame otherwise
	}
	p.mu.Unlock()
	p.shard.acts, p.shard.send = acts, send

	var err error
	frames := 0
	off := 0
	for _, a := range acts {
		switch {
		case a.clear:
			err = p.out.WriteClear()
		case a.n > 0:
			err = p.out.WriteAudio(send[off : off+a.n])
			off += a.n
			frames += a.n / p.frameBytes
		}
		if err == nil && a.mark != "" {
			err = p.out.WriteMark(a.mark)
		}
		if err != nil {
			break
		}
	}
	if err == nil && ping {
		err = p.out.Keepalive()
	}
	if err == nil && (len(acts) > 0 || ping) {
		err = p.out.Flush()
	}
	m := &p.shard.pacer.metrics
	if frames > 0 {
		m.framesOut.Add(float64(frames))
	}
	if underrun {
		m.underruns.Inc()
	}
	if err != nil {
		p.fail(err)
	}
	return true
}

func (p *Playout) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.wakeWriters()
	p.mu.Unlock()
	p.failOnce.Do(func() { close(p.failed) })
}
