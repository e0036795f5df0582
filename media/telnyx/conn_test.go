package telnyx

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iace/iace/media"
)

// hijacker is the http.ResponseWriter an upgrade over a bare connection needs.
type hijacker struct {
	nc  net.Conn
	brw *bufio.ReadWriter
	h   http.Header
}

func (w *hijacker) Header() http.Header                          { return w.h }
func (w *hijacker) Write([]byte) (int, error)                    { return 0, errors.New("hijacker: write before hijack") }
func (w *hijacker) WriteHeader(int)                              {}
func (w *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) { return w.nc, w.brw, nil }

// wsPair makes a WebSocket of the two ends of a connection: the server's end
// wrapped in a Conn, the client's a gorilla client (the peer). Over net.Pipe
// the Conn has no socket to write to without blocking and writes every batch
// in the background; over TCP it writes directly while the socket takes it.
func wsPair(t testing.TB, server, client net.Conn, cfg ConnConfig, m *Metrics) (*Conn, *websocket.Conn) {
	t.Helper()
	type result struct {
		ws  *websocket.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		br := bufio.NewReader(server)
		req, err := http.ReadRequest(br)
		if err != nil {
			done <- result{err: err}
			return
		}
		up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
		ws, err := up.Upgrade(&hijacker{nc: server, brw: bufio.NewReadWriter(br, bufio.NewWriter(server)), h: http.Header{}}, req, nil)
		done <- result{ws, err}
	}()
	d := websocket.Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) { return client, nil }}
	peer, resp, err := d.Dial("ws://iace.test/media/telnyx", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	c := NewConn(r.ws, cfg, m)
	t.Cleanup(func() {
		_ = peer.Close()
		_ = r.ws.Close()
	})
	return c, peer
}

func pipePair(t testing.TB, cfg ConnConfig, m *Metrics) (*Conn, *websocket.Conn) {
	t.Helper()
	s, c := net.Pipe()
	return wsPair(t, s, c, cfg, m)
}

func testConnConfig(writeTimeout time.Duration) ConnConfig {
	cfg := DefaultConnConfig()
	cfg.WriteTimeout = writeTimeout
	return cfg
}

// numbered is 100 ms of PCMU whose first 4 bytes carry n.
func numbered(n int) []byte {
	b := make([]byte, 800)
	binary.BigEndian.PutUint32(b, uint32(n))
	return b
}

// readAll reads frames from peer until want media frames arrived, and
// returns the numbers they carry and the other frames' events in order.
func readFrames(t *testing.T, peer *websocket.Conn, want int) (nums []int, events []string) {
	t.Helper()
	for len(nums) < want {
		_, msg, err := peer.ReadMessage()
		if err != nil {
			t.Fatalf("after %d media frames: %v", len(nums), err)
		}
		ev, payload := parseOutbound(t, msg)
		if ev == "media" {
			nums = append(nums, int(binary.BigEndian.Uint32(payload)))
			ev = "media"
		}
		events = append(events, ev)
	}
	return nums, events
}

// parseOutbound returns the event of one of our frames and its decoded media
// payload. It may be called from any goroutine.
func parseOutbound(t *testing.T, msg []byte) (event string, payload []byte) {
	t.Helper()
	switch {
	case bytes.HasPrefix(msg, []byte(mediaHead)) && bytes.HasSuffix(msg, []byte(mediaTail)):
		p, err := base64.StdEncoding.DecodeString(string(msg[len(mediaHead) : len(msg)-len(mediaTail)]))
		if err != nil || len(p) < 4 {
			t.Errorf("bad media frame %q: %v", msg, err)
			return "bad", make([]byte, 4)
		}
		return "media", p
	case bytes.HasPrefix(msg, []byte(`{"event":"mark","mark":{"name":"`)):
		return "mark:" + string(msg[len(`{"event":"mark","mark":{"name":"`):len(msg)-len(`"}}`)]), nil
	case string(msg) == clearFrame:
		return "clear", nil
	}
	t.Errorf("unexpected frame %q", msg)
	return "bad", nil
}

