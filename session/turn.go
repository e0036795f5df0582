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
	events  chan<- turnEvent
	playout *media.Playout
	model   ChatModel
	synth   Synthesizer
	voice   string
	lang    string
	// tools answers lookup_customer and verify_caller; nil when the call
	// offers neither.
	tools *customerTools
}

func (w *turnWorker) send(ctx context.Context, ev turnEvent) bool {
	ev.turn = w.id
	select {
	case w.events <- ev:
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

// fixed feeds a fixed text's sentences to speak.
func fixed(ctx context.Context, text string, out chan<- string) {
	defer close(out)
	for _, s := range splitSentences(text) {
		select {
		case out <- s:
		case <-ctx.Done():
			return
		}
	}
}

// speak synthesizes each sentence and queues its audio. The first frame of the
// turn is followed by its start mark, the last by its end mark, so Telnyx's
// echoes tell when the caller began and finished hearing it. When the
// synthesizer fails, the rest of the turn is dropped (a reply with a hole in
// it misleads more than none) and the session falls back.
func (w *turnWorker) speak(ctx context.Context, in <-chan string) {
	frame := w.playout.Format().FrameBytes()
	buf := make([]byte, 4096)
	var head []byte // audio held until the turn's first whole frame
	started := false
	var pos int64
	queue := func(b []byte) bool {
		end, ok := w.playout.Write(w.gen, b)
		pos = end
		return ok
	}
	for text := range in {
		ttsStart := time.Now()
		rc, err := w.synth.Synthesize(ctx, ai.SpeechRequest{Text: text, Voice: w.voice, Language: w.lang, Format: w.playout.Format()})
		if err != nil {
			if ctx.Err() != nil || !w.send(ctx, turnEvent{kind: evSpeakError, err: err}) {
				return
			}
			break
		}
		var firstByte time.Time
		start := int64(-1)
		failed := false
		for {
			n, rerr := rc.Read(buf)
			data := buf[:n]
			if n > 0 && firstByte.IsZero() {
				firstByte = time.Now()
			}
			if n > 0 && !started {
				head = append(head, data...)
				data = nil
				if len(head) >= frame {
					if !queue(head[:frame]) {
						_ = rc.Close()
						return
					}
					start = pos - int64(frame)
					if _, ok := w.playout.Mark(w.gen, markName(w.id, "start")); !ok {
						_ = rc.Close()
						return
					}
					started = true
					w.send(ctx, turnEvent{kind: evFirstAudio, at: time.Now(), ttsStart: ttsStart, ttsFirstByte: firstByte})
					data = head[frame:]
				}
			}
			if len(data) > 0 {
				if start < 0 {
					start = pos
				}
				if !queue(data) {
					_ = rc.Close()
					return
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
		_ = rc.Close() // the stream is drained or broken; nothing left to report
		if ctx.Err() != nil {
			return
		}
		if failed {
			break // the part of the sentence that came is queued; no more
		}
		if start >= 0 {
			w.send(ctx, turnEvent{kind: evSentence, sentence: spokenSentence{text: text, start: start, end: pos}})
		}
	}
	if ctx.Err() != nil {
		return
	}
	if !started && len(head) > 0 { // a turn shorter than one frame
		if !queue(head) {
			return
		}
		w.send(ctx, turnEvent{kind: evFirstAudio, at: time.Now()})
		started = true
	}
	end := int64(-1)
	if started {
		p, ok := w.playout.Mark(w.gen, markName(w.id, "end"))
		if !ok {
			return
		}
		end = p
	}
	w.send(ctx, turnEvent{kind: evDone, endPos: end})
}
