package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
)

func TestPickIsRoundRobinOverReadyBackends(t *testing.T) {
	p, err := newPool([]string{"a", "b", "c"}, []string{"ia", "ib", "ic"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range p.backends {
		b.up.Store(true)
	}
	var got []string
	for range 6 {
		got = append(got, p.pick(kindHTTP, nil).addr)
	}
	if s := strings.Join(got, ""); s != "abcabc" {
		t.Errorf("picks %q, want abcabc", s)
	}
	// WebSocket streams have their own turn: each kind goes round all nodes.
	if b := p.pick(kindWebSocket, nil); b.addr != "a" {
		t.Errorf("first stream to %s, want a", b.addr)
	}

	p.backends[1].up.Store(false) // b not ready
	got = got[:0]
	for range 4 {
		got = append(got, p.pick(kindHTTP, nil).addr)
	}
	if s := strings.Join(got, ""); strings.Contains(s, "b") || strings.Count(s, "a") != 2 {
		t.Errorf("picks %q with b not ready, want a and c in turn", s)
	}

	// A node already tried for this request is skipped.
	if b := p.pick(kindHTTP, func(b *backend) bool { return b.addr != "c" }); b == nil || b.addr != "c" {
		t.Errorf("pick skipping a and b = %v, want c", b)
	}
	for _, b := range p.backends {
		b.up.Store(false)
	}
	if b := p.pick(kindHTTP, nil); b != nil {
		t.Errorf("pick with no node ready = %s, want none", b.addr)
	}
}

func TestNewPoolWantsOneReadyAddressPerBackend(t *testing.T) {
	if _, err := newPool([]string{"a", "b"}, []string{"ia"}); err == nil {
		t.Error("2 backends and 1 ready address accepted")
	}
	if _, err := newPool(nil, nil); err == nil {
		t.Error("no backends accepted")
	}
	if got := splitList(" a, ,b,"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("splitList = %q", got)
	}
}

// readyServer answers /readyz with 200 while ok holds, 503 otherwise.
func readyServer(t *testing.T, ok *atomic.Bool) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ok.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func TestCheckAllFollowsReadyz(t *testing.T) {
	var okA, okB atomic.Bool
	okA.Store(true)
	p, err := newPool([]string{"a", "b", "c"}, []string{readyServer(t, &okA), readyServer(t, &okB), closedAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	changed := p.checkAll(t.Context(), http.DefaultClient)
	if !p.backends[0].up.Load() || p.backends[1].up.Load() || p.backends[2].up.Load() {
		t.Fatalf("after a check: up = %v %v %v, want true false false", p.backends[0].up.Load(), p.backends[1].up.Load(), p.backends[2].up.Load())
	}
	if !changed[0] || changed[1] || changed[2] {
		t.Errorf("changed = %v, want only the first", changed)
	}
	okA.Store(false)
	okB.Store(true)
	p.checkAll(t.Context(), http.DefaultClient)
	if p.backends[0].up.Load() || !p.backends[1].up.Load() {
		t.Error("readiness not followed")
	}
	if d := p.backends[0].downs.Load(); d != 1 {
		t.Errorf("a went down %d times, want 1", d)
	}
}

// closedAddr is an address whose connections are refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestARefusedConnectionGoesToTheNextNode(t *testing.T) {
	var got atomic.Value
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		_, _ = io.WriteString(w, "from live")
	}))
	defer live.Close()
	dead := closedAddr(t)
	p, err := newPool([]string{dead, strings.TrimPrefix(live.URL, "http://")}, []string{"x", "y"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range p.backends {
		b.up.Store(true)
	}
	bl := newBalancer(p, slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	bl.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/webhooks/telnyx", bytes.NewReader([]byte(`{"a":1}`))))
	if rec.Code != http.StatusOK || rec.Body.String() != "from live" {
		t.Fatalf("answer %d %q, want 200 from the live node", rec.Code, rec.Body.String())
	}
	if b, _ := got.Load().(string); b != `{"a":1}` {
		t.Errorf("the live node got body %q", b)
	}
	if p.backends[0].up.Load() || p.backends[0].refused.Load() != 1 {
		t.Errorf("the refusing node: up %v, refused %d; want out, 1", p.backends[0].up.Load(), p.backends[0].refused.Load())
	}

	// Nothing ready: 503, counted.
	p.backends[1].up.Store(false)
	rec = httptest.NewRecorder()
	bl.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable || p.noBackend.Load() != 1 {
		t.Errorf("with no node ready: %d, no_backend %d; want 503, 1", rec.Code, p.noBackend.Load())
	}
	st := p.stats()
	if st.Backends[1].Requests != 1 || st.Backends[0].Requests != 1 || st.NoBackend != 1 {
		t.Errorf("stats %+v", st)
	}
	var out bytes.Buffer
	st.print(&out)
	if !strings.Contains(out.String(), "no ready backend: 1") {
		t.Errorf("printed stats:\n%s", out.String())
	}
}

func TestWebSocketsPassAndAreCounted(t *testing.T) {
	up := websocket.Upgrader{}
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		for {
			mt, m, err := c.ReadMessage()
			if err != nil || c.WriteMessage(mt, m) != nil {
				return
			}
		}
	}))
	defer echo.Close()
	p, err := newPool([]string{strings.TrimPrefix(echo.URL, "http://")}, []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	p.backends[0].up.Store(true)
	front := httptest.NewServer(newBalancer(p, slog.New(slog.DiscardHandler)))
	defer front.Close()
	c, res, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(front.URL, "http")+"/media/telnyx", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	defer func() { _ = c.Close() }()
	if err := c.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, m, err := c.ReadMessage(); err != nil || string(m) != "hello" {
		t.Fatalf("echo %q, %v", m, err)
	}
	if n := p.backends[0].websockets.Load(); n != 1 {
		t.Errorf("websockets = %d, want 1", n)
	}
}
