package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/control/monitor"
	"github.com/iace/iace/control/ratelimit"
	"github.com/iace/iace/media/rtc"
	"github.com/iace/iace/session"
	"github.com/iace/iace/session/cluster"
	"github.com/iace/iace/store"
)

// monitorConfig is live call listening over WebRTC (WHEP under /whep/).
type monitorConfig struct {
	UDPPort      int
	PublicIPs    string
	ICEServers   string
	Loopback     string
	MaxListeners int
	// TURN credentials: the secret and the fixed pair from the
	// environment only, the lifetime of per-session ones.
	TURNSecret, TURNUsername, TURNPassword string
	TURNTTL                                time.Duration
}

func defaultMonitorConfig() monitorConfig {
	return monitorConfig{Loopback: "auto", MaxListeners: rtc.DefaultConfig().MaxListeners, TURNTTL: monitor.DefaultTURNTTL}
}

// monitorHTTPConfig is the WHEP and WHIP endpoints' configuration.
func (c *config) monitorHTTPConfig() monitor.Config {
	mc := monitor.DefaultConfig()
	mc.ICEServers, mc.CORSOrigins = splitList(c.Monitor.ICEServers), splitList(c.CORSOrigins)
	mc.TURN = monitor.TURN{Secret: c.Monitor.TURNSecret, Username: c.Monitor.TURNUsername, Password: c.Monitor.TURNPassword, TTL: c.Monitor.TURNTTL}
	return mc
}

func (c *monitorConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.UDPPort, "webrtc-udp-port", c.UDPPort,
		"the one UDP port of live call listening (WebRTC media of every listener); 0: a free port at each start")
	fs.StringVar(&c.PublicIPs, "webrtc-public-ips", c.PublicIPs,
		"comma-separated public addresses advertised to listeners' browsers instead of the host's own (a node behind 1:1 NAT)")
	fs.StringVar(&c.ICEServers, "webrtc-ice-servers", c.ICEServers,
		"comma-separated STUN/TURN URLs given to supervisors' browsers (Link rel=ice-server), e.g. stun:stun.example.com:3478,turn:turn.example.com:3478 (credentials: IACE_TURN_SECRET)")
	fs.StringVar(&c.Loopback, "webrtc-loopback", c.Loopback,
		"WebRTC on loopback only, for a browser on this machine: auto (when --addr is loopback and no --webrtc-public-ips), true or false")
	fs.DurationVar(&c.TURNTTL, "webrtc-turn-ttl", c.TURNTTL,
		"lifetime of the TURN credentials each supervisor's session gets from "+envTURNSecret)
	fs.IntVar(&c.MaxListeners, "max-listeners", c.MaxListeners,
		fmt.Sprintf("live call listeners on this node (at most %d a call); more get 503", rtc.DefaultConfig().MaxListenersPerCall))
}

// monitorRate is a listener's rate, per user, of sessions opened and closed;
// each opening builds a PeerConnection.
var monitorRate = ratelimit.Rate{N: 30, Per: time.Minute, Burst: 10}

// webrtcLoopback decides --webrtc-loopback.
func (c *config) webrtcLoopback() bool {
	switch c.Monitor.Loopback {
	case "true":
		return true
	case "false":
		return false
	}
	return isLoopback(c.Addr) && c.Monitor.PublicIPs == ""
}

// rtcConfig is the WebRTC server's configuration. On loopback the UDP port
// listens on the loopback address of --addr; otherwise on --addr's address
// when it names one, else on every interface.
func (c *config) rtcConfig() (rtc.Config, error) {
	rc := rtc.DefaultConfig()
	rc.UDPPort, rc.MaxListeners = c.Monitor.UDPPort, c.Monitor.MaxListeners
	rc.Loopback = c.webrtcLoopback()
	// The pacer sends agent audio up to its lead (plus a chunk) ahead.
	rc.AgentBuffer = max(rc.AgentBuffer, 2*(c.Pacer.Lead+c.Pacer.MaxChunk))
	host, _, _ := net.SplitHostPort(c.Addr)
	ip, err := netip.ParseAddr(host)
	switch {
	case err == nil && !ip.IsUnspecified() && (rc.Loopback || !ip.IsLoopback()):
		rc.ListenIP = ip
	case rc.Loopback:
		rc.ListenIP = netip.MustParseAddr("127.0.0.1")
	}
	var errs []error
	for _, s := range splitList(c.Monitor.PublicIPs) {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--webrtc-public-ips: %q is not an IP address", s))
			continue
		}
		rc.PublicIPs = append(rc.PublicIPs, ip)
	}
	if err := rc.Validate(); err != nil {
		errs = append(errs, err)
	}
	return rc, errors.Join(errs...)
}

