package monitor_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/control/monitor"
	"github.com/iace/iace/media/rtc"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// router is a cluster as a node sees it: where acme's calls are, and the
// nodes that are up.
type router struct {
	name  string
	calls map[store.CallID]monitor.Owner
	nodes map[string]string
	err   error // every look-up fails with it
}

func (r router) Name() string { return r.name }

func (r router) Locate(_ context.Context, org store.OrgID, id store.CallID) (monitor.Owner, error) {
	if r.err != nil {
		return monitor.Owner{}, r.err
	}
	if o, ok := r.calls[id]; ok && org == "acme" {
		return o, nil
	}
	return monitor.Owner{}, session.ErrCallNotFound
}

func (r router) AddrOf(_ context.Context, node string) (string, error) {
	if r.err != nil {
		return "", r.err
	}
	if a, ok := r.nodes[node]; ok {
		return a, nil
	}
	return "", monitor.ErrNoSuchNode
}

// noCalls is a node that holds no call.
type noCalls struct{}

func (noCalls) MonitorCall(store.OrgID, store.CallID) (rtc.Call, error) {
	return nil, session.ErrCallNotFound
}

func (noCalls) TalkCall(store.OrgID, store.CallID) (rtc.Mic, error) {
	return nil, session.ErrCallNotFound
}

// node is one node's WHEP and WHIP endpoint.
type node struct {
	rig
	addr string
}

func newNode(t *testing.T, calls monitor.Calls, rt monitor.Router) *node {
	t.Helper()
	cfg := rtc.DefaultConfig()
	cfg.ListenIP, cfg.Loopback = netip.MustParseAddr("127.0.0.1"), true
	srv, err := rtc.NewServer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	mcfg := monitor.DefaultConfig()
	mcfg.ICEServers = []string{"stun:stun.example.com:3478"}
	var deps monitor.Deps
	deps.Auth, deps.Calls, deps.Records, deps.Listeners, deps.Registerer = principals, calls, records{}, srv, reg
	if rt != nil { // a nil router in the interface would not be nil
		deps.Router = rt
	}
	h, err := monitor.New(mcfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
	})
	return &node{rig: rig{url: hs.URL, reg: reg, srv: srv}, addr: strings.TrimPrefix(hs.URL, "http://")}
}

// relays is iace_monitor_relays_total{request, result} of reg.
func relays(t *testing.T, reg *prometheus.Registry, request, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "iace_monitor_relays_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["request"] == request && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series for request %q result %q", request, result)
	return 0
}

