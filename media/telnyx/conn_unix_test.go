//go:build unix

package telnyx

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iace/iace/media"
)

// tcpPair connects over loopback TCP. With small, the socket buffers on both
// sides are 4 KiB, so that a peer that does not read fills them at once.
func tcpPair(t testing.TB, small bool, cfg ConnConfig, m *Metrics) (*Conn, *websocket.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		if !small {
			return nil
		}
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) }); err != nil {
			return err
		}
		return serr
	}}
	client, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if small {
		if err := server.(*net.TCPConn).SetWriteBuffer(4096); err != nil {
			t.Fatal(err)
		}
	}
	c, peer := wsPair(t, server, client, cfg, m)
	if c.w.raw == nil {
		t.Fatal("a TCP connection should be written to directly")
	}
	return c, peer
}

// TestConnFlushNeverWaitsOnAPeerThatDoesNotRead fills the socket of a peer
// that does not read: every Flush returns at once (the test would hang
// otherwise), the bytes the socket does not take are written in the
// background, the connection says it is busy meanwhile, and once the peer
// reads again everything arrives whole and in order.
func TestConnFlushNeverWaitsOnAPeerThatDoesNotRead(t *testing.T) {
	m := NewMetrics(nil)
	c, peer := tcpPair(t, true, testConnConfig(time.Hour), m)
	c.w.busyAfter = 0 // busy as soon as bytes wait
	sent := 0
	for c.Ready() == nil {
		if sent == 10000 {
			t.Fatal("10,000 messages to a peer that does not read, and the connection never got busy")
		}
		if err := c.WriteAudio(numbered(sent)); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	if err := c.Ready(); !errors.Is(err, media.ErrOutputBusy) {
		t.Fatalf("Ready: %v, want busy", err)
	}
	if sent < 2 {
		t.Fatalf("busy after %d messages: the socket should have taken a few KiB first", sent)
	}
	// A flush while busy queues behind the background write (the pacer
	// does not do this, pongs and the close frame do), in order.
	if err := c.WriteMark("queued"); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}

	nums, events := readFrames(t, peer, sent)
	for i, n := range nums {
		if n != i {
			t.Fatalf("media frame %d carries %d: out of order", i, n)
		}
	}
	c.w.waitIdle()
	if err := c.Ready(); err != nil {
		t.Fatalf("Ready after the peer caught up: %v", err)
	}
	// The connection writes directly again, after the queued mark.
	_ = c.WriteClear()
	_ = c.WriteAudio(numbered(sent))
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(); err != nil {
		t.Errorf("Ready after a batch the empty socket takes: %v, want it written directly", err)
	}
	more, evs := readFrames(t, peer, 1)
	events = append(events, evs...)
	if more[0] != sent || len(events) != sent+3 || events[sent] != "mark:queued" || events[sent+1] != "clear" {
		t.Fatalf("after catching up: %v %v", more, events[sent:])
	}
	if got := testutil.ToFloat64(m.framesOut); got != float64(sent+3) {
		t.Errorf("messages_out_total %v, want %d", got, sent+3)
	}
}

// BenchmarkConnFlush100ms is one pacer batch, 100 ms of PCMU, written to a
// loopback TCP peer that drains it: directly (the socket takes it), or
// handed to a background write, as for a connection that offers no socket.
// cpu-ns/op is the process's CPU time per batch, the peer's reading
// included: the background write's goroutine runs on another core.
func BenchmarkConnFlush100ms(b *testing.B) {
	for _, direct := range []bool{true, false} {
		name := "direct"
		if !direct {
			name = "background"
		}
		b.Run(name, func(b *testing.B) {
			c, peer := tcpPair(b, false, testConnConfig(time.Minute), NewMetrics(nil))
			if !direct {
				c.w.raw = nil
			}
			raw := peer.NetConn()
			done := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, raw); close(done) }()
			audio := numbered(0)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				for c.Ready() != nil {
					c.w.waitIdle()
				}
				_ = c.WriteAudio(audio)
				if err := c.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			c.w.waitIdle()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			_ = raw.Close()
			<-done
		})
	}
}

// cpuTime is the CPU the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
