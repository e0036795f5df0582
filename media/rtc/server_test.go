package rtc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// listen adds a client listening to call and connects it.
func listen(t *testing.T, s *Server, call Call, sides bool, owner string) (*client, *Peer) {
	t.Helper()
	n := 1
	if sides {
		n = 2
	}
	c, offer := newClient(t, n)
	l, answer, err := s.Listen(t.Context(), call, offer, ListenOptions{Sides: sides, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(answer, "opus") || !strings.Contains(answer, "PCMU/8000") {
		t.Fatalf("the answer is not PCMU only:\n%s", answer)
	}
	if !strings.Contains(answer, "a=candidate:") || !strings.Contains(answer, "end-of-candidates") {
		t.Fatalf("the answer does not carry its gathered candidates:\n%s", answer)
	}
	c.answer(answer)
	c.waitState(webrtc.PeerConnectionStateConnected, 10*time.Second)
	waitConnected(t, l)
	return c, l
}

// waitConnected waits for the server's end of l to be connected: the
// client may see its end connected first.
func waitConnected(t *testing.T, l *Peer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !l.isConnected() {
		if time.Now().After(deadline) {
			t.Fatal("the server's end never connected")
		}
		time.Sleep(5 * time.Millisecond) //nolint:forbidigo // polling a state pion reports on its own goroutine
	}
}

// TestAListenerHearsTheMixedCallUntilItDeletesIt: by default a listener
// gets one PCMU track, both sides mixed, in 20 ms packets with the
// call's audio in them; deleting it closes it, and the call's last
// listener leaving takes the tap off the call and leaves no goroutine.
func TestAListenerHearsTheMixedCallUntilItDeletesIt(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := testServer(t, nil)
	call := newFakeCall("call-1")
	defer call.end()
	stop := call.play(t.Context(), 440, 0)

	c, l := listen(t, s, call, false, "alice")
	st := c.waitPackets(trackMixed, 50, 10*time.Second)
	if st.MimeType != webrtc.MimeTypePCMU || st.PayloadType != 0 || st.OddSizes != 0 {
		t.Errorf("track %s, payload type %d, %d packets not 160 bytes: want PCMU, 0, none", st.MimeType, st.PayloadType, st.OddSizes)
	}
	if ids := c.TrackIDs(); len(ids) != 1 {
		t.Errorf("tracks %v: strict WHEP is one audio track", ids)
	}
	// The caller's tone at -6 dB: an amplitude of 4000, RMS about 2830.
	if r := rms(st.PCM[len(st.PCM)-4000:]); r < 2000 || r > 3500 {
		t.Errorf("mixed RMS %.0f, want about 2830 (the caller's tone at half level)", r)
	}

	if err := s.Delete(l.ID(), "mallory"); !errors.Is(err, ErrSessionNotFound) {
		t.Errorf("another owner's delete: %v, want ErrSessionNotFound", err)
	}
	if err := s.Delete("0123456789abcdef0123456789abcdef", "alice"); !errors.Is(err, ErrSessionNotFound) {
		t.Errorf("a guessed id: %v, want ErrSessionNotFound", err)
	}
	if err := s.Delete(l.ID(), "alice"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	default:
		t.Error("Delete returned before the listener had ended")
	}
	c.waitState(webrtc.PeerConnectionStateClosed, 10*time.Second) // DTLS close_notify reached the client
	if n := s.Listeners(); n != 0 {
		t.Errorf("%d listeners left", n)
	}
	if call.currentTap() != nil {
		t.Error("the call still has a tap with nobody listening")
	}
	if err := s.Delete(l.ID(), "alice"); !errors.Is(err, ErrSessionNotFound) {
		t.Errorf("a second delete: %v", err)
	}
	c.close()
	call.end()
	<-stop
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
}

// TestSidesSendTheCallerAndTheAgentApart: with Sides, two tracks: the
// caller's tone on one, the agent's on the other, and nothing of one in
// the other.
func TestSidesSendTheCallerAndTheAgentApart(t *testing.T) {
	s := testServer(t, nil)
	call := newFakeCall("call-2")
	defer call.end()
	call.play(t.Context(), 440, 1200)
	c, _ := listen(t, s, call, true, "alice")
	caller := c.waitPackets(trackCaller, 100, 10*time.Second)
	agent := c.waitPackets(trackAgent, 100, 10*time.Second)
	cp, ap := caller.PCM[len(caller.PCM)-8000:], agent.PCM[len(agent.PCM)-8000:]
	if r := rms(cp); r < 5000 {
		t.Errorf("caller track RMS %.0f: want the caller's tone (about 5660)", r)
	}
	if r := rms(ap); r < 5000 {
		t.Errorf("agent track RMS %.0f: want the agent's tone, with no gap (about 5660)", r)
	}
	if goertzel(cp, 440) < 100*goertzel(cp, 1200) {
		t.Error("the caller track holds the agent's tone")
	}
	if goertzel(ap, 1200) < 100*goertzel(ap, 440) {
		t.Error("the agent track holds the caller's tone")
	}
}

// TestTheCallsEndClosesItsListeners: a listener left open when the call
// ends is closed, with its monitor, and nothing is left running.
func TestTheCallsEndClosesItsListeners(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := testServer(t, nil)
	call := newFakeCall("call-3")
	stop := call.play(t.Context(), 440, 0)
	c1, l1 := listen(t, s, call, false, "alice")
	c2, l2 := listen(t, s, call, true, "bob")
	c1.waitPackets(trackMixed, 10, 10*time.Second)
	c2.waitPackets(trackCaller, 10, 10*time.Second)

	call.end()
	for _, l := range []*Peer{l1, l2} {
		select {
		case <-l.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("a listener outlived its call")
		}
	}
	c1.waitState(webrtc.PeerConnectionStateClosed, 10*time.Second)
	if n := s.Listeners(); n != 0 {
		t.Errorf("%d listeners left", n)
	}
	late, offer := newClient(t, 1)
	if _, _, err := s.Listen(t.Context(), call, offer, ListenOptions{}); !errors.Is(err, ErrCallEnded) {
		t.Errorf("listening to an ended call: %v, want ErrCallEnded", err)
	}
	late.close()
	<-stop
	c1.close()
	c2.close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
}

func mustOffer(t *testing.T, n int) string {
	t.Helper()
	_, offer := newClient(t, n)
	return offer
}

// TestListenersAreLimited: per call and per node, with typed errors.
func TestListenersAreLimited(t *testing.T) {
	s := testServer(t, func(c *Config) { c.MaxListeners, c.MaxListenersPerCall = 2, 1 })
	a, b, c := newFakeCall("a"), newFakeCall("b"), newFakeCall("c")
	defer a.end()
	defer b.end()
	defer c.end()
	if _, _, err := s.Listen(t.Context(), a, mustOffer(t, 1), ListenOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Listen(t.Context(), a, mustOffer(t, 1), ListenOptions{})
	var ce *CapacityError
	if !errors.As(err, &ce) || !ce.PerCall || !errors.Is(err, ErrCapacity) {
		t.Errorf("a second listener of a call: %v, want the per-call CapacityError", err)
	}
	if _, _, err := s.Listen(t.Context(), b, mustOffer(t, 1), ListenOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Listen(t.Context(), c, mustOffer(t, 1), ListenOptions{})
	if !errors.As(err, &ce) || ce.PerCall {
		t.Errorf("a third listener on the node: %v, want the node's CapacityError", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Listen(t.Context(), c, mustOffer(t, 1), ListenOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

// manualTimers replaces time.AfterFunc: the test fires the deadlines.
type manualTimers struct {
	mu     sync.Mutex
	timers []*manualTimer
}

type manualTimer struct {
	d       time.Duration
	f       func()
	stopped atomic.Bool
}

func (m *manualTimers) afterFunc(d time.Duration, f func()) stopper {
	m.mu.Lock()
	defer m.mu.Unlock()
	tm := &manualTimer{d: d, f: f}
	m.timers = append(m.timers, tm)
	return tm
}

func (t *manualTimer) Stop() bool { return !t.stopped.Swap(true) }

// fire runs every timer not stopped, as if their time had come.
func (m *manualTimers) fire() int {
	m.mu.Lock()
	ts := append([]*manualTimer(nil), m.timers...)
	m.mu.Unlock()
	n := 0
	for _, tm := range ts {
		if !tm.stopped.Load() {
			tm.f()
			n++
		}
	}
	return n
}

// TestAListenerThatNeverConnectsIsClosedAtTheHandshakeDeadline: an offer
// whose player never starts ICE holds a listener until the deadline, then
// nothing; a connected listener's deadline is stopped.
func TestAListenerThatNeverConnectsIsClosedAtTheHandshakeDeadline(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	timers := &manualTimers{}
	s := testServer(t, func(c *Config) { c.HandshakeTimeout = 7 * time.Second })
	s.afterFunc = timers.afterFunc
	call := newFakeCall("call-4")
	defer call.end()

	connected, _ := listen(t, s, call, false, "alice")
	silent, offer := newClient(t, 1)
	l, _, err := s.Listen(t.Context(), call, offer, ListenOptions{Owner: "bob"}) // the answer is never given to the client
	if err != nil {
		t.Fatal(err)
	}
	if s.Listeners() != 2 {
		t.Fatalf("%d listeners, want 2", s.Listeners())
	}
	if d := timers.timers[1].d; d != 7*time.Second {
		t.Errorf("handshake deadline %v, want the configured 7s", d)
	}
	if n := timers.fire(); n != 1 {
		t.Errorf("%d deadlines fired, want only the unconnected listener's", n)
	}
	select {
	case <-l.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the unconnected listener outlived its deadline")
	}
	if s.Listeners() != 1 {
		t.Errorf("%d listeners, want the connected one", s.Listeners())
	}
	silent.close()
	connected.close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
}

// TestAListenerWhosePeerVanishesIsClosed: a peer that stops answering
// (a closed laptop) fails ICE consent and its listener is closed; the
// call's other listener keeps hearing.
func TestAListenerWhosePeerVanishesIsClosed(t *testing.T) {
	s := testServer(t, func(c *Config) {
		c.ICEDisconnected, c.ICEFailed, c.ICEKeepalive = 300*time.Millisecond, 300*time.Millisecond, 100*time.Millisecond
	})
	call := newFakeCall("call-5")
	defer call.end()
	call.play(t.Context(), 440, 0)
	stays, _ := listen(t, s, call, false, "alice")
	gone, l := listen(t, s, call, false, "bob")
	gone.waitPackets(trackMixed, 5, 10*time.Second)
	// Close the client's ICE without telling the server (no DTLS close_notify).
	for _, tr := range gone.PeerConnection().GetTransceivers() {
		_ = tr.Stop()
	}
	if err := gone.PeerConnection().SCTP().Transport().ICETransport().Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the vanished peer's listener was not closed")
	}
	before := stays.Track(trackMixed).Packets
	stays.waitPackets(trackMixed, before+25, 5*time.Second)
}

// TestPerListenerCost measures what one connected listener holds on the
// server: goroutines (pion's and ours), told from the client's by the
// profiler label they inherit from the call that started them, and heap
// (server and client together: both ends run in this process).
func TestPerListenerCost(t *testing.T) {
	if testing.Short() {
		t.Skip("a measurement")
	}
	s := testServer(t, func(c *Config) { c.MaxListenersPerCall = 20 })
	call := newFakeCall("call-6")
	defer call.end()
	call.play(t.Context(), 440, 440)
	listen(t, s, call, false, "warm-up") // the monitor and pion's one-time state
	const n = 10
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	clients := make([]*client, n)
	for i := range clients {
		var c *client
		var offer string
		pprof.Do(t.Context(), pprof.Labels("side", "client"), func(context.Context) { c, offer = newClient(t, 1) })
		var answer string
		pprof.Do(t.Context(), pprof.Labels("side", "server"), func(ctx context.Context) {
			var err error
			if _, answer, err = s.Listen(ctx, call, offer, ListenOptions{}); err != nil {
				t.Fatal(err)
			}
		})
		pprof.Do(t.Context(), pprof.Labels("side", "client"), func(context.Context) { c.answer(answer) })
		c.waitState(webrtc.PeerConnectionStateConnected, 10*time.Second)
		clients[i] = c
	}
	for _, c := range clients {
		c.waitPackets(trackMixed, 10, 10*time.Second)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	server, client := labelledGoroutines(t, `"side":"server"`), labelledGoroutines(t, `"side":"client"`)
	t.Logf("per listener: %.1f server goroutines (%.1f client, %.1f in all); %.0f KiB heap for server and client together",
		float64(server)/n, float64(client)/n, float64(runtime.NumGoroutine()-g0)/n, float64(after.HeapAlloc-before.HeapAlloc)/n/1024)
}

// labelledGoroutines counts the goroutines whose labels include label.
func labelledGoroutines(t *testing.T, label string) int {
	t.Helper()
	var b strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, rec := range strings.Split(b.String(), "\n\n") {
		if !strings.Contains(rec, label) {
			continue
		}
		var count int
		if _, err := fmt.Sscanf(rec, "%d @", &count); err == nil {
			total += count
		}
	}
	return total
}

// TestAnswersAdvertiseThePublicAddress: behind 1:1 NAT the answer's
// candidates carry the configured public address, on the one UDP port,
// instead of the host's own.
func TestAnswersAdvertiseThePublicAddress(t *testing.T) {
	s := testServer(t, func(c *Config) {
		c.ListenIP, c.Loopback = netip.Addr{}, false
		c.PublicIPs = []netip.Addr{netip.MustParseAddr("203.0.113.7")}
	})
	call := newFakeCall("call-7")
	defer call.end()
	_, offer := newClient(t, 1)
	_, answer, err := s.Listen(t.Context(), call, offer, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cands []string
	for _, line := range strings.Split(answer, "\n") {
		if strings.HasPrefix(line, "a=candidate:") && strings.Contains(line, " udp ") {
			cands = append(cands, strings.TrimSpace(line))
		}
	}
	found := false
	for _, c := range cands {
		f := strings.Fields(c) // a=candidate:<foundation> <component> udp <priority> <address> <port> typ <type>
		if len(f) < 8 {
			t.Fatalf("candidate %q", c)
		}
		addr, port, typ := netip.MustParseAddr(f[4]), f[5], f[7]
		switch {
		case addr.String() == "203.0.113.7" && port == fmt.Sprint(s.Addr().Port()) && typ == "host":
			found = true
		case addr.Is4() && typ == "host":
			t.Errorf("the host's own IPv4 address is advertised: %s", c)
		}
	}
	if !found {
		t.Errorf("no host candidate 203.0.113.7 port %d in the answer: %v", s.Addr().Port(), cands)
	}
}
