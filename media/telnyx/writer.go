package telnyx

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media"
)

// ErrPeerStalled is the error a Conn fails with when messages it was given
// waited longer than the write timeout to be written: the peer has stopped
// reading, or reads too slowly for the call's audio. The stream is ended.
// It wraps media.ErrOutputStalled.
var ErrPeerStalled = fmt.Errorf("telnyx: peer stopped reading: %w", media.ErrOutputStalled)

// The writer's state, read without its lock by Conn.Ready.
const (
	writerReady  uint32 = iota // nothing waits: the next batch goes straight to the socket
	writerBusy                 // a background write holds bytes the socket would not take yet
	writerFailed               // writing failed or the peer stalled; see err
)

// busyAfter is how long bytes may wait for a background write before the
// writer says it is busy. Younger, they are only a write on its way (a
// goroutine not scheduled yet), and a new batch queues behind them; older,
// the socket is not keeping up, and the pacer passes the call over.
const busyAfter = 20 * time.Millisecond

// clockStart is the origin of the writer's monotonic clock (busySince).
var clockStart = time.Now()

// writer is the sending side of a Conn. It never makes its caller wait on
// the network: a batch of frames goes to the socket with one non-blocking
// write when the connection offers its file descriptor (syscall.Conn); what
// the socket does not take at once (its buffer is full: the peer reads
// slowly), or the whole batch when there is no descriptor to write to
// without blocking, is written by a goroutine started for it, which ends when
// the bytes are out. Once bytes have waited for it longer than busyAfter the
// writer is busy, and the pacer passes the call over. Bytes that wait longer
// than the write timeout fail the writer with ErrPeerStalled.
//
// Every frame the connection sends goes through here, in order: the pacer's
// batches, pongs and the close frame. gorilla/websocket is used for reading
// only; it still writes a close frame itself when the peer breaks the
// protocol, which ends the stream anyway.
type writer struct {
	nc      net.Conn
	raw     syscall.RawConn // nil: every batch is written in the background
	timeout time.Duration
	stalls  prometheus.Counter // may be nil
	// deferred counts background writes started; may be nil.
	deferred prometheus.Counter

	state     atomic.Uint32
	busySince atomic.Int64  // when bytes began to wait, on clockStart's clock
	busyAfter time.Duration // busyAfter; tests change it

	mu        sync.Mutex
	out       []byte    // bytes handed over; out[off:] are not written yet
	off       int       //
	since     time.Time // when out[off:] began to wait
	flushing  bool      // a goroutine is writing out[off:]
	err       error     // why the writer failed; sticky
	closeSent bool      // the close frame is queued: later frames are dropped
	idle      sync.Cond // signalled when a background write ends

	// The non-blocking write's arguments and results (under mu), and the
	// functions bound once, so that neither a write nor starting a
	// background write allocates.
	rawBuf  []byte
	rawN    int
	rawErr  error
	rawFn   func(fd uintptr) bool
	flushFn func()
}

func newWriter(nc net.Conn, timeout time.Duration, stalls, deferred prometheus.Counter) *writer {
	w := &writer{nc: nc, raw: rawConn(nc), timeout: timeout, stalls: stalls, deferred: deferred, busyAfter: busyAfter}
	w.idle.L = &w.mu
	w.rawFn = w.rawWrite
	w.flushFn = w.flush
	return w
}

// send hands b, whole frames, to the connection and returns a buffer for the
// caller's next batch (b itself when it was written at once, or the one the
// writer gave up). It never waits on the network.
func (w *writer) send(b []byte) ([]byte, error) {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return b[:0], err
	}
	if w.closeSent {
		w.mu.Unlock()
		return b[:0], nil // the stream is closing: nothing may follow the close frame
	}
	spare, start := w.enqueueLocked(b)
	err := w.err // a direct write may have failed
	w.mu.Unlock()
	if start {
		go w.flushFn()
	}
	return spare, err
}

// reply sends a control frame from the reader (a pong, or the answer to the
// peer's close frame). It never waits; frame is the writer's from then on.
func (w *writer) reply(frame []byte, closing bool) {
	w.mu.Lock()
	if w.err != nil || w.closeSent {
		w.mu.Unlock()
		return
	}
	w.closeSent = closing
	_, start := w.enqueueLocked(frame)
	w.mu.Unlock()
	if start {
		go w.flushFn()
	}
}

// close sends the close frame unless one was sent or the writer has failed,
// and waits until what was queued is written or the write timeout has
// passed. Later batches are dropped.
func (w *writer) close(frame []byte) {
	w.mu.Lock()
	start := false
	if w.err == nil && !w.closeSent {
		w.closeSent = true
		_, start = w.enqueueLocked(frame)
	}
	w.mu.Unlock()
	if start {
		w.flush() // on this goroutine: it waits anyway
	}
	w.waitIdle()
}

