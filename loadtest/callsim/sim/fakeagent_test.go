package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iace/iace/media"
)

// agentConn is the server side of a media stream, a gorilla connection or an
// in-memory pipe end.
type agentConn interface {
	ReadMessage() (int, []byte, error)
	WriteMessage(int, []byte) error
	WriteControl(int, []byte, time.Time) error
	Close() error
}

// fakeAgent is a tiny stand-in for the IACE server: it greets with a tone,
// detects the end of each caller utterance by energy and answers it with a
// tone, sends clear when the caller speaks over it for 600 ms, and hangs up
// after answering goodbye or a request for a human. It paces its audio like
// the real server: chunks of whole frames, a 200 ms lead, a mark after the
// first and after the last chunk of each utterance. It also checks the
// caller's frames against docs/protocols/telnyx.md and records what it saw.
type fakeAgent struct {
	Greeting    time.Duration // default 1 s
	Reply       time.Duration // default 2 s
	Bye         time.Duration // default 600 ms
	ReplyDelay  time.Duration // think time after the end of speech, default 200 ms
	Lead        time.Duration // default 200 ms
	Chunk       int           // frames per media message, default 5
	NoGreeting  bool
	IgnoreBarge bool
	// HangUpEarly hangs up as soon as the goodbye is sent, not when it has
	// played.
	HangUpEarly bool
	// CloseAfter, when > 0, closes the socket right after that many utterances.
	CloseAfter int

	mu    sync.Mutex
	calls []*agentCall
}

// agentCall is what the agent saw on one stream.
type agentCall struct {
	Script      []string
	Heard       []string // transcripts, in order
	DTMF        []string
	Marks       map[string]time.Time // echo arrival by name
	MarkSent    map[string]time.Time // our mark by name, when its audio ended
	Clears      int
	StopSeen    bool
	Problems    []string
	Frames      int
	LastSeq     int64
	OutOfOrder  int
	HungUp      bool
	ConnectedOK bool
}

func (a *fakeAgent) defaults() {
	if a.Greeting == 0 {
		a.Greeting = time.Second
	}
	if a.Reply == 0 {
		a.Reply = 2 * time.Second
	}
	if a.Bye == 0 {
		a.Bye = 600 * time.Millisecond
	}
	if a.ReplyDelay == 0 {
		a.ReplyDelay = 200 * time.Millisecond
	}
	if a.Lead == 0 {
		a.Lead = 200 * time.Millisecond
	}
	if a.Chunk == 0 {
		a.Chunk = 5
	}
}

func (a *fakeAgent) seen() []*agentCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*agentCall(nil), a.calls...)
}

// utterance is one thing the agent says.
type utterance struct {
	name  string
	dur   time.Duration
	delay time.Duration
	close bool // hang up when its end mark comes back
}

// agentVAD thresholds: mean absolute sample value of a voiced frame, frames of
// silence that end an utterance, frames of speech that interrupt the agent.
const (
	vadVoiced    = 150
	vadEndFrames = 15 // 300 ms
	vadBarge     = 30 // 600 ms
)

