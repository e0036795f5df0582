package sim

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// maxLag is how far behind schedule a sender may fall before it gives up the
// missed ticks instead of bursting them out.
const maxLag = 100 * time.Millisecond

// shard is one sender goroutine. Every 20 ms, on a drift-free schedule
// (tick n is due at start + n*20ms, whatever the previous tick cost), it
// advances each of its calls and writes its due frame. A few shards serve
// thousands of calls with no timer or goroutine per call per frame.
type shard struct {
	col *collector

	mu      sync.Mutex
	pending []*call // guarded by mu: calls added since the last tick

	// Owned by run.
	calls  []*call
	out    tickOut
	frames []frameRef
}

// add hands a connected call to the shard; it starts at the next tick.
func (s *shard) add(c *call) {
	s.mu.Lock()
	s.pending = append(s.pending, c)
	s.mu.Unlock()
}

// run ticks until noMore is closed and every call has been reaped. When ctx
// is done, it aborts its calls and keeps ticking until they have closed.
// Shards tick at different phases (offset within the 20 ms period), so the
// writes of all calls are spread over the period instead of bunched at its
// start.
func (s *shard) run(ctx context.Context, noMore <-chan struct{}, offset time.Duration) {
	timer := time.NewTimer(frameDuration)
	defer timer.Stop()
	start := time.Now().Add(offset)
	abort := ctx.Done()
	aborted := false
	for n := int64(1); ; n++ {
		due := start.Add(time.Duration(n) * frameDuration)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-abort:
				abort, aborted = nil, true
			}
		}
		now := time.Now()
		lag := now.Sub(due)
		s.col.lag.add(lag)
		if lag > maxLag {
			skip := int64(lag / frameDuration)
			n += skip
			s.col.skipped.Add(skip)
		}

		s.mu.Lock()
		s.calls = append(s.calls, s.pending...)
		clear(s.pending)
		s.pending = s.pending[:0]
		s.mu.Unlock()

		if !aborted && ctx.Err() != nil {
			aborted = true
		}
		keep := s.calls[:0]
		for _, c := range s.calls {
			if aborted {
				c.abort(now, "run ended: "+context.Cause(ctx).Error())
			}
			if s.service(c) {
				s.col.publish(c)
				continue
			}
			keep = append(keep, c)
		}
		clear(s.calls[len(keep):])
		s.calls = keep

		if len(s.calls) == 0 && closed(noMore) {
			s.mu.Lock()
			idle := len(s.pending) == 0
			s.mu.Unlock()
			if idle {
				return
			}
		}
	}
}

// closeWait is how long a call that sent its close frame waits for the
// server's before it drops the connection.
const closeWait = time.Second

// service runs one tick of one call and reports whether it can be reaped.
func (s *shard) service(c *call) (reap bool) {
	now := time.Now()
	out := &s.out
	c.tick(now, out)
	if out.done {
		if !c.closed {
			c.closed = true
			c.closedAt = now
			c.hangUp(now, out.stop)
		}
		select {
		case <-c.readerDone:
			_ = c.conn.Close()
			return true
		default:
			if now.Sub(c.closedAt) > closeWait {
				_ = c.conn.Close() // ends the reader
			}
			return false
		}
	}
	if c.writeErr != nil {
		// Let the reader classify a server close first (it explains the
		// broken pipe); fail on the write only if it does not.
		if now.Sub(c.writeErrAt) > closeWait {
			// A reset or a broken pipe is the server dropping the
			// connection without a close frame (as it does to a caller
			// that stopped reading, whose reader is still behind).
			by := EndedByCaller
			if errors.Is(c.writeErr, syscall.ECONNRESET) || errors.Is(c.writeErr, syscall.EPIPE) {
				by = EndedByServer
			}
			c.mu.Lock()
			c.finishLocked(now, OutcomeFailed, by, ErrWriteError, c.writeErr.Error())
			c.mu.Unlock()
		}
		return false
	}
	frames := s.frames[:0]
	if out.payload != "" {
		c.chunk++
		frames = c.impair(now, frameRef{seq: c.seq.Add(1), chunk: c.chunk, payload: out.payload}, frames)
	}
	if err := c.send(now, out, frames); err != nil {
		c.writeErr, c.writeErrAt = err, now
	}
	s.frames = frames[:0]
	return false
}

// send writes a tick's frames, then its mark echoes and key press.
func (c *call) send(now time.Time, out *tickOut, frames []frameRef) error {
	if len(frames) == 0 && len(out.marks) == 0 && !out.dtmf {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(now.Add(writeTimeout))
	for _, f := range frames {
		c.wbuf = appendMedia(c.wbuf[:0], c.id.streamID, f.seq, f.chunk, f.payload)
		if err := c.conn.WriteMessage(websocket.TextMessage, c.wbuf); err != nil {
			return err
		}
		c.sent++
	}
	for _, name := range out.marks {
		c.wbuf = appendMarkEcho(c.wbuf[:0], c.id.streamID, c.seq.Add(1), name)
		if err := c.conn.WriteMessage(websocket.TextMessage, c.wbuf); err != nil {
			return err
		}
	}
	if out.dtmf {
		c.wbuf = appendDTMF(c.wbuf[:0], c.id.streamID, c.seq.Add(1), time.Now(), "1")
		if err := c.conn.WriteMessage(websocket.TextMessage, c.wbuf); err != nil {
			return err
		}
	}
	return nil
}

// hangUp sends stop and a close frame (docs/protocols/telnyx.md 1.7) unless the server has
// already gone; the connection itself is closed once the reader has seen the
// server's close, or after closeWait.
func (c *call) hangUp(now time.Time, stop bool) {
	if !stop {
		_ = c.conn.Close()
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	deadline := now.Add(200 * time.Millisecond)
	_ = c.conn.SetWriteDeadline(deadline)
	c.wbuf = appendStop(c.wbuf[:0], &c.id, c.seq.Add(1))
	if c.conn.WriteMessage(websocket.TextMessage, c.wbuf) == nil {
		_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "stop"), deadline)
	}
}

// closed reports whether ch is closed, without blocking.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
