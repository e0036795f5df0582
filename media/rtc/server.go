package rtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Server holds the node's WebRTC listeners. One pion API serves them all:
// a MediaEngine with PCMU alone (so every answer is PCMU and the call's
// G.711 goes out untranscoded), one ICE UDP mux on Config.UDPPort, and the
// RTCP report interceptors. pion copies the MediaEngine into each
// PeerConnection and builds its interceptors per PeerConnection, so
// sharing the API is safe.
type Server struct {
	cfg     Config
	api     *webrtc.API
	mux     ice.UDPMux
	addr    netip.AddrPort
	log     *slog.Logger
	metrics *metrics
	// afterFunc runs f after d unless stopped: time.AfterFunc, replaced in
	// tests to fire handshake deadlines on demand.
	afterFunc func(d time.Duration, f func()) stopper

	mu       sync.Mutex
	closed   bool
	monitors map[string]*Monitor // by call id
	peers    map[string]*Peer    // listeners and talkers, by session id
	wg       sync.WaitGroup      // monitors' goroutines, listeners' asynchronous closes
}

// stopper stops a pending timer (*time.Timer implements it).
type stopper interface{ Stop() bool }

// ListenOptions are one listener's choices.
type ListenOptions struct {
	// Sides sends the caller and the agent as two tracks instead of one
	// mixed track. Strict WHEP allows one audio track per session (one
	// MediaStream may not hold two tracks of a kind), so this is an
	// extension: the offer must have two audio sections.
	Sides bool
	// Owner is who may end the session (Delete); opaque to the server.
	Owner string
	// Log receives the listener's start and end lines; it should carry
	// the call and the user, never personal data. nil: the server's.
	Log *slog.Logger
}

// NewServer binds the UDP port and builds the shared API. Its metrics are
// registered on reg (nil: not registered); Close releases the port.
func NewServer(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: codecMimeType, ClockRate: 8000},
		PayloadType:        0, // PCMU's static payload type (RFC 3551 table 4)
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("rtc: register PCMU: %w", err)
	}
	// Sender and receiver reports only: NACK, TWCC and the rest serve video.
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("rtc: interceptors: %w", err)
	}

	laddr := &net.UDPAddr{Port: cfg.UDPPort} // every interface, of each family the host has
	if cfg.ListenIP.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.ListenIP, uint16(cfg.UDPPort))) //nolint:gosec // G115: validated 0..65535
	}
	conn, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("rtc: udp port: %w", err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort() //nolint:forcetypeassert // a UDP listener's address
	logs := &pionLogs{log: log}

	se := webrtc.SettingEngine{LoggerFactory: logs}
	mux := webrtc.NewICEUDPMux(logs.NewLogger("udpmux"), conn)
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetIncludeLoopbackCandidate(cfg.Loopback)
	// Browsers hide their host addresses behind mDNS names; with mDNS off
	// those candidates are dropped and the browser's checks reach us as
	// peer-reflexive candidates, which is all a server with reachable
	// candidates needs, and saves a multicast socket per PeerConnection.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(cfg.ICEDisconnected, cfg.ICEFailed, cfg.ICEKeepalive)
	if len(cfg.PublicIPs) > 0 {
		ext := make([]string, len(cfg.PublicIPs))
		for i, p := range cfg.PublicIPs {
			ext[i] = p.String()
		}
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: ext, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			_ = mux.Close()
			return nil, fmt.Errorf("rtc: public ips: %w", err)
		}
	}
	s := &Server{
		cfg: cfg, mux: mux, addr: addr, log: log, metrics: newMetrics(reg),
		api:       webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir)),
		afterFunc: func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) },
		monitors:  make(map[string]*Monitor),
		peers:     make(map[string]*Peer),
	}
	return s, nil
}

// Addr is the UDP address the server's media goes through.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Listen adds a listener to call: it answers offer (a WHEP player's SDP
// offer, recvonly audio) once ICE gathering is complete, since the server
// does not trickle. The answer sends PCMU only: the mixed track, or the
// two sides with opt.Sides. The listener is closed by Delete, when the
// call ends, when ICE fails or the peer closes, when it is not connected
// within Config.HandshakeTimeout, and by Close.
func (s *Server) Listen(ctx context.Context, call Call, offer string, opt ListenOptions) (*Peer, string, error) {
	_, answer, l, err := s.open(ctx, call.ID(), call.Done(), offer, CheckOffer(offer, opt.Sides), opt.Log, func(l *Peer) error {
		m := s.monitors[call.ID()]
		if m != nil && len(m.listeners) >= s.cfg.MaxListenersPerCall {
			return &CapacityError{PerCall: true, Limit: s.cfg.MaxListenersPerCall}
		}
		if m == nil {
			var err error
			if m, err = newMonitor(s, call); err != nil {
				return err
			}
			s.monitors[call.ID()] = m
			s.metrics.monitors.Inc()
			s.wg.Add(1)
			go func() { // owned by the server: Close waits for it
				defer s.wg.Done()
				m.run()
			}()
		}
		l.mon, l.owner, l.sides = m, opt.Owner, opt.Sides
		m.listeners[l.id] = l
		s.metrics.listeners.Inc()
		return nil
	})
	return l, answer, err
}