// TestConnKeepsTheOrderOfEveryKindOfFrame writes mixed batches over a pipe,
// where every batch is written in the background.
func TestConnKeepsTheOrderOfEveryKindOfFrame(t *testing.T) {
	c, peer := pipePair(t, testConnConfig(time.Minute), nil)
	if c.w.raw != nil {
		t.Fatal("a pipe has no socket")
	}
	pings := make(chan struct{}, 10)
	peer.SetPingHandler(func(string) error { pings <- struct{}{}; return nil })
	var want []string
	got := make(chan []string, 1)
	go func() {
		var evs []string
		for len(evs) < 3*20 {
			_, msg, err := peer.ReadMessage()
			if err != nil {
				break
			}
			ev, payload := parseOutbound(t, msg)
			if ev == "media" {
				ev = "media" + string(rune('0'+binary.BigEndian.Uint32(payload)%10))
			}
			evs = append(evs, ev)
		}
		got <- evs
	}()
	for i := range 20 {
		for c.Ready() != nil {
			c.w.waitIdle()
		}
		switch i % 3 {
		case 0:
			_ = c.WriteClear()
			_ = c.WriteAudio(numbered(i))
			_ = c.WriteMark("m")
			want = append(want, "clear", "media"+string(rune('0'+i%10)), "mark:m")
		case 1:
			_ = c.WriteAudio(numbered(i))
			_ = c.Keepalive()
			_ = c.WriteAudio(numbered(i + 1))
			_ = c.WriteMark(`a "quoted" name`)
			want = append(want, "media"+string(rune('0'+i%10)), "media"+string(rune('0'+(i+1)%10)), `mark:a \"quoted\" name`)
		default:
			_ = c.WriteMark("x")
			_ = c.WriteAudio(numbered(i))
			_ = c.WriteMark("y")
			want = append(want, "mark:x", "media"+string(rune('0'+i%10)), "mark:y")
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	evs := <-got
	if len(evs) != len(want) {
		t.Fatalf("got %d frames, want %d: %v", len(evs), len(want), evs)
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Fatalf("frame %d is %s, want %s (%v)", i, evs[i], want[i], evs)
		}
	}
	if n := len(pings); n != 7 {
		t.Errorf("%d pings arrived, want 7", n)
	}
}

// TestConnEndsAPeerThatStopsReading: over a pipe (no buffer at all), a batch
// the peer never reads fails the connection with ErrPeerStalled exactly one
// write timeout after it was flushed, counted once; Close then does not wait.
func TestConnEndsAPeerThatStopsReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMetrics(nil)
		c, _ := pipePair(t, testConnConfig(time.Second), m)
		_ = c.WriteAudio(numbered(0))
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second - time.Millisecond)
		synctest.Wait()
		if err := c.Ready(); !errors.Is(err, media.ErrOutputBusy) {
			t.Fatalf("Ready before the timeout: %v, want busy", err)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if err := c.Ready(); !errors.Is(err, ErrPeerStalled) {
			t.Fatalf("Ready after the timeout: %v, want %v", err, ErrPeerStalled)
		}
		if n := testutil.ToFloat64(m.stalled); n != 1 {
			t.Errorf("streams_stalled_total %v, want 1", n)
		}
		_ = c.WriteAudio(numbered(1))
		if err := c.Flush(); !errors.Is(err, ErrPeerStalled) {
			t.Errorf("Flush on a stalled connection: %v", err)
		}
		start := time.Now()
		_ = c.Close(CloseInternal, "transport_error")
		if d := time.Since(start); d != 0 {
			t.Errorf("Close waited %v on a stalled peer", d)
		}
	})
}

