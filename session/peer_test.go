package session_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iace/iace/media"
)

// peer plays Telnyx in tests: it streams caller audio in 20 ms frames on a
// monotonic schedule, keeps a playback queue of what the server sends, and
// echoes marks when the audio before them has played, as Telnyx does
// (docs/protocols/telnyx.md 2.3, 2.4).
type peer struct {
	t  *testing.T
	ws *websocket.Conn

	wmu sync.Mutex // serialises writes: sender, mark echoes, test body

	mu        sync.Mutex
	speech    [][]byte // caller frames still to send; silence when empty
	seq       int
	playEnd   time.Time
	pending   []*time.Timer
	received  chan received
	closed    chan struct{}
	closeCode int // the server's close code, once closed is closed
	closeOnce sync.Once

	// echoGain, when not 0, makes the caller's line carry what the far
	// end plays back into the caller's audio, scaled by it, as a line with
	// no echo canceller does; echo holds it, each frame with when it plays.
	echoGain float64
	echo     []echoFrame
	// skews, when set, make the far end start each of the agent's turns
	// (audio that comes after it has played all it had) this much after
	// it arrives, one entry a turn: its own clock and jitter buffer.
	skews []time.Duration
}

// echoFrame is 20 ms of the agent's audio as it comes back, and when.
type echoFrame struct {
	at  time.Time
	pcm [160]int16
}

type received struct {
	event string // media, mark, clear
	bytes int
	audio []byte // a media message's payload
	mark  string
	at    time.Time
}

func dialPeer(t *testing.T, url string, params map[string]string) *peer {
	t.Helper()
	return dialPeerStart(t, url, map[string]any{"custom_parameters": params})
}

// dialPeerStart opens a stream whose start frame has the given fields in
// place of the defaults.
func dialPeerStart(t *testing.T, url string, fields map[string]any) *peer {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return newPeer(t, ws, fields)
}

// newPeer plays Telnyx on an open WebSocket: connected, start (with
// fields in place of the defaults), then a frame every 20 ms. setup, if
// any, runs on the peer before it sends anything.
func newPeer(t *testing.T, ws *websocket.Conn, fields map[string]any, setup ...func(*peer)) *peer {
	t.Helper()
	p := &peer{t: t, ws: ws, received: make(chan received, 4096), closed: make(chan struct{})}
	for _, f := range setup {
		f(p)
	}
	p.send(map[string]any{"event": "connected", "version": "1.0.0"})
	start := map[string]any{
		"call_control_id": "v3:test-ccid", "call_session_id": "a1b2", "from": "+15551230001", "to": "+15559870002",
		"media_format": map[string]any{"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
	}
	for k, v := range fields {
		start[k] = v
	}
	p.send(map[string]any{
		"event": "start", "sequence_number": "1", "stream_id": "9B1F7C2E-4D0A-4E55-8C11-2F6A0D7B3E90",
		"start": start,
	})
	go p.readLoop()
	go p.sendLoop()
	return p
}

func (p *peer) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		p.t.Errorf("marshal: %v", err)
		return
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.ws.WriteMessage(websocket.TextMessage, b) // a closed socket shows up in the reader
}

func (p *peer) nextSeq() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	return fmt.Sprint(p.seq + 1)
}

// sendLoop sends one frame every 20 ms against the start time, so the
// schedule does not drift.
func (p *peer) sendLoop() {
	silence := make([]byte, 160)
	media.EncodingPCMU.FillSilence(silence)
	start := time.Now()
	for n := 0; ; n++ {
		select {
		case <-p.closed:
			return
		case <-time.After(time.Until(start.Add(time.Duration(n) * media.FrameDuration))):
		}
		p.mu.Lock()
		frame := silence
		if len(p.speech) > 0 {
			frame, p.speech = p.speech[0], p.speech[1:]
		}
		frame = p.addEcho(frame, start.Add(time.Duration(n)*media.FrameDuration))
		p.mu.Unlock()
		// chunk counts media frames only; sequence_number counts every frame.
		p.send(map[string]any{"event": "media", "sequence_number": p.nextSeq(), "stream_id": "9B1F7C2E-4D0A-4E55-8C11-2F6A0D7B3E90",
			"media": map[string]any{"track": "inbound", "chunk": fmt.Sprint(n + 1), "timestamp": fmt.Sprint(n * 20), "payload": base64.StdEncoding.EncodeToString(frame)}})
	}
}

