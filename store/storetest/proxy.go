package storetest

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a real server that a test can cut and
// restore, so no test ever stops the shared server. Cut closes the listener
// and every connection (the client sees resets, then refused dials); Stall
// forwards nothing more, on open connections or new ones, without closing
// any (the client sees a server that does not answer); Restore closes what
// is open and forwards again on the same address.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	stall bool
	thaw  *sync.Cond // signalled when stall ends
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to target on a loopback port; the test's cleanup cuts it.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.thaw = sync.NewCond(&p.mu)
	p.serve(ln)
	t.Cleanup(p.Cut)
	return p
}

// Addr is where clients connect.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.handle(c)
		}
	}()
}

func (p *Proxy) handle(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		_ = c.Close()
		return
	}
	p.conns[c] = struct{}{}
	if p.stall {
		return // held open, never answered, closed by Cut or Restore
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		delete(p.conns, c)
		_ = c.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer p.wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				for p.stall {
					p.thaw.Wait()
				}
				p.mu.Unlock()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = dst.Close()
		_ = src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}
	go pipe(up, c)
	go pipe(c, up)
}

// Cut closes the listener and every connection, and waits for the
// proxy's goroutines. It is idempotent.
func (p *Proxy) Cut() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	p.closeConnsLocked()
	p.mu.Unlock()
	p.wg.Wait()
}

// Stall stops forwarding: bytes sent are held, new connections accepted and
// left unanswered.
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.stall = true
	p.mu.Unlock()
}

// Restore forwards again, on the same address.
func (p *Proxy) Restore() {
	p.t.Helper()
	p.mu.Lock()
	p.closeConnsLocked()
	listening := p.ln != nil
	p.mu.Unlock()
	if listening {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// closeConnsLocked closes every connection and ends a stall, so that the
// goroutines holding bytes wake up and find their connections closed.
func (p *Proxy) closeConnsLocked() {
	p.stall = false
	p.thaw.Broadcast()
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}