// TestConnIsBusyOnceBytesHaveWaitedAFrame: a background write younger than
// a frame is a write on its way, and the next batch queues behind it; once
// bytes have waited a frame, the connection is busy.
func TestConnIsBusyOnceBytesHaveWaitedAFrame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipePair(t, testConnConfig(time.Second), nil)
		_ = c.WriteAudio(numbered(0))
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(media.FrameDuration - time.Millisecond)
		if err := c.Ready(); err != nil {
			t.Fatalf("Ready %v after %v: want nil, the write is on its way", err, media.FrameDuration-time.Millisecond)
		}
		_ = c.WriteAudio(numbered(1))
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		if err := c.Ready(); !errors.Is(err, media.ErrOutputBusy) {
			t.Fatalf("Ready %v after a frame: want busy", err)
		}
		nums, _ := readFrames(t, peer, 2)
		if nums[0] != 0 || nums[1] != 1 {
			t.Errorf("the peer read %v, want [0 1]", nums)
		}
		c.w.waitIdle()
		if err := c.Ready(); err != nil {
			t.Errorf("Ready %v once written", err)
		}
	})
}

// TestConnCloseSendsTheCloseFrameLast: Close writes what was flushed, then
// the close frame, and drops what is flushed after it.
func TestConnCloseSendsTheCloseFrameLast(t *testing.T) {
	c, peer := pipePair(t, testConnConfig(time.Minute), nil)
	peer.SetCloseHandler(func(int, string) error { return nil }) // nobody reads our side: no answer
	got := make(chan error, 1)
	var nums []int
	go func() {
		for {
			_, msg, err := peer.ReadMessage()
			if err != nil {
				got <- err
				return
			}
			_, payload := parseOutbound(t, msg)
			nums = append(nums, int(binary.BigEndian.Uint32(payload)))
		}
	}()
	_ = c.WriteAudio(numbered(7))
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(CloseNormal, "hangup"); err != nil {
		t.Fatal(err)
	}
	_ = c.WriteAudio(numbered(8))
	if err := c.Flush(); err != nil {
		t.Errorf("Flush after Close: %v, want nil (dropped)", err)
	}
	err := <-got
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseNormal || ce.Text != "hangup" {
		t.Fatalf("the peer read %v, want close 1000 hangup", err)
	}
	if len(nums) != 1 || nums[0] != 7 {
		t.Errorf("media before the close: %v, want [7]", nums)
	}
}

// TestConnAnswersPingsAndCloseThroughItsWriter: the peer's ping gets a pong,
// its close frame an answer, and Close after that sends no second one.
func TestConnAnswersPingsAndCloseThroughItsWriter(t *testing.T) {
	c, peer := pipePair(t, testConnConfig(time.Minute), nil)
	readErr := make(chan error, 1)
	go func() {
		var ev Event
		for {
			if err := c.Read(&ev); err != nil {
				var pe *ProtocolError
				if errors.As(err, &pe) {
					continue
				}
				readErr <- err
				return
			}
		}
	}()
	pong := make(chan string, 1)
	peer.SetPongHandler(func(s string) error { pong <- s; return nil })
	peerErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := peer.NextReader(); err != nil {
				peerErr <- err
				return
			}
		}
	}()
	if err := peer.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if s := <-pong; s != "hi" {
		t.Errorf("pong %q", s)
	}
	if err := peer.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseGoingAway, "bye"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var ce *websocket.CloseError
	if err := <-readErr; !errors.As(err, &ce) || ce.Code != CloseGoingAway {
		t.Fatalf("Read ended with %v, want the peer's close", err)
	}
	if err := <-peerErr; !errors.As(err, &ce) || ce.Code != CloseGoingAway {
		t.Fatalf("the peer read %v, want its close code echoed", err)
	}
	if err := c.Close(CloseNormal, "again"); err != nil {
		t.Fatal(err)
	}
}