// open sets up one peer of a call: the offer checked (checked, its
// error), the call not ended, the peer reserved within the node's limit
// and by reserve (under s.mu; it makes the peer a listener or a talker),
// its PeerConnection answering. A peer that cannot start is closed;
// reserved tells whether it was reserved.
func (s *Server) open(ctx context.Context, callID string, done <-chan struct{}, offer string, checked error, log *slog.Logger,
	reserve func(*Peer) error) (reserved bool, answer string, l *Peer, err error) {
	if checked != nil {
		return false, "", nil, checked
	}
	select {
	case <-done:
		return false, "", nil, ErrCallEnded
	default:
	}
	id, err := newSessionID()
	if err != nil {
		return false, "", nil, err
	}
	if log == nil {
		log = s.log.With("call_id", callID)
	}
	l = &Peer{id: id, srv: s, log: log, started: time.Now(), done: make(chan struct{})}
	s.mu.Lock()
	switch {
	case s.closed:
		err = ErrClosed
	case len(s.peers) >= s.cfg.MaxListeners:
		err = &CapacityError{Limit: s.cfg.MaxListeners}
	default:
		err = reserve(l)
	}
	if err != nil {
		s.mu.Unlock()
		return false, "", nil, err
	}
	l.timer = s.afterFunc(s.cfg.HandshakeTimeout, l.handshakeExpired)
	s.peers[id] = l
	s.mu.Unlock()
	if answer, err = l.start(ctx, offer); err != nil {
		l.close(endSetupFailed)
		return true, "", nil, err
	}
	return true, answer, l, nil
}

// release forgets l; a Monitor left without listeners stops and leaves the call.
func (s *Server) release(l *Peer) {
	m := l.mon
	s.mu.Lock()
	if _, ok := s.peers[l.id]; !ok {
		s.mu.Unlock()
		return
	}
	delete(s.peers, l.id)
	if m == nil { // a talker
		s.metrics.talkers.Dec()
		s.mu.Unlock()
		return
	}
	delete(m.listeners, l.id)
	s.metrics.listeners.Dec()
	stop := len(m.listeners) == 0 && !m.ended
	if stop {
		m.ended = true
		delete(s.monitors, m.call.ID())
		s.metrics.monitors.Dec()
	}
	s.mu.Unlock()
	if stop {
		// The Monitor leaves the call before the last listener is gone,
		// so that nothing taps a call nobody listens to. It is never this
		// goroutine: a Monitor whose call ended (callEnded, on its own
		// goroutine) is ended already, and release does not stop it.
		m.halt()
		<-m.done
	}
}

// callEnded closes the listeners of a Monitor whose call has ended. It
// runs on the Monitor's goroutine, which returns after it.
func (s *Server) callEnded(m *Monitor) {
	s.mu.Lock()
	if !m.ended {
		m.ended = true
		delete(s.monitors, m.call.ID())
		s.metrics.monitors.Dec()
	}
	ls := make([]*Peer, 0, len(m.listeners))
	for _, l := range m.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	for _, l := range ls {
		l.closeAsync(endCallEnded)
	}
}

// Delete ends the listening session id if owner holds it; any other id,
// another owner's, or a talking session, is ErrSessionNotFound.
func (s *Server) Delete(id, owner string) error {
	return s.deletePeer(id, owner, false)
}

// DeleteTalk ends the talking session id if owner holds it, as Delete.
func (s *Server) DeleteTalk(id, owner string) error {
	return s.deletePeer(id, owner, true)
}

func (s *Server) deletePeer(id, owner string, talker bool) error {
	s.mu.Lock()
	l, ok := s.peers[id]
	s.mu.Unlock()
	if !ok || l.owner != owner || (l.mic != nil) != talker {
		return ErrSessionNotFound
	}
	l.close(endDeleted)
	return nil
}

// Listeners is the number of WebRTC sessions on the node, listeners and
// talkers.
func (s *Server) Listeners() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.peers)
}

// Close ends every listener, waits for every goroutine the server started
// and releases the UDP port. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ls := make([]*Peer, 0, len(s.peers))
	for _, l := range s.peers {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() { l.close(endServerClosed) })
	}
	wg.Wait()
	s.wg.Wait()
	return s.mux.Close()
}

// newSessionID is 128 random bits in hex: a WHEP session URL must not be
// guessable, or anyone could end others' sessions.
func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("rtc: session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// String describes the server for the start log.
func (s *Server) String() string {
	return "udp " + s.addr.String() + ", loopback candidates " + strconv.FormatBool(s.cfg.Loopback)
}
