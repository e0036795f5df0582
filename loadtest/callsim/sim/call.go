package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// phase is where a call's conversation stands.
type phase uint8

const (
	phaseGreeting phase = iota // waiting for the agent's first audio
	phaseListen                // the agent is talking; wait until it has finished
	phasePause                 // the caller thinks before its next line
	phaseSpeak                 // the caller's line is being sent
	phaseReply                 // waiting for the first audio of the reply
	phaseHangup                // script over; waiting for the server to close
	phaseDone
)

// step is one line of a call's script.
type step struct {
	clip    *clip
	bargeIn bool          // spoken over the previous reply...
	delay   time.Duration // ...this far into the agent's audio
	dtmf    bool          // press "1" just before it
}

// call is one simulated phone leg. Three goroutines touch it: the dialer that
// creates it, its reader (readLoop), and the shard that sends its frames every
// 20 ms and decides when it ends. Conversation state is guarded by mu and
// never held across I/O; writes to the connection are serialised by wmu,
// because gorilla allows one writer at a time.
type call struct {
	n     int
	cfg   *Config
	lib   *library
	col   *collector
	id    identity
	steps []step
	conn  wsConn
	rec   *recorder // nil unless this call's audio is saved
	echo  *echoLine // nil unless Config.EchoDB; guarded by mu

	// started and deadline are set by begin, before the reader and the
	// shard see the call, and only read after.
	started    time.Time // when the start frame was sent
	deadline   time.Time
	readerDone chan struct{}

	// seq numbers every frame sent after start (which is 1); the reader
	// and the shard both take numbers.
	seq atomic.Int64

	wmu  sync.Mutex
	wbuf []byte // guarded by wmu

	// Owned by the shard goroutine.
	rng        *rand.Rand
	chunk      int64
	noiseAt    int
	net        netem
	closed     bool // stop and close frame sent
	closedAt   time.Time
	writeErr   error
	writeErrAt time.Time
	sent       int // media frames written
	dropped    int
	dup        int
	swapped    int
	held       int

	mu sync.Mutex
	// Guarded by mu.
	play         playout
	ph           phase
	phaseAt      time.Time
	turn         int // the line being spoken or answered; -1 before the first
	frame        int // next frame of the line being spoken
	speechStart  time.Time
	speechEnd    time.Time
	pauseUntil   time.Time
	dtmfDue      bool
	talking      bool      // an agent utterance is in progress
	talkStart    time.Time // when its first message arrived
	maxSlack     time.Duration
	tailMark     bool // a mark at the end of the agent's audio was echoed, no audio since
	bargeChecked bool // the barge-in line's clear has been checked
	done         bool
	readClosed   bool // the reader saw the connection end
	res          CallResult
}

// newCall draws a call's plan and identity from its own random source.
func newCall(n int, cfg *Config, lib *library, col *collector, seed uint64) *call {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	c := &call{
		n: n, cfg: cfg, lib: lib, col: col, rng: rng,
		readerDone: make(chan struct{}),
		turn:       -1,
		wbuf:       make([]byte, 0, 512),
	}

	texts := append([]string(nil), cfg.Script...)
	c.res.Transfer = rng.Float64() < cfg.Transfer
	if c.res.Transfer {
		texts[len(texts)-1] = cfg.TransferText
	}
	for _, t := range texts {
		c.steps = append(c.steps, step{clip: lib.clips[t]})
	}
	// A barge-in line interrupts one reply, never the last (after it the
	// server hangs up), so it needs a script of two lines or more.
	if rng.Float64() < cfg.BargeIn && len(c.steps) >= 2 {
		k := rng.IntN(len(c.steps)-1) + 1
		delay := time.Duration(300+rng.IntN(201)) * time.Millisecond
		c.steps = slices.Insert(c.steps, k, step{clip: lib.clips[cfg.BargeInText], bargeIn: true, delay: delay})
	}
	if rng.Float64() < cfg.DTMF {
		var plain []int
		for i, s := range c.steps {
			if !s.bargeIn {
				plain = append(plain, i)
			}
		}
		c.steps[plain[rng.IntN(len(plain))]].dtmf = true
	}
	script := make([]string, len(c.steps))
	c.res.Turns = make([]Turn, len(c.steps))
	for i, s := range c.steps {
		script[i] = s.clip.text
		c.res.Turns[i] = Turn{Text: s.clip.text, BargeIn: s.bargeIn}
	}

	params := make(map[string]string, len(cfg.Params)+2)
	for k, v := range cfg.Params {
		params[k] = v
	}
	params["sim_script"] = joinScript(script)
	params["sim_call"] = fmt.Sprint(n)
	c.id = identity{
		streamID:      uuid(rng, true),
		userID:        uuid(rand.New(rand.NewPCG(seed, 0)), false), // one account per run
		callControlID: fmt.Sprintf("v3:sim-%d-%012x", n, rng.Uint64()&0xffffffffffff),
		callSessionID: uuid(rng, false),
		from:          fmt.Sprintf("+1555%07d", n%10_000_000),
		to:            cfg.To,
		clientState:   b64(fmt.Sprintf(`{"callsim":%d}`, n)),
		params:        params,
	}
	if cfg.CallControlID != "" {
		c.id.callControlID = NumberedID(cfg.CallControlID, n)
	}
	if cfg.From != "" {
		c.id.from = cfg.From
	}
	if len(lib.noise) > 0 {
		c.noiseAt = rng.IntN(len(lib.noise))
	}
	if cfg.EchoDB != 0 {
		c.echo = newEchoLine(cfg.EchoDB, cfg.EchoDelay, cfg.EchoHybrid)
	}
	c.res.N = n
	c.res.Slow = n <= cfg.Slow
	c.res.CallControlID = c.id.callControlID
	c.res.StreamID = c.id.streamID
	return c
}