// enqueueLocked writes b at once if the socket takes it, or queues it for a
// background write. start says that the caller must start that write once
// it has released the lock.
func (w *writer) enqueueLocked(b []byte) (spare []byte, start bool) {
	if w.flushing {
		w.out = append(w.out, b...)
		return b[:0], false
	}
	n := 0
	if w.raw != nil {
		var err error
		if n, err = w.tryWrite(b); err != nil {
			w.failLocked(err)
			return b[:0], false
		}
		if n == len(b) {
			return b[:0], false
		}
	}
	// The rest waits: the writer takes b and gives its own empty buffer back.
	spare = w.out[:0]
	w.out, w.off = b, n
	w.since = time.Now()
	w.flushing = true
	w.busySince.Store(int64(w.since.Sub(clockStart)))
	w.state.Store(writerBusy)
	if w.deferred != nil {
		w.deferred.Inc()
	}
	return spare, true
}

// ready is Conn.Ready: nil, media.ErrOutputBusy or why the writer failed.
func (w *writer) ready() error {
	switch w.state.Load() {
	case writerReady:
		return nil
	case writerBusy:
		if time.Since(clockStart)-time.Duration(w.busySince.Load()) < w.busyAfter {
			return nil // a write on its way: the next batch queues behind it
		}
		return media.ErrOutputBusy
	}
	return w.failure()
}

// tryWrite writes what the socket takes of b without waiting.
func (w *writer) tryWrite(b []byte) (int, error) {
	w.rawBuf, w.rawN, w.rawErr = b, 0, nil
	err := w.raw.Write(w.rawFn)
	n, werr := w.rawN, w.rawErr
	w.rawBuf, w.rawErr = nil, nil
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, nil // the socket refuses writes now; the background write sets its own deadline
	case err != nil:
		return n, err
	}
	return n, werr
}

// flush writes out[off:] until nothing is left or writing fails. Its
// deadline is the write timeout after the socket first refused the oldest
// of the bytes (when they were queued; without a socket to try at once,
// when this goroutine first tries), and at least a frame from its first
// try: a goroutine that an overloaded process ran late must not take its
// own delay for the peer's.
func (w *writer) flush() {
	w.mu.Lock()
	first := true
	for w.err == nil && w.off < len(w.out) {
		chunk, deadline := w.out[w.off:], w.since.Add(w.timeout)
		if first {
			first = false
			now := time.Now()
			if w.raw == nil {
				deadline = now.Add(w.timeout)
			}
			deadline = later(deadline, now.Add(busyAfter))
		}
		w.mu.Unlock()
		err := w.nc.SetWriteDeadline(deadline)
		n := 0
		if err == nil {
			n, err = w.nc.Write(chunk)
		}
		w.mu.Lock()
		w.off += n
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("%w: %d bytes unwritten after %v", ErrPeerStalled, len(w.out)-w.off, w.timeout)
				if w.stalls != nil {
					w.stalls.Inc()
				}
			}
			w.failLocked(err)
		}
	}
	if w.err == nil {
		w.out, w.off = w.out[:0], 0
		if w.raw != nil {
			// A deadline left behind would refuse the next direct write
			// once it passed. Cleared under the lock, so it cannot clear
			// the deadline of a background write started after this one.
			_ = w.nc.SetWriteDeadline(time.Time{}) // an error here shows on the next write
		}
		w.state.Store(writerReady)
	}
	w.flushing = false
	w.idle.Broadcast()
	w.mu.Unlock()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// waitIdle waits until no background write runs.
func (w *writer) waitIdle() {
	w.mu.Lock()
	for w.flushing {
		w.idle.Wait()
	}
	w.mu.Unlock()
}

func (w *writer) failLocked(err error) {
	if w.err == nil {
		w.err = err
	}
	w.state.Store(writerFailed)
}

// failure returns the error the writer failed with.
func (w *writer) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// WebSocket frames a server sends (RFC 6455 5.2): final, unmasked.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// appendFrameHeader appends the header of a final, unmasked frame of opcode
// op carrying n bytes.
//
//nolint:gosec // G115: n is a length, never negative; each byte takes its own 8 bits of it.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	switch {
	case n < 126:
		return append(dst, 0x80|op, byte(n))
	case n < 1<<16:
		return append(dst, 0x80|op, 126, byte(n>>8), byte(n))
	}
	return append(dst, 0x80|op, 127, byte(uint64(n)>>56), byte(uint64(n)>>48), byte(uint64(n)>>40), byte(uint64(n)>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// controlFrame returns a new control frame carrying payload (at most 125 bytes).
func controlFrame(op byte, payload []byte) []byte {
	payload = payload[:min(len(payload), 125)]
	return append(appendFrameHeader(make([]byte, 0, 2+len(payload)), op, len(payload)), payload...)
}