// validateMonitor checks the listening settings.
func (c *config) validateMonitor() error {
	var errs []error
	switch c.Monitor.Loopback {
	case "auto", "true", "false":
	default:
		errs = append(errs, fmt.Errorf("webrtc loopback %q: want auto, true or false", c.Monitor.Loopback))
	}
	if _, err := c.rtcConfig(); err != nil {
		errs = append(errs, err)
	}
	if err := c.monitorHTTPConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// monitorServer is live call listening: the WebRTC server and its WHEP
// endpoint.
type monitorServer struct {
	rtc  *rtc.Server
	whep *monitor.Handler
}

// newMonitor binds the WebRTC UDP port and builds the WHEP endpoint. On a
// node sharing its calls (node.Shared), a request for a call or a session
// of another node is relayed to it.
func newMonitor(cfg config, st *stores, authn *auth.Service, engine *session.Engine, node *cluster.Node, reg prometheus.Registerer,
	log *slog.Logger) (*monitorServer, error) {
	rc, err := cfg.rtcConfig()
	if err != nil {
		return nil, err
	}
	srv, err := rtc.NewServer(rc, reg, log)
	if err != nil {
		return nil, err
	}
	limit, err := limiter("whep_user", monitorRate, st, reg, log)
	if err != nil {
		_ = srv.Close()
		return nil, err
	}
	var router monitor.Router // a node of its own has every call and session: none
	if node.Shared() {
		router = clusterRouter{node}
	}
	whep, err := monitor.New(cfg.monitorHTTPConfig(), monitor.Deps{
		Auth: authn, Calls: monitor.Engine(engine), Records: st.cached, Listeners: srv, Limit: limit,
		Router: router, Registerer: reg, Log: log,
	})
	if err != nil {
		_ = srv.Close()
		return nil, err
	}
	turn := "none"
	switch {
	case cfg.Monitor.TURNSecret != "":
		turn = "per-session credentials from " + envTURNSecret
	case cfg.Monitor.TURNUsername != "":
		turn = "fixed credentials from " + envTURNUsername
	}
	log.Info("live call supervision (WHEP at "+monitor.CallsPath+"{call_id}, WHIP at "+monitor.TalkCallsPath+"{call_id})", "udp", srv.Addr().String(),
		"loopback_candidates", rc.Loopback, "public_ips", cfg.Monitor.PublicIPs, "max_listeners", rc.MaxListeners, "turn", turn)
	if len(rc.PublicIPs) > 0 && rc.UDPPort == 0 {
		log.Warn("--webrtc-udp-port is 0: the WebRTC port changes at every start; set a fixed one to open in the firewall")
	}
	return &monitorServer{rtc: srv, whep: whep}, nil
}

// clusterRouter finds the node of a call or a session for the WHEP and
// WHIP endpoints, which know nothing of Redis.
type clusterRouter struct{ n *cluster.Node }

func (c clusterRouter) Name() string { return c.n.Name() }

func (c clusterRouter) Locate(ctx context.Context, org store.OrgID, id store.CallID) (monitor.Owner, error) {
	loc, err := c.n.Locate(ctx, org, id)
	return monitor.Owner{Node: loc.Node, Local: loc.Local, Addr: loc.Addr}, err
}

func (c clusterRouter) AddrOf(ctx context.Context, node string) (string, error) {
	addr, err := c.n.AddrOf(ctx, node)
	if errors.Is(err, cluster.ErrNodeNotFound) {
		return "", monitor.ErrNoSuchNode
	}
	return addr, err
}

// ServeHTTP serves /whep/.
func (m *monitorServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.whep.ServeHTTP(w, r) }

// Close ends every listener and releases the UDP port; nil-safe.
func (m *monitorServer) Close() {
	if m != nil {
		_ = m.rtc.Close()
	}
}
