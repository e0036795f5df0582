package session_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
)

// The tests in this file run a whole call inside a testing/synctest bubble:
// the peer, the stream handler, the session, its reader and turn goroutines
// and the pacer all run on the bubble's fake clock, over an in-memory
// connection (net.Pipe), so the call's timing is exact: no provider, no
// scheduler and no loaded machine adds to it. What they show is the
// session's state machine, to the millisecond.

// syncCall is one call inside a bubble.
type syncCall struct {
	p     *peer
	ended chan session.CallSummary
	pacer *media.Pacer
}

// startSyncCall starts an engine and a call on it; call it inside the bubble.
func startSyncCall(t *testing.T, params map[string]string) *syncCall {
	t.Helper()
	eng, pacer, ended, log := newTestEngine(t, session.DefaultConfig(), nil)
	conn := telnyx.DefaultConnConfig()
	conn.AllowUnauthenticated = true
	h := telnyx.NewHandler(conn, eng, telnyx.NewMetrics(nil), log)
	return &syncCall{p: newPeer(t, pipeDial(t, h), map[string]any{"custom_parameters": params}), ended: ended, pacer: pacer}
}

// hangUp sends stop and returns the call's summary once everything of the
// call has ended.
func (c *syncCall) hangUp(t *testing.T) session.CallSummary {
	t.Helper()
	c.p.send(map[string]any{"event": "stop", "sequence_number": c.p.nextSeq(), "stream_id": "x", "stop": map[string]any{}})
	sum := <-c.ended
	c.p.close()
	c.pacer.Close()
	synctest.Wait()
	return sum
}

// pipeDial opens a media stream to h over net.Pipe: the server's end is
// read as one HTTP request and handed to h with a ResponseWriter that
// hijacks to the pipe, as net/http's would to a socket.
func pipeDial(t *testing.T, h http.Handler) *websocket.Conn {
	t.Helper()
	srv, cli := net.Pipe()
	go func() {
		br := bufio.NewReader(srv)
		req, err := http.ReadRequest(br)
		if err != nil {
			_ = srv.Close()
			return
		}
		h.ServeHTTP(&pipeWriter{conn: srv, brw: bufio.NewReadWriter(br, bufio.NewWriter(srv)), header: http.Header{}}, req)
	}()
	d := websocket.Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) { return cli, nil }}
	ws, _, err := d.Dial("ws://iace.test/media/telnyx", nil)
	if err != nil {
		t.Fatalf("handshake over the pipe: %v", err)
	}
	return ws
}

type pipeWriter struct {
	conn   net.Conn
	brw    *bufio.ReadWriter
	header http.Header
}

func (w *pipeWriter) Header() http.Header { return w.header }
func (w *pipeWriter) Write(b []byte) (int, error) {
	return 0, io.ErrClosedPipe // only an upgrade is expected; a refusal shows as a failed handshake
}
func (w *pipeWriter) WriteHeader(int) {}
func (w *pipeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.conn, w.brw, nil
}

// next returns the first message matching ok; inside a bubble, a message
// that never comes ends the test as a deadlock.
func (p *peer) next(t *testing.T, what string, ok func(received) bool) received {
	t.Helper()
	for {
		select {
		case r := <-p.received:
			if ok(r) {
				return r
			}
		case <-p.closed:
			t.Fatalf("stream closed while waiting for %s", what)
		}
	}
}

// TestTheTurnEndsAsSoonAsTheCallerSoundsFinished: a caller's question whose
// words end it (the simulated transcriber hands over a whole line) is
// answered after the short silence bound, not the long one its rising
// pitch alone would get, and a cough over the answer holds it for less
// than the lead, so the caller hears it whole and without a gap.
func TestTheTurnEndsAsSoonAsTheCallerSoundsFinished(t *testing.T) {
	hours := readWAV(t, "testdata/what_are_your_opening_hours.wav")
	cough := readWAV(t, corpus+"ns_cough.wav")
	synctest.Test(t, func(t *testing.T) {
		c := startSyncCall(t, map[string]string{local.SimScriptParam: "what are your opening hours"})
		p := c.p
		p.next(t, "greeting end mark", isMark("-end"))
		time.Sleep(time.Second) // the caller listens a moment

		spokeUntil := p.speak(hours)
		start := p.next(t, "reply start mark", isMark("-start"))
		first := start.at.Add(-20 * time.Millisecond) // the mark follows the reply's first frame
		cfg := session.DefaultConfig().VAD
		// The last voiced frame is some way before the last frame sent:
		// the WAV ends with a little silence. The reply must come after
		// the short bound and well before the long one.
		latency := first.Sub(spokeUntil)
		if latency < 0 || latency > cfg.MinSilence+cfg.Hangover+100*time.Millisecond {
			t.Errorf("the reply began %v after the caller's last frame; want at most the short bound (%v) plus the pacer's tick",
				latency, cfg.MinSilence+cfg.Hangover)
		}
		t.Logf("reply %v after the caller's last frame (short bound %v, long %v)", latency, cfg.MinSilence+cfg.Hangover, cfg.MaxSilence+cfg.Hangover)

		// A cough over the answer: held while the VAD decides, then
		// resumed before the far end ran dry: the caller hears the
		// answer whole, with no gap.
		p.speak(cough)
		var gap, playEnd time.Time
		var gaps time.Duration
		playEnd = start.at.Add(media.FrameDuration) // the first frame came just before the start mark
		for {
			r := p.next(t, "the reply's end mark or a clear", func(r received) bool {
				return r.event == "clear" || r.event == "media" || isMark("-end")(r)
			})
			if r.event == "clear" {
				t.Fatal("a cough cut the agent off")
			}
			if r.event != "media" {
				break
			}
			if r.at.After(playEnd) {
				gap = r.at
				gaps += r.at.Sub(playEnd)
			}
			playEnd = later(playEnd, r.at).Add(time.Duration(r.bytes/160) * media.FrameDuration)
		}
		if gaps > 0 {
			t.Errorf("the answer had %v of gaps, the last at %v", gaps, gap.Sub(start.at))
		}
		sum := c.hangUp(t)
		if sum.Stats.BargeIns != 0 || len(sum.Transcript) != 3 || sum.Transcript[2].Interrupted ||
			!strings.HasPrefix(sum.Transcript[2].Text, "We are open") {
			t.Errorf("barge-ins %d, transcript %+v", sum.Stats.BargeIns, sum.Transcript)
		}
	})
}