// begin sends connected and start and arms the call's clocks.
func (c *call) begin(now time.Time) error {
	c.started = now
	c.deadline = now.Add(c.cfg.CallTimeout)
	c.phaseAt = now
	c.seq.Store(1)

	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(now.Add(writeTimeout))
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(connectedFrame)); err != nil {
		return err
	}
	c.wbuf = appendStart(c.wbuf[:0], &c.id)
	return c.conn.WriteMessage(websocket.TextMessage, c.wbuf)
}

// writeTimeout bounds every write; a server that stops reading fails the call.
const writeTimeout = 5 * time.Second

// ---- inbound events, called by the reader goroutine ----

// onMedia handles d of agent audio (pcm is its decoded samples, only needed
// when recording or echoing) arriving at now.
func (c *call) onMedia(now time.Time, d time.Duration, pcm []int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.res.MediaReceived++
	c.res.AudioReceived += d
	start, idle, gap := c.play.media(now, d)
	if c.rec != nil {
		c.rec.place(start.Sub(c.started), pcm)
	}
	if c.echo != nil {
		c.echo.place(start.Sub(c.started), pcm)
	}
	c.tailMark = false
	slack := start.Sub(now)
	if !c.talking {
		c.talking = true
		c.talkStart = now
		c.maxSlack = slack
	} else {
		if idle {
			c.res.Underruns++
			c.res.UnderrunTime += gap
		}
		// Jitter against the playout schedule: how much less buffered
		// audio this message found than the best-served message of the
		// utterance. A steady lead, or the lead being built up, is zero.
		c.maxSlack = max(c.maxSlack, slack)
		j := c.maxSlack - slack
		if !c.res.Slow {
			c.col.jitter.add(j)
		}
		c.res.JitterMax = max(c.res.JitterMax, j)
	}

	switch c.ph {
	case phaseGreeting:
		c.res.Greeting = true
		c.res.GreetingLatency = now.Sub(c.started)
		c.setPhase(phaseListen, now)
	case phaseReply:
		t := &c.res.Turns[c.turn]
		t.Answered = true
		t.ReplyLatency = now.Sub(c.speechEnd)
		if !c.res.Slow {
			c.col.reply.add(t.ReplyLatency)
		}
		c.setPhase(phaseListen, now)
	case phasePause, phaseHangup:
		// The agent had paused, not finished.
		c.setPhase(phaseListen, now)
	}
}

// onMark queues a mark arriving at now; it reports whether to echo it at once.
func (c *call) onMark(now time.Time, name string) (echoNow bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return false
	}
	c.res.MarksReceived++
	if !c.play.mark(now, name) {
		return false
	}
	c.res.MarksEchoed++
	c.endUtterance()
	return true
}

// onClear drops the playout queue and appends the marks to echo to dst.
func (c *call) onClear(now time.Time, dst []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return dst
	}
	c.res.Clears++
	n := len(dst)
	dst = c.play.clear(now, dst)
	c.res.MarksEchoed += len(dst) - n
	if c.rec != nil {
		c.rec.cut(now.Sub(c.started))
	}
	if c.echo != nil {
		c.echo.cut(now.Sub(c.started))
	}
	c.endUtterance()
	if c.turn >= 0 && c.steps[c.turn].bargeIn && (c.ph == phaseSpeak || c.ph == phaseReply) &&
		!c.res.Turns[c.turn].Cleared && !c.speechStart.IsZero() {
		t := &c.res.Turns[c.turn]
		t.Cleared = true
		t.BargeInLatency = now.Sub(c.speechStart)
		return dst
	}
	c.noteLocked("unexpected_clear")
	return dst
}