// TestWhepAndWhipAreRelayedToTheCallsNode: node a, holding no call, relays a
// supervisor's POST to node b, which holds acme's call "live", and b's
// answer comes back unchanged, with a session id that names b; the
// session's DELETE through a reaches b. What a can refuse, it refuses
// itself; a node that is down, has no address or cannot be looked up is a
// 503 with Retry-After; an oversized answer is a 502; a request already
// relayed is never relayed again.
func TestWhepAndWhipAreRelayedToTheCallsNode(t *testing.T) {
	live := &call{id: "live", done: make(chan struct{})}
	t.Cleanup(live.end)
	b := newNode(t, calls{live: live}, router{name: "node-b", calls: map[store.CallID]monitor.Owner{"live": {Node: "node-b", Local: true}}})
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	_ = dead.Close()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/sdp")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(strings.Repeat("a=x\r\n", 20<<10)))
	}))
	t.Cleanup(huge.Close)
	a := newNode(t, noCalls{}, router{name: "node-a",
		calls: map[store.CallID]monitor.Owner{
			"live":     {Node: "node-b", Addr: b.addr},
			"starting": {Node: "node-b", Addr: b.addr}, // b has it, its media not started
			"gone":     {Node: "node-c", Addr: deadAddr},
			"mute":     {Node: "node-d"},
			"oversize": {Node: "node-e", Addr: strings.TrimPrefix(huge.URL, "http://")},
		},
		nodes: map[string]string{"node-b": b.addr, "node-c": deadAddr}})
	const sdp = "application/sdp"

	// Refused by a itself: b never hears of them.
	if r := a.do(t, http.MethodPost, "/whep/calls/live", "", sdp, offer(t, 1)); r.status != http.StatusUnauthorized {
		t.Errorf("no token: %d", r.status)
	}
	if r := a.do(t, http.MethodPost, "/whep/calls/live", "viewer", sdp, offer(t, 1)); r.status != http.StatusForbidden {
		t.Errorf("a viewer: %d", r.status)
	}
	if r := a.do(t, http.MethodPost, "/whep/calls/live", "sup", "text/plain", offer(t, 1)); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("not SDP: %d", r.status)
	}
	if r := a.do(t, http.MethodPost, "/whep/calls/nope", "sup", sdp, offer(t, 1)); r.status != http.StatusNotFound {
		t.Errorf("a call no node holds: %d", r.status)
	}
	if r := a.do(t, http.MethodPost, "/whep/calls/live", "other", sdp, offer(t, 1)); r.status != http.StatusNotFound {
		t.Errorf("another organization's admin: %d", r.status)
	}
	if n := relays(t, a.reg, "listen", "answered"); n != 0 {
		t.Errorf("a relayed %v refused requests", n)
	}
	for _, res := range []string{"unauthorized", "forbidden", "bad_request", "not_found"} {
		if n := sessions(t, b.reg, "listen", res); n != 0 {
			t.Errorf("b saw a request a refused (%s)", res)
		}
	}

	// Relayed: b's answer, its Location and Link headers, unchanged.
	got := a.do(t, http.MethodPost, "/whep/calls/live?tracks=sides", "sup", sdp, offer(t, 2))
	loc := got.header.Get("Location")
	if got.status != http.StatusCreated || !strings.HasPrefix(loc, "/whep/sessions/node-b.") || got.header.Get("Content-Type") != sdp ||
		!strings.Contains(got.body, "a=candidate:") || len(got.header.Values("Link")) != 1 || got.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("relayed WHEP: %d %v\n%s", got.status, got.header, got.body)
	}
	if n := sessions(t, b.reg, "listen", "started"); n != 1 {
		t.Errorf("b started %v sessions", n)
	}
	if n := b.srv.Listeners(); n != 1 {
		t.Errorf("b has %d listeners", n)
	}
	// Only its owner ends it, through any node.
	if d := a.do(t, http.MethodDelete, loc, "admin", "", ""); d.status != http.StatusNotFound {
		t.Errorf("another user's DELETE through a: %d", d.status)
	}
	if d := a.do(t, http.MethodDelete, loc, "", "", ""); d.status != http.StatusUnauthorized {
		t.Errorf("DELETE without a token: %d", d.status)
	}
	if d := a.do(t, http.MethodDelete, loc, "sup", "", ""); d.status != http.StatusOK {
		t.Errorf("DELETE through a: %d %s", d.status, d.body)
	}
	if d := a.do(t, http.MethodDelete, loc, "sup", "", ""); d.status != http.StatusNotFound {
		t.Errorf("DELETE again: %d", d.status)
	}
	if n := relays(t, a.reg, "end_listen", "answered"); n != 3 {
		t.Errorf("a relayed %v DELETEs, want 3", n)
	}
	if d := a.do(t, http.MethodDelete, "/whep/sessions/node-z.0123456789abcdef0123456789abcdef", "sup", "", ""); d.status != http.StatusNotFound {
		t.Errorf("a session of a node that is not up: %d", d.status)
	}
	// PATCH is refused by whichever node gets it, as the session's own would.
	if p := a.do(t, http.MethodPatch, loc, "sup", "application/trickle-ice-sdpfrag", "a=candidate:x"); p.status != http.StatusMethodNotAllowed {
		t.Errorf("PATCH through a: %d", p.status)
	}

	// WHIP too.
	talk := a.do(t, http.MethodPost, "/whip/calls/live", "sup", sdp, talkOffer(t))
	tloc := talk.header.Get("Location")
	if talk.status != http.StatusCreated || !strings.HasPrefix(tloc, "/whip/sessions/node-b.") {
		t.Fatalf("relayed WHIP: %d %v %s", talk.status, talk.header, talk.body)
	}
	if live.currentTalker() == nil {
		t.Error("the microphone did not reach the call on b")
	}
	if d := a.do(t, http.MethodDelete, tloc, "sup", "", ""); d.status != http.StatusOK {
		t.Errorf("WHIP DELETE through a: %d", d.status)
	}

	// b's 409 for a call whose media has not started comes back as is,
	// with its Retry-After. A call the store has recorded and not ended is
	// a 409 on b too, unless the request was relayed: then it is 404, b
	// does not hold it.
	if r := a.do(t, http.MethodPost, "/whep/calls/starting", "sup", sdp, offer(t, 1)); r.status != http.StatusConflict || r.header.Get("Retry-After") == "" {
		t.Errorf("a call whose media has not started on b, through a: %d %v", r.status, r.header)
	}
	if r := b.do(t, http.MethodPost, "/whep/calls/ringing", "sup", sdp, offer(t, 1)); r.status != http.StatusConflict {
		t.Errorf("a call recorded and not streaming, on b: %d", r.status)
	}
	if r := b.do(t, http.MethodPost, "/whep/calls/ringing", "sup", sdp, offer(t, 1), monitor.RelayedHeader, "node-a"); r.status != http.StatusNotFound {
		t.Errorf("a relayed request for a call b does not hold: %d", r.status)
	}
	// Never relayed twice: a request marked relayed stays where it lands.
	if r := a.do(t, http.MethodPost, "/whep/calls/live", "sup", sdp, offer(t, 1), monitor.RelayedHeader, "node-x"); r.status != http.StatusNotFound {
		t.Errorf("a relayed request for b's call, on a: %d", r.status)
	}
	if d := a.do(t, http.MethodDelete, "/whep/sessions/node-b.0123456789abcdef0123456789abcdef", "sup", "", "", monitor.RelayedHeader, "node-x"); d.status != http.StatusNotFound {
		t.Errorf("a relayed DELETE of b's session, on a: %d", d.status)
	}
	if n := relays(t, a.reg, "listen", "answered"); n != 2 {
		t.Errorf("a relayed %v POSTs, want 2", n)
	}

	// The holder out of reach.
	for _, tc := range []struct{ name, path, result string }{
		{"a node that is down", "/whep/calls/gone", "unreachable"},
		{"a node without an address", "/whep/calls/mute", "unreachable"},
	} {
		if r := a.do(t, http.MethodPost, tc.path, "sup", sdp, offer(t, 1)); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s: %d %v", tc.name, r.status, r.header)
		}
	}
	if n := relays(t, a.reg, "listen", "unreachable"); n != 2 {
		t.Errorf("%v unreachable relays counted, want 2", n)
	}
	if d := a.do(t, http.MethodDelete, "/whep/sessions/node-c.0123456789abcdef0123456789abcdef", "sup", "", ""); d.status != http.StatusServiceUnavailable {
		t.Errorf("a session on a node that is down: %d", d.status)
	}
	if r := a.do(t, http.MethodPost, "/whep/calls/oversize", "sup", sdp, offer(t, 1)); r.status != http.StatusBadGateway {
		t.Errorf("an oversized answer: %d", r.status)
	}
	if n := relays(t, a.reg, "listen", "bad_answer"); n != 1 {
		t.Errorf("%v bad answers counted, want 1", n)
	}
	lost := newNode(t, noCalls{}, router{name: "node-a", err: errors.New("redis: connection refused")})
	if r := lost.do(t, http.MethodPost, "/whep/calls/live", "sup", sdp, offer(t, 1)); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "2" {
		t.Errorf("the cluster's registry away: %d %v", r.status, r.header)
	}
	if d := lost.do(t, http.MethodDelete, "/whep/sessions/node-b.0123456789abcdef0123456789abcdef", "sup", "", ""); d.status != http.StatusServiceUnavailable {
		t.Errorf("a DELETE with the registry away: %d", d.status)
	}
}

// TestWhepSessionIDsAreBareOnANodeOfItsOwn: without a router, sessions are
// named as before clusters, and a dotted id is just an unknown one.
func TestWhepSessionIDsAreBareOnANodeOfItsOwn(t *testing.T) {
	live := &call{id: "live", done: make(chan struct{})}
	t.Cleanup(live.end)
	n := newNode(t, calls{live: live}, nil)
	got := n.do(t, http.MethodPost, "/whep/calls/live", "sup", "application/sdp", offer(t, 1))
	loc := got.header.Get("Location")
	if got.status != http.StatusCreated || strings.Contains(strings.TrimPrefix(loc, "/whep/sessions/"), ".") {
		t.Fatalf("%d %q", got.status, loc)
	}
	if d := n.do(t, http.MethodDelete, "/whep/sessions/node-b."+strings.TrimPrefix(loc, "/whep/sessions/"), "sup", "", ""); d.status != http.StatusNotFound {
		t.Errorf("a dotted id on a node of its own: %d", d.status)
	}
	if d := n.do(t, http.MethodDelete, loc, "sup", "", ""); d.status != http.StatusOK {
		t.Errorf("DELETE: %d", d.status)
	}
}
