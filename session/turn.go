package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
	"github.com/iace/iace/store"
)

// A turn is one thing the agent says: the greeting, a reply or the holding
// phrase. Its text comes from the chat model (or is fixed), is cut into
// sentences, and each sentence is synthesized and queued for playout while
// the model writes the next. Two goroutines do that work; they only send
// turnEvents to the session, which alone owns the turn's state.
type turn struct {
	id          int
	seq         int    // its place in the transcript, if the caller hears it (LiveEvent.Turn)
	kind        string // turnGreeting, turnReply, turnHolding
	cancel      context.CancelFunc
	gen         uint64
	answers     bool // answers a caller utterance: its first audio ends a reply-latency measurement
	audio       bool // first audio queued
	generated   bool // all audio queued
	failed      bool // the model failed
	speakFailed bool // the synthesizer failed; the rest of the turn was dropped
	sentences   []spokenSentence
	action      ai.ToolCall // end_call or transfer_to_human, carried out once the reply has played
	giveUp      bool        // a holding turn after which the call ends: providers failed for good
	// escalation is why action hands the call to a human, when it does.
	escalation store.EscalationReason
	cleared    bool
	startedAt  time.Time
	// replyLatency: end of the caller's speech to this turn's first audio,
	// and latency its split, for a reply whose timing is known.
	replyLatency time.Duration
	latency      *TurnLatency
	timing       replyTiming
	firstToken   time.Time
	span         trace.Span
}

// committed: the turn leads to a transfer or a hang-up the call's side
// decided (a provider failed, an escalation rule fired), so nothing the
// caller says over it changes what follows. It plays to its end: an
// interruption would drop its action, and with the transcriber lost
// nothing would hear the caller anyway.
func (t *turn) committed() bool {
	switch t.kind {
	case turnHandoff:
		return true
	case turnHolding:
		return t.action.Name != "" || t.giveUp
	}
	return false
}

// Turn kinds, the iace.turn.kind span attribute.
const (
	turnGreeting = "greeting"
	turnReply    = "reply"
	turnHolding  = "holding"
	turnHandoff  = "handoff"
	turnReprompt = "reprompt"
)

type spokenSentence struct {
	text       string
	start, end int64 // timeline positions of its audio
}

type turnEventKind uint8

const (
	evFirstAudio turnEventKind = iota + 1
	evFirstToken
	evSentence
	evToolCall
	evThinkError
	evSpeakError
	evDone
)

// turnQueue is how many events a turn's worker may send ahead of the run
// loop before its send waits: a reply sends a few per sentence. Every call
// keeps the buffer, so it is small.
const turnQueue = 8

type turnEvent struct {
	turn     int
	kind     turnEventKind
	sentence spokenSentence
	tool     ai.ToolCall
	err      error
	endPos   int64
	at       time.Time
	// ttsStart and ttsFirstByte, on evFirstAudio: when the sentence that
	// gave the first audio went to the synthesizer and its first byte came.
	ttsStart, ttsFirstByte time.Time
}

func markName(turn int, what string) string { return fmt.Sprintf("t%d-%s", turn, what) }

// parseMark reads a mark name written by markName.
func parseMark(name string) (turn int, what string, ok bool) {
	var n int
	var rest string
	if _, err := fmt.Sscanf(name, "t%d-%s", &n, &rest); err != nil {
		return 0, "", false
	}
	return n, rest, rest == "start" || rest == "end"
}

// turnWorker holds what a turn's goroutines need. It is copied to them; none
// of it is session state.
type turnWorker struct {
	id      int
	gen     uint64
	events  chan<- *turnEvent
	playout *media.Playout
	model   ChatModel
	synth   Synthesizer
	voice   string
	lang    string
	// tools answers lookup_customer and verify_caller; nil when the call
	// offers neither.
	tools *customerTools
}

