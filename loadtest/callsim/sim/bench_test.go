package sim

import (
	"bytes"
	"encoding/base64"
	"io"
	"testing"
	"time"
)

// discardConn is a connection that accepts every write.
type discardConn struct{}

func (discardConn) NextReader() (int, io.Reader, error)       { return 0, nil, io.EOF }
func (discardConn) WriteMessage(int, []byte) error            { return nil }
func (discardConn) WriteControl(int, []byte, time.Time) error { return nil }
func (discardConn) SetReadDeadline(time.Time) error           { return nil }
func (discardConn) SetWriteDeadline(time.Time) error          { return nil }
func (discardConn) Close() error                              { return nil }

// BenchmarkFrame is the simulator's own work for one call and one 20 ms
// tick: advance the conversation, pick the frame, build its JSON and hand it
// to the connection (the write syscall itself excluded). It must not allocate.
func BenchmarkFrame(b *testing.B) {
	cfg := Config{CallTimeout: time.Hour, GreetingTimeout: time.Hour}.withDefaults()
	lib, err := loadLibrary(nil, cfg.Script, 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	col := &collector{}
	c := newCall(1, &cfg, lib, col, 1)
	c.conn = discardConn{}
	s := &shard{col: col}
	if err := c.begin(time.Now()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if s.service(c) {
			b.Fatal("call ended")
		}
	}
}

// BenchmarkReceive is the reader's work for one 100 ms media message from the
// server: parse, decode, queue for playout, measure jitter. It must not
// allocate.
func BenchmarkReceive(b *testing.B) {
	cfg := Config{}.withDefaults()
	lib, err := loadLibrary(nil, cfg.Script, 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	c := newCall(1, &cfg, lib, &collector{}, 1)
	c.conn = discardConn{}
	msg := []byte(`{"event":"media","media":{"payload":"` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xFF}, 5*frameBytes)) + `"}}`)
	var rs readScratch
	now := time.Now()
	if err := c.begin(now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(100 * time.Millisecond)
		c.handle(now, msg, &rs)
	}
	if c.res.MediaReceived == 0 || c.res.Notes != nil {
		b.Fatalf("media not handled: %+v", c.res.Notes)
	}
}