// onNote counts a non-fatal observation of the reader.
func (c *call) onNote(kind string) {
	c.mu.Lock()
	c.noteLocked(kind)
	c.mu.Unlock()
}

// onReadEnd classifies the end of the server's side of the connection.
func (c *call) onReadEnd(now time.Time, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readClosed = true
	if c.done {
		return
	}
	var ce *websocket.CloseError
	closed := asCloseError(err, &ce)
	switch {
	case closed && c.conversationOver():
		if ce.Code != websocket.CloseNormalClosure && ce.Code != websocket.CloseGoingAway {
			c.noteLocked("close_abnormal")
		}
		c.finishLocked(now, OutcomeCompleted, EndedByServer, "", "")
	case closed:
		c.finishLocked(now, OutcomeFailed, EndedByServer, ErrServerClosed,
			fmt.Sprintf("close %d %q during line %d (%s)", ce.Code, ce.Text, c.turn+1, c.phaseName()))
	case c.conversationOver():
		// A TCP reset right after the last reply is as good as a close.
		c.noteLocked("close_abnormal")
		c.finishLocked(now, OutcomeCompleted, EndedByServer, "", "")
	default:
		c.finishLocked(now, OutcomeFailed, EndedByServer, ErrReadError, err.Error())
	}
}

// ---- the shard's side ----

// tickOut is what one tick decided to send, filled under mu and written after.
type tickOut struct {
	marks   []string
	payload string
	dtmf    bool
	done    bool
	stop    bool // send stop before closing
}

// tick advances the conversation to now and says what to send.
func (c *call) tick(now time.Time, out *tickOut) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var atTail bool
	out.marks, atTail = c.play.due(now, out.marks[:0])
	c.res.MarksEchoed += len(out.marks)
	if atTail {
		c.endUtterance()
	}
	if !c.done {
		c.advance(now)
	}
	out.done = c.done
	out.stop = c.done && !c.readClosed
	if c.done {
		out.marks = out.marks[:0]
		return
	}
	out.payload = c.nextPayload(now)
	if c.echo != nil {
		out.payload = c.echo.next(now.Sub(c.started), out.payload)
	}
	out.dtmf, c.dtmfDue = c.dtmfDue, false
}

// advance runs the conversation's timers.
func (c *call) advance(now time.Time) {
	if now.After(c.deadline) {
		c.finishLocked(now, OutcomeFailed, EndedByCaller, ErrCallTimeout, fmt.Sprintf("still %s after %v", c.phaseName(), c.cfg.CallTimeout))
		return
	}
	if c.talking && c.agentDone(now) {
		c.talking = false // ended by silence rather than a mark
	}
	c.checkBargeIn(now)
	next := c.turn + 1
	switch c.ph {
	case phaseGreeting:
		if now.Sub(c.phaseAt) >= c.cfg.GreetingTimeout {
			c.finishLocked(now, OutcomeFailed, EndedByCaller, ErrNoGreeting, fmt.Sprintf("no audio %v after start", c.cfg.GreetingTimeout))
		}
	case phaseListen:
		if next < len(c.steps) && c.steps[next].bargeIn && c.talking && now.Sub(c.talkStart) >= c.steps[next].delay {
			c.startLine(now, next)
			return
		}
		if !c.agentDone(now) {
			return
		}
		if next >= len(c.steps) {
			c.setPhase(phaseHangup, now)
			return
		}
		if c.steps[next].bargeIn {
			// The reply ended before the barge-in point: say it anyway.
			c.res.Turns[next].BargeInMissed = true
			c.noteLocked("bargein_missed")
		}
		jitter := time.Duration(c.rng.Int64N(int64(c.cfg.Pause)/2+1)) - c.cfg.Pause/4
		c.pauseUntil = now.Add(c.cfg.Pause + jitter)
		c.setPhase(phasePause, now)
	case phasePause:
		if now.Before(c.pauseUntil) {
			return
		}
		if c.steps[next].dtmf && !c.res.Turns[next].DTMF { // not pressed yet
			// Press the key, then speak a little later, as a person would.
			c.res.Turns[next].DTMF = true
			c.dtmfDue = true
			c.pauseUntil = now.Add(300 * time.Millisecond)
			return
		}
		c.startLine(now, next)
	case phaseReply:
		if now.Sub(c.speechEnd) >= c.cfg.ReplyTimeout {
			c.finishLocked(now, OutcomeFailed, EndedByCaller, ErrNoReply,
				fmt.Sprintf("no audio %v after line %d %q", c.cfg.ReplyTimeout, c.turn+1, c.steps[c.turn].clip.text))
		}
	case phaseHangup:
		if now.Sub(c.phaseAt) >= c.cfg.HangupWait {
			c.finishLocked(now, OutcomeCompleted, EndedByCaller, "", "")
		}
	}
}