// serve runs one stream until the connection ends.
func (a *fakeAgent) serve(conn agentConn) {
	ac := &agentCall{Marks: map[string]time.Time{}, MarkSent: map[string]time.Time{}}
	a.mu.Lock()
	a.defaults()
	a.calls = append(a.calls, ac)
	a.mu.Unlock()

	var (
		wmu       sync.Mutex // serialises writes; guards the fields below
		gen       int        // bumped by clear: the talker drops stale audio
		playing   bool       // audio sent and its end mark not yet echoed
		closeMark string     // hang up when this mark comes back
		hung      bool
	)
	problem := func(format string, args ...any) {
		wmu.Lock()
		ac.Problems = append(ac.Problems, fmt.Sprintf(format, args...))
		wmu.Unlock()
	}
	say := make(chan utterance, 16)
	done := make(chan struct{})
	var talker sync.WaitGroup
	defer talker.Wait()
	defer close(done)

	tone := func(n int) string {
		raw := make([]byte, n*frameBytes)
		pcm := make([]int16, len(raw))
		for i := range pcm {
			pcm[i] = int16(6000 * math.Sin(2*math.Pi*440*float64(i)/sampleRate))
		}
		media.EncodeULawTo(raw, pcm)
		return base64.StdEncoding.EncodeToString(raw)
	}
	chunkPayload := tone(a.Chunk)

	// send writes msg unless a clear happened since the talker took g.
	send := func(g int, msg string) bool {
		wmu.Lock()
		defer wmu.Unlock()
		if g != gen || hung {
			return false
		}
		return conn.WriteMessage(websocket.TextMessage, []byte(msg)) == nil
	}
	sleep := func(d time.Duration) bool {
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-done:
			return false
		}
	}
	hangUp := func() {
		wmu.Lock()
		defer wmu.Unlock()
		if hung {
			return
		}
		hung = true
		ac.HungUp = true
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
	}

	talker.Go(func() {
		for {
			var u utterance
			select {
			case u = <-say:
			case <-done:
				return
			}
			if !sleep(u.delay) {
				return
			}
			wmu.Lock()
			g := gen
			wmu.Unlock()
			chunkDur := time.Duration(a.Chunk) * frameDuration
			n := int((u.dur + chunkDur - 1) / chunkDur)
			t0 := time.Now()
			ok := true
			for k := 0; k < n && ok; k++ {
				if !sleep(time.Until(t0.Add(time.Duration(k)*chunkDur - a.Lead))) {
					return
				}
				ok = send(g, `{"event":"media","media":{"payload":"`+chunkPayload+`"}}`)
				if ok && k == 0 {
					wmu.Lock()
					playing = true
					wmu.Unlock()
					ok = send(g, `{"event":"mark","mark":{"name":"`+u.name+`-start"}}`)
				}
			}
			if ok {
				wmu.Lock()
				ac.MarkSent[u.name+"-end"] = t0.Add(time.Duration(n) * chunkDur)
				if u.close {
					closeMark = u.name + "-end"
				}
				wmu.Unlock()
				send(g, `{"event":"mark","mark":{"name":"`+u.name+`-end"}}`)
				if u.close && a.HangUpEarly {
					hangUp()
				}
			}
		}
	})

	var (
		inSpeech     bool
		speechFrames int
		silentRun    int
		barged       bool
		utt          int
		pcm          = make([]int16, frameBytes)
	)
	for i := 0; ; i++ {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			_ = conn.Close()
			return
		}
		var f map[string]any
		if err := json.Unmarshal(msg, &f); err != nil {
			problem("bad json %q", msg)
			continue
		}
		ev, _ := f["event"].(string)
		if i == 0 {
			if ev != "connected" || f["version"] != "1.0.0" {
				problem("first frame %s", msg)
			}
			ac.ConnectedOK = true
			continue
		}
		if i == 1 && ev != "start" {
			problem("second frame is %q", ev)
		}
		switch ev {
		case "start":
			ac.Script = checkStart(f, problem)
			if !a.NoGreeting {
				say <- utterance{name: "greeting", dur: a.Greeting}
			}
		case "media":
			m, _ := f["media"].(map[string]any)
			seq := checkSeq(f, "sequence_number", problem)
			checkSeq(m, "chunk", problem)
			checkSeq(m, "timestamp", problem)
			if m["track"] != "inbound" {
				problem("track %v", m["track"])
			}
			if _, ok := f["stream_id"].(string); !ok {
				problem("media without stream_id")
			}
			if seq <= ac.LastSeq {
				ac.OutOfOrder++
			}
			ac.LastSeq = max(ac.LastSeq, seq)
			ac.Frames++
			raw, err := base64.StdEncoding.DecodeString(fmt.Sprint(m["payload"]))
			if err != nil || len(raw) != frameBytes {
				problem("payload of %d bytes (%v)", len(raw), err)
				continue
			}
			media.DecodeULawTo(pcm, raw)
			sum := 0
			for _, s := range pcm {
				sum += int(math.Abs(float64(s)))
			}
			voiced := sum/len(pcm) > vadVoiced
			switch {
			case !inSpeech && voiced:
				inSpeech, speechFrames, silentRun, barged = true, 1, 0, false
			case inSpeech:
				speechFrames++
				if voiced {
					silentRun = 0
				} else {
					silentRun++
				}
			}
			if inSpeech && speechFrames >= vadBarge && !barged && !a.IgnoreBarge {
				barged = true
				wmu.Lock()
				if playing {
					gen++
					playing = false
					ac.Clears++
					_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"event":"clear"}`))
				}
				wmu.Unlock()
			}
			if inSpeech && silentRun >= vadEndFrames {
				inSpeech = false
				text := fmt.Sprintf("<utterance %d>", utt+1)
				if utt < len(ac.Script) {
					text = ac.Script[utt]
				}
				utt++
				wmu.Lock()
				ac.Heard = append(ac.Heard, text)
				wmu.Unlock()
				if a.CloseAfter > 0 && utt >= a.CloseAfter {
					hangUp()
					continue
				}
				lower := strings.ToLower(text)
				if strings.Contains(lower, "goodbye") || strings.Contains(lower, "human") {
					say <- utterance{name: fmt.Sprintf("reply%d", utt), dur: a.Bye, delay: a.ReplyDelay, close: true}
				} else {
					say <- utterance{name: fmt.Sprintf("reply%d", utt), dur: a.Reply, delay: a.ReplyDelay}
				}
			}
		case "mark":
			checkSeq(f, "sequence_number", problem)
			mk, _ := f["mark"].(map[string]any)
			name, _ := mk["name"].(string)
			wmu.Lock()
			ac.Marks[name] = time.Now()
			endOfPlay := strings.HasSuffix(name, "-end")
			if endOfPlay {
				playing = false
			}
			shouldClose := name == closeMark
			wmu.Unlock()
			if shouldClose {
				hangUp()
			}
		case "dtmf":
			checkSeq(f, "sequence_number", problem)
			d, _ := f["dtmf"].(map[string]any)
			at, _ := f["occurred_at"].(string)
			if _, err := time.Parse(time.RFC3339Nano, at); err != nil {
				problem("dtmf occurred_at %q", at)
			}
			ac.DTMF = append(ac.DTMF, fmt.Sprint(d["digit"]))
		case "stop":
			checkSeq(f, "sequence_number", problem)
			st, _ := f["stop"].(map[string]any)
			if st["call_control_id"] == nil || st["user_id"] == nil || f["stream_id"] == nil {
				problem("stop %s", msg)
			}
			ac.StopSeen = true
		default:
			problem("unknown event %q", ev)
		}
	}
}

// checkStart checks a start frame against docs/protocols/telnyx.md 1.2 and returns the
// sim_script lines.
func checkStart(f map[string]any, problem func(string, ...any)) []string {
	if f["sequence_number"] != "1" {
		problem("start sequence_number %#v", f["sequence_number"])
	}
	if id, _ := f["stream_id"].(string); len(id) != 36 || id != strings.ToUpper(id) {
		problem("stream_id %q", id)
	}
	st, _ := f["start"].(map[string]any)
	if ccid, _ := st["call_control_id"].(string); !strings.HasPrefix(ccid, "v3:sim-") {
		problem("call_control_id %q", ccid)
	}
	for _, k := range []string{"user_id", "call_session_id"} {
		if s, _ := st[k].(string); len(s) != 36 {
			problem("%s %q", k, s)
		}
	}
	for _, k := range []string{"from", "to"} {
		if s, _ := st[k].(string); !strings.HasPrefix(s, "+1555") {
			problem("%s %q", k, s)
		}
	}
	mf, _ := st["media_format"].(map[string]any)
	if mf["encoding"] != "PCMU" || mf["sample_rate"] != 8000.0 || mf["channels"] != 1.0 {
		problem("media_format %v", mf)
	}
	cp, _ := st["custom_parameters"].(map[string]any)
	script, _ := cp["sim_script"].(string)
	if script == "" {
		problem("no sim_script in %v", cp)
	}
	return strings.Split(script, "|")
}

// checkSeq checks that m[key] is a string holding an integer (docs/protocols/telnyx.md 1).
func checkSeq(m map[string]any, key string, problem func(string, ...any)) int64 {
	s, ok := m[key].(string)
	if !ok {
		problem("%s is %T, want a string", key, m[key])
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		problem("%s %q: %v", key, s, err)
	}
	return n
}

// wsAgentConn adapts a gorilla server connection.
type wsAgentConn struct{ *websocket.Conn }

var _ agentConn = wsAgentConn{}

// ---- an in-memory WebSocket pair, for tests under testing/synctest ----

type pipeMsg struct {
	typ  int
	data []byte
}

// pipeEnd is one end of an in-memory message pipe with WebSocket close
// semantics: a close frame reaches the peer as a *websocket.CloseError, a
// Close without one as close 1006.
type pipeEnd struct {
	in       chan pipeMsg
	out      chan pipeMsg
	done     chan struct{}
	peerDone chan struct{}
	once     *sync.Once
	closed   atomic.Bool
}

func newPipe() (client, server *pipeEnd) {
	a, b := make(chan pipeMsg, 4096), make(chan pipeMsg, 4096)
	da, db := make(chan struct{}), make(chan struct{})
	client = &pipeEnd{in: a, out: b, done: da, peerDone: db, once: new(sync.Once)}
	server = &pipeEnd{in: b, out: a, done: db, peerDone: da, once: new(sync.Once)}
	return client, server
}

var errPipeClosed = errors.New("pipe: use of closed connection")

func (p *pipeEnd) next() (pipeMsg, error) {
	select {
	case m := <-p.in:
		return m, nil
	default:
	}
	select {
	case m := <-p.in:
		return m, nil
	case <-p.done:
		return pipeMsg{}, errPipeClosed
	case <-p.peerDone:
		select {
		case m := <-p.in:
			return m, nil
		default:
			return pipeMsg{}, &websocket.CloseError{Code: websocket.CloseAbnormalClosure, Text: "unexpected EOF"}
		}
	}
}

func (p *pipeEnd) read() (int, []byte, error) {
	m, err := p.next()
	if err != nil {
		return 0, nil, err
	}
	if m.typ == websocket.CloseMessage {
		code, text := websocket.CloseNoStatusReceived, ""
		if len(m.data) >= 2 {
			code, text = int(m.data[0])<<8|int(m.data[1]), string(m.data[2:])
		}
		return 0, nil, &websocket.CloseError{Code: code, Text: text}
	}
	return m.typ, m.data, nil
}

func (p *pipeEnd) NextReader() (int, io.Reader, error) {
	typ, data, err := p.read()
	if err != nil {
		return 0, nil, err
	}
	return typ, bytes.NewReader(data), nil
}

func (p *pipeEnd) ReadMessage() (int, []byte, error) { return p.read() }

func (p *pipeEnd) WriteMessage(typ int, data []byte) error {
	if p.closed.Load() {
		return errPipeClosed
	}
	select {
	case <-p.peerDone:
		return errPipeClosed
	default:
	}
	select {
	case p.out <- pipeMsg{typ: typ, data: bytes.Clone(data)}:
		return nil
	case <-p.done:
		return errPipeClosed
	case <-p.peerDone:
		return errPipeClosed
	}
}

func (p *pipeEnd) WriteControl(typ int, data []byte, _ time.Time) error {
	return p.WriteMessage(typ, data)
}

func (p *pipeEnd) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeEnd) SetWriteDeadline(time.Time) error { return nil }

func (p *pipeEnd) Close() error {
	p.once.Do(func() {
		p.closed.Store(true)
		close(p.done)
	})
	return nil
}
