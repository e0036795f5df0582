//go:build unix && !race

// The race detector changes what allocates, and makes sync.Pool drop what
// it is given at random, so this guard runs without it (make test runs it
// in a separate pass).

package telnyx

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestConnWriteAllocs: a steady call's batches, written directly
// or in the background, allocate nothing, and no buffer stays with the
// call between them.
func TestConnWriteAllocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		pair func(*testing.T) (*Conn, net.Conn)
		big  bool
	}{
		{"direct", func(t *testing.T) (*Conn, net.Conn) {
			c, peer := tcpPair(t, false, testConnConfig(time.Minute), NewMetrics(nil))
			return c, peer.NetConn()
		}, false},
		{"direct, chunks of 4 KB", func(t *testing.T) (*Conn, net.Conn) {
			c, peer := tcpPair(t, false, testConnConfig(time.Minute), NewMetrics(nil))
			return c, peer.NetConn()
		}, true},
		{"background", func(t *testing.T) (*Conn, net.Conn) {
			// TCP, not a pipe: a pipe's deadlines allocate a timer each.
			c, peer := tcpPair(t, false, testConnConfig(time.Minute), NewMetrics(nil))
			c.w.raw = nil // as for a connection that offers no socket
			return c, peer.NetConn()
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := tc.pair(t)
			var wg sync.WaitGroup
			wg.Go(func() { _, _ = io.Copy(io.Discard, peer) })
			defer wg.Wait()
			defer func() { _ = peer.Close() }()
			audio := numbered(0) // 100 ms of PCMU
			if tc.big {
				// 100 ms of L16 at 16 kHz: every batch is over newBatch.
				audio = bytes.Repeat(audio, 4)
			}
			batch := func() {
				for c.Ready() != nil {
					c.w.waitIdle()
				}
				_ = c.WriteAudio(audio)
				_ = c.WriteMark("utterance-12-end")
				_ = c.Keepalive()
				if err := c.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			for range 100 {
				batch()
			}
			if n := testing.AllocsPerRun(1000, batch); n != 0 {
				t.Errorf("%v allocations per batch", n)
			}
			if c.batch != nil || c.box != nil {
				t.Errorf("between ticks the Conn keeps a batch buffer of %d bytes, want none", cap(c.batch))
			}
		})
	}
}