// checkBargeIn fails a barge-in line that the agent talked through for
// BargeInTimeout without a clear. If the agent finished its reply by itself
// before then, the server may simply have been slower than the reply was
// long: that is only noted.
func (c *call) checkBargeIn(now time.Time) {
	if c.turn < 0 || !c.steps[c.turn].bargeIn || c.bargeChecked || c.speechStart.IsZero() {
		return
	}
	t := &c.res.Turns[c.turn]
	if t.BargeInMissed || t.Cleared {
		c.bargeChecked = true
		return
	}
	if now.Sub(c.speechStart) < c.cfg.BargeInTimeout {
		return
	}
	c.bargeChecked = true
	if c.play.busy(now) {
		c.finishLocked(now, OutcomeFailed, EndedByCaller, ErrBargeInNoClear,
			fmt.Sprintf("agent kept talking through %v of caller speech", now.Sub(c.speechStart)))
		return
	}
	c.noteLocked("bargein_reply_ended")
}

// agentDone reports whether the agent's audio has played out and the turn is
// over: at once after a mark at its end (or a clear), else after Quiet.
func (c *call) agentDone(now time.Time) bool {
	if c.play.busy(now) {
		return false
	}
	return c.tailMark || now.Sub(c.play.end) >= c.cfg.Quiet
}

// endUtterance records that the agent's audio ended at a mark or a clear.
func (c *call) endUtterance() {
	c.talking = false
	c.tailMark = true
}

func (c *call) startLine(now time.Time, i int) {
	c.turn = i
	c.frame = 0
	c.speechStart = time.Time{}
	c.setPhase(phaseSpeak, now)
}

// nextPayload returns the frame to send at now: the line being spoken, or
// silence (background noise with -noise) between lines.
func (c *call) nextPayload(now time.Time) string {
	if c.ph != phaseSpeak {
		if len(c.lib.noise) > 0 {
			c.noiseAt = (c.noiseAt + 1) % len(c.lib.noise)
			return c.lib.noise[c.noiseAt]
		}
		return c.lib.silence
	}
	frames := c.steps[c.turn].clip.frames
	if c.frame == 0 {
		c.speechStart = now
	}
	p := frames[c.frame]
	c.frame++
	if c.frame == len(frames) {
		c.speechEnd = now
		c.res.Turns[c.turn].Spoken = true
		c.setPhase(phaseReply, now)
	}
	return p
}

// conversationOver reports whether the caller has said its last line.
func (c *call) conversationOver() bool {
	return c.turn == len(c.steps)-1 && c.res.Turns[c.turn].Spoken
}

// abort ends the call because the run is over.
func (c *call) abort(now time.Time, why string) {
	c.mu.Lock()
	c.finishLocked(now, OutcomeAborted, EndedByCaller, ErrAborted, why)
	c.mu.Unlock()
}

// fail ends the call with a failure decided outside mu.
func (c *call) fail(now time.Time, kind, detail string) {
	c.mu.Lock()
	c.finishLocked(now, OutcomeFailed, EndedByCaller, kind, detail)
	c.mu.Unlock()
}

// finishLocked decides how the call ended; the first decision stands.
func (c *call) finishLocked(now time.Time, o Outcome, by, kind, detail string) {
	if c.done {
		return
	}
	c.done = true
	c.ph = phaseDone
	c.res.Outcome = o
	c.res.EndedBy = by
	c.res.Error = kind
	c.res.Detail = detail
	if !c.started.IsZero() {
		c.res.Duration = now.Sub(c.started)
	}
}

func (c *call) setPhase(p phase, now time.Time) {
	c.ph = p
	c.phaseAt = now
}

func (c *call) noteLocked(kind string) {
	if c.res.Notes == nil {
		c.res.Notes = make(map[string]int)
	}
	c.res.Notes[kind]++
}

func (c *call) phaseName() string {
	return [...]string{"waiting for the greeting", "listening", "pausing", "speaking", "waiting for a reply", "waiting for hang-up", "done"}[c.ph]
}

// result returns the call's record. The shard calls it when it reaps the
// call, after the reader has exited.
func (c *call) result() CallResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.res
	r.FramesSent, r.FramesDropped, r.FramesDup, r.FramesSwapped, r.FramesHeld = c.sent, c.dropped, c.dup, c.swapped, c.held
	return r
}