// TestPacerShardIsNotHeldByAStalledPeer runs two calls on one pacer shard,
// over pipes, in a fake clock: one peer reads, the other stops reading. The
// reading call gets every message exactly when the pacer schedules it, as
// if it were alone; the stalled one is passed over while its write waits,
// fails with ErrPeerStalled after the write timeout and is counted.
func TestPacerShardIsNotHeldByAStalledPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		m := NewMetrics(reg)
		pacer, err := media.NewPacer(media.PacerConfig{Lead: 200 * time.Millisecond, MaxChunk: 100 * time.Millisecond, Keepalive: time.Second, Shards: 1}, reg)
		if err != nil {
			t.Fatal(err)
		}
		defer pacer.Close()
		good, goodPeer := pipePair(t, testConnConfig(time.Second), m)
		goodPeer.SetPingHandler(func(string) error { return nil }) // nobody reads our side: no pongs
		goodPeer.SetCloseHandler(func(int, string) error { return nil })
		stalled, _ := pipePair(t, testConnConfig(time.Second), m)

		type arrival struct {
			at  time.Duration
			pos int // audio bytes before this message
			n   int
		}
		start := time.Now()
		arrivals := make(chan []arrival, 1)
		go func() {
			var got []arrival
			pos := 0
			for {
				_, msg, err := goodPeer.ReadMessage()
				if err != nil {
					arrivals <- got
					return
				}
				if ev, p := parseOutbound(t, msg); ev == "media" {
					got = append(got, arrival{at: time.Since(start), pos: pos, n: len(p)})
					pos += len(p)
				}
			}
		}()

		const seconds = 3
		audio := bytes.Repeat([]byte{0x55}, seconds*8000)
		plGood := pacer.NewPlayout(good, media.PCMU8k)
		defer plGood.Close()
		plStalled := pacer.NewPlayout(stalled, media.PCMU8k)
		defer plStalled.Close()
		for _, pl := range []*media.Playout{plGood, plStalled} {
			gen := pl.Generation()
			pl.Write(gen, audio)
			pl.Mark(gen, "end")
		}

		select {
		case <-plStalled.Failed():
		case <-time.After(seconds * time.Second):
			t.Fatal("the stalled call was not failed")
		}
		if failedAt := time.Since(start); failedAt < time.Second || failedAt > time.Second+40*time.Millisecond {
			t.Errorf("the stalled call failed at %v, want one write timeout (1s) after its first write, at the next tick", failedAt)
		}
		if err := plStalled.Err(); !errors.Is(err, ErrPeerStalled) {
			t.Errorf("the stalled call failed with %v, want %v", err, ErrPeerStalled)
		}
		time.Sleep(seconds*time.Second + 500*time.Millisecond - time.Since(start))
		select {
		case <-plGood.Failed():
			t.Fatalf("the reading call failed: %v", plGood.Err())
		default:
		}
		_ = good.Close(CloseNormal, "done")
		got := <-arrivals

		if sum := func() (s int) {
			for _, a := range got {
				s += a.n
			}
			return s
		}(); sum != len(audio) {
			t.Errorf("the reading call got %d bytes of audio, want %d", sum, len(audio))
		}
		for i, a := range got {
			// The pacer sends a message once its audio fits in the 200 ms
			// lead: at the tick on or after it is due. A shard held by the
			// other call would make it later.
			due := max(media.PCMU8k.Duration(a.pos+a.n)-200*time.Millisecond, 0)
			if late := a.at - due; late < 0 || late >= media.FrameDuration {
				t.Errorf("message %d (audio from %v) arrived at %v: due at %v", i, media.PCMU8k.Duration(a.pos), a.at, due)
			}
		}
		if n := testutil.ToFloat64(m.stalled); n != 1 {
			t.Errorf("streams_stalled_total %v, want 1", n)
		}
		if n := counterValue(t, reg, "iace_media_pacer_output_busy_total"); n < 40 {
			t.Errorf("pacer_output_busy_total %v: the stalled call should have been passed over each tick for a second", n)
		}
		if n := counterValue(t, reg, "iace_media_playout_underruns_total"); n != 0 {
			t.Errorf("%v underruns", n)
		}
	})
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
