package sim

import (
	"encoding/base64"
	"errors"
	"io"
	"time"

	"github.com/gorilla/websocket"
	"github.com/valyala/fastjson"

	"github.com/iace/iace/media"
)

// readLoop reads the server's frames until the connection ends: media goes to
// the playout queue, marks are queued or echoed, clear flushes (docs/protocols/telnyx.md 2).
// Its buffers are its own and reused, so a steady call does not allocate per
// message beyond mark names.
func (c *call) readLoop() {
	defer close(c.readerDone)
	var (
		rs  readScratch
		buf = make([]byte, 0, 4096)
	)
	// A backstop: the shard ends the call at its deadline and closes the
	// connection, which ends this read.
	_ = c.conn.SetReadDeadline(c.deadline.Add(c.cfg.HangupWait + 10*time.Second))
	for {
		_, r, err := c.conn.NextReader()
		if err != nil {
			c.onReadEnd(time.Now(), err)
			return
		}
		buf, err = readInto(buf[:0], r)
		now := time.Now()
		if err != nil {
			c.onReadEnd(now, err)
			return
		}
		c.handle(now, buf, &rs)
	}
}

// readScratch holds the reader's reusable buffers.
type readScratch struct {
	p     fastjson.Parser
	raw   []byte
	pcm   []int16
	names []string
}

// handle acts on one message from the server.
func (c *call) handle(now time.Time, msg []byte, rs *readScratch) {
	v, err := rs.p.ParseBytes(msg)
	if err != nil {
		c.onNote("bad_message")
		return
	}
	switch string(v.GetStringBytes("event")) {
	case "media":
		b64 := v.GetStringBytes("media", "payload")
		if need := base64.StdEncoding.DecodedLen(len(b64)); cap(rs.raw) < need {
			rs.raw = make([]byte, need)
		}
		n, err := base64.StdEncoding.Decode(rs.raw[:cap(rs.raw)], b64)
		if err != nil || n == 0 {
			c.onNote("bad_payload")
			return
		}
		if n%frameBytes != 0 {
			// docs/protocols/telnyx.md 2.1: outbound chunks are whole 20 ms frames.
			c.onNote("partial_frame")
		}
		var samples []int16
		if c.rec != nil || c.echo != nil {
			if cap(rs.pcm) < n {
				rs.pcm = make([]int16, n)
			}
			samples = rs.pcm[:media.DecodeULawTo(rs.pcm[:n], rs.raw[:n])]
		}
		c.onMedia(now, time.Duration(n)*time.Second/sampleRate, samples)
	case "mark":
		name := string(v.GetStringBytes("mark", "name"))
		if c.onMark(now, name) {
			rs.names = append(rs.names[:0], name)
			c.writeEchoes(rs.names)
		}
	case "clear":
		rs.names = c.onClear(now, rs.names[:0])
		c.writeEchoes(rs.names)
	default:
		c.onNote("unknown_event")
	}
}

// writeEchoes sends mark echoes from the reader. A failed write is left to the
// shard, which sees the broken connection on its next frame.
func (c *call) writeEchoes(names []string) {
	if len(names) == 0 {
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	for _, name := range names {
		c.wbuf = appendMarkEcho(c.wbuf[:0], c.id.streamID, c.seq.Add(1), name)
		if c.conn.WriteMessage(websocket.TextMessage, c.wbuf) != nil {
			return
		}
	}
}

// readInto appends all of r to buf.
func readInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// asCloseError reports whether err is the server's close frame.
func asCloseError(err error, ce **websocket.CloseError) bool {
	return errors.As(err, ce)
}
