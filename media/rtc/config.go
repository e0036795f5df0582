package rtc

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Config sets up a Server.
type Config struct {
	// UDPPort is the one UDP port every PeerConnection of the node shares
	// (an ICE UDP mux, as pion's ice-single-port example does); 0 picks a
	// free port at start. Production opens a fixed one in the firewall.
	UDPPort int
	// ListenIP is the address the port is bound to; the zero value binds
	// every interface.
	ListenIP netip.Addr
	// PublicIPs, when set, are advertised in answers in place of the
	// host's own addresses (a node behind 1:1 NAT, a cloud VM's public
	// address): pion's ICE address rewrite rules, replacing host
	// candidates. With them the server needs no STUN, so gathering, which
	// the answer waits for, stays instant.
	PublicIPs []netip.Addr
	// Loopback adds loopback candidates (pion leaves them out by default):
	// needed when browser and server share a host through 127.0.0.1 only,
	// as in tests and a loopback quick start.
	Loopback bool
	// MaxListeners bounds the listeners of the node, MaxListenersPerCall
	// those of one call.
	MaxListeners        int
	MaxListenersPerCall int
	// HandshakeTimeout closes a listener that is not connected this long
	// after its offer arrived (a POST that never starts ICE must not hold
	// resources).
	HandshakeTimeout time.Duration
	// ICE timeouts (pion's SettingEngine.SetICETimeouts): a peer silent for
	// ICEDisconnected is disconnected, and ICEFailed later it has failed
	// and its listener is closed; ICEKeepalive is how often consent is
	// checked.
	ICEDisconnected time.Duration
	ICEFailed       time.Duration
	ICEKeepalive    time.Duration
	// AgentBuffer is how much agent audio a Monitor holds before the
	// caller's clock plays it: the pacer sends it up to its lead (plus a
	// chunk) ahead of playback, so this must exceed lead + chunk.
	AgentBuffer time.Duration
}

// DefaultConfig is a node-wide ephemeral port, 100 listeners (4 a call), a
// 10 s handshake deadline, and ICE failing 15 s after the peer went silent.
func DefaultConfig() Config {
	return Config{
		MaxListeners:        100,
		MaxListenersPerCall: 4,
		HandshakeTimeout:    10 * time.Second,
		ICEDisconnected:     5 * time.Second,
		ICEFailed:           10 * time.Second,
		ICEKeepalive:        2 * time.Second,
		AgentBuffer:         time.Second,
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		errs = append(errs, fmt.Errorf("webrtc udp port %d: want 0 to 65535", c.UDPPort))
	}
	for _, ip := range c.PublicIPs {
		if !ip.IsValid() || ip.IsUnspecified() {
			errs = append(errs, fmt.Errorf("webrtc public ip %v: want a unicast address", ip))
		}
	}
	if c.MaxListeners < 1 || c.MaxListenersPerCall < 1 {
		errs = append(errs, fmt.Errorf("max listeners %d, per call %d: want >= 1", c.MaxListeners, c.MaxListenersPerCall))
	}
	if c.HandshakeTimeout <= 0 {
		errs = append(errs, fmt.Errorf("webrtc handshake timeout %v: want > 0", c.HandshakeTimeout))
	}
	if c.ICEDisconnected <= 0 || c.ICEFailed <= 0 || c.ICEKeepalive <= 0 {
		errs = append(errs, errors.New("webrtc ICE timeouts must be > 0"))
	}
	if c.AgentBuffer < 100*time.Millisecond || c.AgentBuffer > 30*time.Second {
		errs = append(errs, fmt.Errorf("webrtc agent buffer %v: want 100ms to 30s", c.AgentBuffer))
	}
	return errors.Join(errs...)
}