// addEcho returns frame with the echo of what the far end played in the
// 20 ms before at mixed in (frame itself when there is none). Called with
// p.mu held.
func (p *peer) addEcho(frame []byte, at time.Time) []byte {
	var e *echoFrame
	for len(p.echo) > 0 && !p.echo[0].at.After(at.Add(-media.FrameDuration)) {
		e, p.echo = &p.echo[0], p.echo[1:]
	}
	if e == nil {
		return frame
	}
	var pcm [160]int16
	media.DecodeULawTo(pcm[:], frame)
	for i := range pcm {
		pcm[i] = int16(max(-32768, min(32767, int(pcm[i])+int(e.pcm[i]))))
	}
	out := make([]byte, 160)
	media.EncodeULawTo(out, pcm[:])
	return out
}

// speak queues a caller utterance and returns when its last frame is due.
func (p *peer) speak(pcm []int16) time.Time {
	ulaw := make([]byte, len(pcm))
	media.EncodeULawTo(ulaw, pcm)
	var frames [][]byte
	for i := 0; i+160 <= len(ulaw); i += 160 {
		frames = append(frames, ulaw[i:i+160])
	}
	p.mu.Lock()
	p.speech = append(p.speech, frames...)
	n := len(p.speech)
	p.mu.Unlock()
	return time.Now().Add(time.Duration(n) * media.FrameDuration)
}

func (p *peer) readLoop() {
	defer p.closeOnce.Do(func() { close(p.closed) })
	for {
		_, msg, err := p.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				p.closeCode = ce.Code // read after closed is closed
			}
			return
		}
		var m struct {
			Event string `json:"event"`
			Media struct {
				Payload string `json:"payload"`
			} `json:"media"`
			Mark struct {
				Name string `json:"name"`
			} `json:"mark"`
		}
		if err := json.Unmarshal(msg, &m); err != nil {
			p.t.Errorf("server sent bad JSON: %v", err)
			return
		}
		now := time.Now()
		r := received{event: m.Event, at: now}
		switch m.Event {
		case "media":
			b, err := base64.StdEncoding.DecodeString(m.Media.Payload)
			if err != nil || len(b)%160 != 0 || len(b) == 0 {
				p.t.Errorf("outbound media of %d bytes (err %v): want whole 20 ms frames", len(b), err)
			}
			r.bytes, r.audio = len(b), b
			p.mu.Lock()
			from := later(p.playEnd, now)
			if !p.playEnd.After(now) && len(p.skews) > 0 { // a new turn
				from, p.skews = from.Add(p.skews[0]), p.skews[1:]
			}
			p.playEnd = from.Add(time.Duration(len(b)/160) * media.FrameDuration)
			if p.echoGain != 0 {
				for i := 0; i+160 <= len(b); i += 160 {
					e := echoFrame{at: from.Add(time.Duration(i/160) * media.FrameDuration)}
					media.DecodeULawTo(e.pcm[:], b[i:i+160])
					for j := range e.pcm {
						e.pcm[j] = int16(float64(e.pcm[j]) * p.echoGain)
					}
					p.echo = append(p.echo, e)
				}
			}
			p.mu.Unlock()
		case "mark":
			r.mark = m.Mark.Name
			p.mu.Lock()
			name := m.Mark.Name
			tm := time.AfterFunc(time.Until(p.playEnd), func() { p.echoMark(name) })
			p.pending = append(p.pending, tm)
			p.mu.Unlock()
		case "clear":
			p.mu.Lock()
			p.playEnd = now
			for len(p.echo) > 0 && p.echo[len(p.echo)-1].at.After(now) { // never played
				p.echo = p.echo[:len(p.echo)-1]
			}
			p.mu.Unlock()
		}
		p.received <- r
	}
}

func (p *peer) echoMark(name string) {
	p.send(map[string]any{"event": "mark", "sequence_number": p.nextSeq(), "stream_id": "9B1F7C2E-4D0A-4E55-8C11-2F6A0D7B3E90",
		"mark": map[string]any{"name": name}})
}

// expect waits for the first received message matching ok, failing after d.
func (p *peer) expect(what string, d time.Duration, ok func(received) bool) received {
	p.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case r := <-p.received:
			if ok(r) {
				return r
			}
		case <-deadline:
			p.t.Fatalf("timed out waiting for %s", what)
		case <-p.closed:
			p.t.Fatalf("stream closed while waiting for %s", what)
		}
	}
}

func (p *peer) close() {
	p.mu.Lock()
	for _, tm := range p.pending {
		tm.Stop()
	}
	p.mu.Unlock()
	_ = p.ws.Close()
	<-p.closed
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func isMark(suffix string) func(received) bool {
	return func(r received) bool { return r.event == "mark" && strings.HasSuffix(r.mark, suffix) }
}

func readWAV(t *testing.T, path string) []int16 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, rate, err := media.ReadWAV(f)
	if err != nil || rate != 8000 {
		t.Fatalf("read %s: rate %d, err %v", path, rate, err)
	}
	return pcm
}