// send hands ev to the run loop. The queue holds pointers: its buffer, and
// run's frame as it waits on it, stay small in every call, for a few
// allocations a reply.
func (w *turnWorker) send(ctx context.Context, ev turnEvent) bool {
	ev.turn = w.id
	select {
	case w.events <- &ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// think streams the model's answer, cuts it into sentences for speak and
// reports tool calls. It closes out when done.
func (w *turnWorker) think(ctx context.Context, req ai.ChatRequest, out chan<- string) {
	defer close(out)
	var split sentenceSplitter
	first := true
	for round := 0; ; round++ {
		calls, ok := w.stream(ctx, req, &split, &first, out)
		if !ok {
			return
		}
		if len(calls) == 0 || w.tools == nil || round == maxToolRounds {
			break
		}
		// The model asked who is calling, or checked the caller's answer:
		// answer, in the order asked, and let it go on. This is a new
		// request with the answers, not a resend of what was spoken.
		msgs := make([]ai.Message, 0, len(req.Messages)+1+len(calls))
		msgs = append(msgs, req.Messages...)
		msgs = append(msgs, ai.Message{Role: ai.RoleAssistant, ToolCalls: calls})
		for _, tc := range calls {
			msgs = append(msgs, ai.Message{Role: ai.RoleTool, ToolCallID: tc.ID, Content: w.tools.answer(ctx, tc)})
		}
		req.Messages = msgs
	}
	if last := split.flush(); last != "" {
		select {
		case out <- last:
		case <-ctx.Done():
		}
	}
}

// stream runs one chat request: its sentences go to out, its session tools
// to the session; it returns the customer tool calls the model made
// (lookup_customer, verify_caller), and false when the turn is over
// (failed or cancelled).
func (w *turnWorker) stream(ctx context.Context, req ai.ChatRequest, split *sentenceSplitter, first *bool, out chan<- string) ([]ai.ToolCall, bool) {
	stream, err := w.model.Chat(ctx, req)
	if err != nil {
		w.send(ctx, turnEvent{kind: evThinkError, err: err})
		return nil, false
	}
	defer func() { _ = stream.Close() }() // the answer is complete or abandoned; nothing to report
	var (
		sentences []string
		calls     []ai.ToolCall
	)
	for {
		d, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return calls, true
		}
		if err != nil {
			w.send(ctx, turnEvent{kind: evThinkError, err: err})
			return nil, false
		}
		if *first && (d.Text != "" || len(d.ToolCalls) > 0) {
			*first = false
			if !w.send(ctx, turnEvent{kind: evFirstToken, at: time.Now()}) {
				return nil, false
			}
		}
		for _, tc := range d.ToolCalls {
			if tc.Name == toolLookup || tc.Name == toolVerify {
				calls = append(calls, tc)
				continue
			}
			if !w.send(ctx, turnEvent{kind: evToolCall, tool: tc}) {
				return nil, false
			}
		}
		sentences = split.push(d.Text, sentences[:0])
		for _, s := range sentences {
			select {
			case out <- s:
			case <-ctx.Done():
				return nil, false
			}
		}
	}
}

// fixed returns a fixed text's sentences as speak reads them: all queued
// and the channel closed, so that no goroutine waits to feed it while the
// text plays (a greeting of a minute and a half would keep one, and its
// stack, for every call).
func fixed(text string) <-chan string {
	sentences := splitSentences(text)
	out := make(chan string, len(sentences))
	for _, s := range sentences {
		out <- s
	}
	close(out)
	return out
}

// speakReadBytes is the most one read of a synthesis stream takes (128 ms
// of PCMU). speak waits for room on the playout before each read, so a
// turn never has more queued than the pacer's lead, one chunk and one read,
// however long it speaks: the rest waits in the synthesizer's stream.
const speakReadBytes = 1024

// synthAhead is how much queued audio a synthesis that was held back (it
// follows cached audio) is started before: time for a provider's first
// byte, with a margin, but not a stream left unread while a long cached
// greeting plays.
const synthAhead = 3 * time.Second

// speechPerTextByte is about how long a byte of text takes to say: a
// sentence's end is estimated from it until its audio is all queued.
const speechPerTextByte = 60 * time.Millisecond

// speak synthesizes each sentence and queues its audio through an
// utteranceWriter, which places the turn's marks, so Telnyx's echoes tell
// when the caller began and finished hearing it. It reads a stream only as
// fast as it plays (Playout.WaitRoom), and queues audio shared by many
// calls (a speech cache's, ai.SharedSpeech) by reference as soon as it has
// it: shared audio costs the call no memory, and a turn of cached sentences
// ends this goroutine once it is queued rather than when it has played. The
// next sentence's synthesis starts while the one before is synthesized or
// read, so that it is ready in time; after a cached sentence, once less
// than synthAhead is queued (a synthesis is not left unread for as long as
// a cached greeting plays). When the
// synthesizer fails, the rest of the turn is dropped (a reply with a hole
// in it misleads more than none) and the session falls back.
func (w *turnWorker) speak(ctx context.Context, in <-chan string) {
	u := &utteranceWriter{out: w.playout, gen: w.gen, turn: w.id, frame: w.playout.Format().FrameBytes()}
	var buf []byte    // made at the first stream read: cached speech needs none
	var ahead *speech // the next sentence, taken while this one plays
	defer func() {
		if ahead != nil {
			ahead.discard()
		}
	}()
	more := true // in is open
	// prefetch takes the next sentence if there is one. Cached speech is
	// ready at once; other speech starts synthesizing now when early is set
	// (while a synthesis is read), or else once what is queued runs low.
	prefetch := func(early bool) {
		if ahead != nil || !more {
			return
		}
		select {
		case text, ok := <-in:
			if !ok {
				more = false
				return
			}
			ahead = w.open(ctx, text, early)
		default:
		}
	}
	for {
		cur := ahead
		ahead = nil
		if cur == nil {
			if !more {
				break
			}
			text, ok := <-in
			if !ok {
				break
			}
			cur = w.open(ctx, text, false)
		}
		if cur.done == nil { // not cached and not started: start it once the queue runs low
			if !w.playout.WaitBelow(ctx, w.gen, synthAhead) {
				return
			}
			w.start(ctx, cur)
		}
		<-cur.done
		if cur.err != nil {
			if ctx.Err() != nil || !w.send(ctx, turnEvent{kind: evSpeakError, err: cur.err}) {
				return
			}
			break
		}
		shared, _ := cur.rc.(ai.SharedSpeech)
		var firstByte time.Time
		start := int64(-1) // where the sentence's audio begins on the timeline
		failed := false
		for {
			prefetch(!cur.cached)
			var (
				b    []byte
				rerr error
			)
			if shared != nil {
				// Shared audio costs the call no memory: it is queued as it
				// comes, without waiting for room, and a turn of cached
				// speech ends its goroutine once it is all queued.
				if ctx.Err() != nil {
					_ = cur.rc.Close()
					return
				}
				b, rerr = shared.ReadShared()
			} else {
				if !u.wait(ctx) { // a clear, or the turn or the call is over
					_ = cur.rc.Close()
					return
				}
				if buf == nil {
					buf = make([]byte, speakReadBytes)
				}
				var n int
				n, rerr = cur.rc.Read(buf)
				b = buf[:n]
			}
			if len(b) > 0 {
				if firstByte.IsZero() {
					firstByte = time.Now()
				}
				at, first, ok := u.write(b, shared != nil)
				if !ok {
					_ = cur.rc.Close()
					return
				}
				if first {
					w.send(ctx, turnEvent{kind: evFirstAudio, at: time.Now(), ttsStart: cur.start, ttsFirstByte: firstByte})
				}
				if start < 0 && at >= 0 {
					// Its audio is queued as it plays, so the sentence is
					// told now, with its end estimated (a barge-in may cut
					// it before its end is known), and again at its end.
					start = at
					est := start + int64(w.playout.Format().BytesPer(time.Duration(len(cur.text))*speechPerTextByte))
					w.send(ctx, turnEvent{kind: evSentence, sentence: spokenSentence{text: cur.text, start: start, end: max(est, u.pos)}})
				}
			}
			if rerr != nil {
				if !errors.Is(rerr, io.EOF) && ctx.Err() == nil {
					w.send(ctx, turnEvent{kind: evSpeakError, err: rerr})
					failed = true
				}
				break
			}
		}
		_ = cur.rc.Close() // the stream is drained or broken; nothing left to report
		if ctx.Err() != nil {
			return
		}
		if failed {
			break // the part of the sentence that came is queued; no more
		}
		if start >= 0 {
			w.send(ctx, turnEvent{kind: evSentence, sentence: spokenSentence{text: cur.text, start: start, end: u.pos}})
		}
	}
	if ctx.Err() != nil {
		return
	}
	end, first, ok := u.end()
	if !ok {
		return
	}
	if first { // a turn shorter than one frame
		w.send(ctx, turnEvent{kind: evFirstAudio, at: time.Now()})
	}
	w.send(ctx, turnEvent{kind: evDone, endPos: end})
}

// speech is one sentence's synthesis, started on a goroutine of its own so
// that it runs while the sentence before it plays; done is closed when rc
// and err are set, and is nil while the synthesis has not been started.
type speech struct {
	text   string
	start  time.Time
	done   chan struct{}
	rc     io.ReadCloser
	err    error
	cached bool // rc is audio the synthesizer held (speechLookup): all at hand
}

// ready is the done of a speech whose audio was at hand.
var ready = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// open returns text's speech: the cached audio when the synthesizer holds
// it, else a synthesis, started now if start is set.
func (w *turnWorker) open(ctx context.Context, text string, start bool) *speech {
	req := w.request(text)
	if l, ok := w.synth.(speechLookup); ok {
		if rc, ok := l.Lookup(req); ok {
			return &speech{text: text, start: time.Now(), done: ready, rc: rc, cached: true}
		}
	}
	s := &speech{text: text}
	if start {
		w.start(ctx, s)
	}
	return s
}

func (w *turnWorker) request(text string) ai.SpeechRequest {
	return ai.SpeechRequest{Text: text, Voice: w.voice, Language: w.lang, Format: w.playout.Format()}
}

// start starts synthesizing s.
func (w *turnWorker) start(ctx context.Context, s *speech) {
	s.start, s.done = time.Now(), make(chan struct{})
	req := w.request(s.text)
	go func() { // ends when Synthesize returns; speak waits for it (discard)
		defer close(s.done)
		s.rc, s.err = w.synth.Synthesize(ctx, req)
	}()
}

// discard waits for a synthesis that will not be played and closes it.
func (s *speech) discard() {
	if s.done == nil {
		return // never started
	}
	<-s.done
	if s.rc != nil {
		_ = s.rc.Close() // never read: nothing to report
	}
}

// utterancePlayout is what an utteranceWriter writes to (*media.Playout).
type utterancePlayout interface {
	Write(gen uint64, audio []byte) (end int64, ok bool)
	WriteShared(gen uint64, audio []byte) (end int64, ok bool)
	Mark(gen uint64, name string) (pos int64, ok bool)
	WaitRoom(ctx context.Context, gen uint64) bool
}

// utteranceWriter queues one turn's audio on the call's playout: the
// audio is held until it makes a whole frame, which goes out followed by
// the turn's start mark; the rest is queued as it comes; end places the
// end mark after the last of it. Every method reports false once the
// playout refuses (a clear started a new generation, or the call ended):
// the turn is over. One goroutine uses it.
type utteranceWriter struct {
	out     utterancePlayout
	gen     uint64
	turn    int // the turn's id, in its marks' names
	frame   int // bytes of one frame
	head    []byte
	started bool  // the first frame and the start mark are queued
	pos     int64 // the timeline position after the audio queued
}

// wait waits until the playout has room for the next read (WaitRoom);
// false: the turn is over.
func (u *utteranceWriter) wait(ctx context.Context) bool { return u.out.WaitRoom(ctx, u.gen) }

// write queues b: a copy of it, or b itself when shared (read-only bytes
// other calls play too, queued by reference). It returns where b's audio
// begins on the timeline (-1 while it is held for the turn's first whole
// frame) and whether it completed that first frame (the reply's first
// audio).
func (u *utteranceWriter) write(b []byte, shared bool) (at int64, first, ok bool) {
	if u.started {
		at = u.pos
		if shared {
			return at, false, u.queueShared(b)
		}
		return at, false, u.queue(b)
	}
	if shared {
		// The first frame is copied, to be held with what came before it;
		// the rest is queued by reference.
		need := min(u.frame-len(u.head), len(b))
		if at, first, ok = u.write(b[:need], false); !ok || need == len(b) {
			return at, first, ok
		}
		return at, first, u.queueShared(b[need:])
	}
	u.head = append(u.head, b...)
	if len(u.head) < u.frame {
		return -1, false, true
	}
	if !u.queue(u.head[:u.frame]) {
		return -1, false, false
	}
	at = u.pos - int64(u.frame)
	if _, ok := u.out.Mark(u.gen, markName(u.turn, "start")); !ok {
		return -1, false, false
	}
	u.started = true
	rest := u.head[u.frame:]
	u.head = nil
	if len(rest) > 0 && !u.queue(rest) {
		return -1, false, false
	}
	return at, true, true
}

// end queues what is held (a turn shorter than one frame: first is true
// then, and it has no start mark) and places the end mark; end is its
// position, -1 for a turn that had no audio.
func (u *utteranceWriter) end() (end int64, first, ok bool) {
	if !u.started && len(u.head) > 0 {
		if !u.queue(u.head) {
			return -1, false, false
		}
		u.head, u.started, first = nil, true, true
	}
	if !u.started {
		return -1, false, true
	}
	p, ok := u.out.Mark(u.gen, markName(u.turn, "end"))
	if !ok {
		return -1, false, false
	}
	return p, first, true
}

func (u *utteranceWriter) queue(b []byte) bool {
	end, ok := u.out.Write(u.gen, b)
	u.pos = end
	return ok
}

func (u *utteranceWriter) queueShared(b []byte) bool {
	end, ok := u.out.WriteShared(u.gen, b)
	u.pos = end
	return ok
}

// String describes the writer for logs and test failures.
func (u *utteranceWriter) String() string {
	return fmt.Sprintf("turn %d gen %d: started %v, %d bytes held, at %d", u.turn, u.gen, u.started, len(u.head), u.pos)
}
