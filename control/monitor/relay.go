package monitor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// Several nodes behind one load balancer share the calls (session/cluster):
// a supervisor's WHEP or WHIP request reaches any node, and the call's
// media is on one. The signalling is relayed to that node, which answers
// with its own ICE candidates, so that media flows straight between the
// supervisor and the node that has the call; only the few HTTP requests
// of a session take the extra hop.
//
// A POST for a call this node does not hold is authenticated and checked
// here as any other (an unauthenticated or malformed request is refused
// without a relay), then the call is located (Router.Locate) and the
// request, its offer included, is relayed to the holder's public
// listener. The holder authenticates it again with the same bearer token
// (the nodes share the signing key), sets the session up and answers; its
// status, answer and headers go back unchanged.
//
// Sessions are routed by their id: a node of a cluster mints ids of the
// form <node>.<id>, its name, a dot, and the media server's id (128 bits in
// hex, no dot), so that any node can send a session's DELETE to the node
// that holds it, at the address that node publishes (Router.AddrOf),
// without a shared table of sessions. A node on its own (no Router) mints
// the bare id, as before there were clusters.
//
// A relayed request carries RelayedHeader, and is never relayed again: a
// node that does not hold its call or session answers 404 (not the 409 of
// a call the store has recorded and whose media has not reached the node:
// the relaying node found the call live on this one, which no longer has
// it), so that two nodes that disagree for a moment about where a call is
// cannot bounce a request between them. A client that sets the header
// itself only turns the relay off for itself.
//
// The per-user rate limit is counted on both nodes of a relayed request
// (the relaying node's check is the same as for any request, and the
// header cannot be trusted to skip the holder's): with Redis, which the
// nodes of a cluster share, a relayed opening counts twice.

// RelayedHeader marks a request that a node relayed to the node holding
// its call or session; its value is the relaying node's name.
const RelayedHeader = "X-IACE-Relayed-By"

// Router finds the node that holds a call or a session when several nodes
// share the calls (session/cluster's Node, adapted). A node on its own has
// none: every call and every session is its own.
type Router interface {
	// Name is this node's name, the prefix of the session ids it mints.
	Name() string
	// Locate finds the node holding org's live call id: Owner.Local when it
	// is this node. A call no node holds, or another organization's, is
	// session.ErrCallNotFound (session.ErrCallEnded when it just ended
	// here); any other error is a failed look-up.
	Locate(ctx context.Context, org store.OrgID, id store.CallID) (Owner, error)
	// AddrOf is the address (host:port) of the public listener of the
	// node named node: ErrNoSuchNode when no node of that name is up, any
	// other error a failed look-up.
	AddrOf(ctx context.Context, node string) (string, error)
}

// Owner is where a live call is held.
type Owner struct {
	// Node holds the call; Local is true when it is this node.
	Node  string
	Local bool
	// Addr is where the other nodes reach Node's public listener; "" when
	// it published none.
	Addr string
}

// ErrNoSuchNode is Router.AddrOf's answer for a node that is not up: the
// sessions it held ended with it.
var ErrNoSuchNode = errors.New("monitor: no such node")

// Bounds of a relayed request: the time to the holder's whole answer (it
// sets up a PeerConnection and gathers its candidates, which takes
// milliseconds on a healthy node) and the size of that answer (an SDP
// answer is a few kilobytes).
const (
	relayTimeout     = 5 * time.Second
	maxRelayedAnswer = 64 << 10
	// relayRetry is the Retry-After of a 503 when the holder could not be
	// reached or found: a node restarting, or Redis away for a moment.
	relayRetry = 2 * time.Second
)

// maxNodeName bounds the relaying node's name as the holder logs it
// (relayed_by): a DNS name's length.
const maxNodeName = 253

// relayedAnswerHeaders are the holder's answer headers passed back; the
// relaying node sets its own Cache-Control, nosniff and CORS headers.
var relayedAnswerHeaders = []string{"Content-Type", "Location", "Link", "ETag", "Retry-After", "WWW-Authenticate", "Accept-Post", "Allow"}

// Requests relayed (the request label of iace_monitor_relays_total), and
// their results.
const (
	relayListen    = "listen"     // POST /whep/calls/{id}
	relayTalk      = "talk"       // POST /whip/calls/{id}
	relayEndListen = "end_listen" // DELETE /whep/sessions/{id}
	relayEndTalk   = "end_talk"   // DELETE /whip/sessions/{id}

	relayAnswered    = "answered"      // the holder answered, whatever its status
	relayUnreachable = "unreachable"   // no answer from the holder, or no address for it
	relayBadAnswer   = "bad_answer"    // an answer too large, or cut short
	relayLookup      = "lookup_failed" // the holder could not be looked up
)

func newRelayMetric() *prometheus.CounterVec {
	m := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "monitor", Name: "relays_total",
		Help: "WHEP and WHIP requests relayed to the node holding their call or session, by request (listen, talk, end_listen, end_talk) and result."},
		[]string{"request", "result"})
	for _, req := range []string{relayListen, relayTalk, relayEndListen, relayEndTalk} {
		for _, res := range []string{relayAnswered, relayUnreachable, relayBadAnswer, relayLookup} {
			m.WithLabelValues(req, res)
		}
	}
	return m
}

// newRelayClient is the client of relayed requests: straight to the
// other node (no proxy from the environment), no redirects followed.
func newRelayClient() *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: relayTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: relayTimeout,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// sessionID is the id a new session is known by: its node's name and the
// media server's id in a cluster, the bare id on a node of its own.
func (h *Handler) sessionID(peer string) string {
	if h.deps.Router == nil {
		return peer
	}
	return url.PathEscape(h.deps.Router.Name()) + "." + peer
}

// splitSessionID parses <node>.<id>: the media server's ids hold no dot,
// a node's name may.
func splitSessionID(id string) (node, peer string, ok bool) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 || i == len(id)-1 {
		return "", "", false
	}
	return id[:i], id[i+1:], true
}

// relayed reports whether r is a request another node relayed here.
func relayed(r *http.Request) bool { return r.Header.Get(RelayedHeader) != "" }

// routeCall relays a checked POST to the node holding its call, when that
// is another node; it reports whether it has answered.
func (h *Handler) routeCall(w http.ResponseWriter, r *http.Request, o *offerRequest) bool {
	if h.deps.Router == nil || relayed(r) {
		return false
	}
	request := relayListen
	if o.kind == kindTalk {
		request = relayTalk
	}
	own, err := h.deps.Router.Locate(r.Context(), o.p.OrgID, o.id)
	switch {
	case err == nil && own.Local:
		return false
	case errors.Is(err, session.ErrCallNotFound), errors.Is(err, session.ErrCallEnded):
		return false // answered here as on a node of its own: 404, or 409 while it is recorded and not streaming
	case err != nil:
		h.relays.WithLabelValues(request, relayLookup).Inc()
		o.log.Warn("webrtc session: the call's node could not be looked up", "kind", o.kind, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(int(relayRetry/time.Second)))
		writeProblem(w, http.StatusServiceUnavailable, "the call's node could not be found; retry shortly")
		return true
	}
	h.relay(w, r, request, own.Node, own.Addr, []byte(o.sdp), o.log)
	return true
}

// routeSession relays a session's DELETE to the node whose name its id
// carries, when that is another node, and reports whether it has
// answered; otherwise it returns the id the local media server knows the
// session by, "" for one that cannot be here.
func (h *Handler) routeSession(w http.ResponseWriter, r *http.Request, kind, id string, log *slog.Logger) (string, bool) {
	if h.deps.Router == nil {
		return id, false
	}
	node, peer, ok := splitSessionID(id)
	switch {
	case !ok:
		return id, false // not minted by a node of a cluster: only this node can have it
	case node == h.deps.Router.Name():
		return peer, false
	case relayed(r):
		return "", false // another node's, relayed here by mistake: not found here, never relayed on
	}
	request := relayEndListen
	if kind == kindTalk {
		request = relayEndTalk
	}
	addr, err := h.deps.Router.AddrOf(r.Context(), node)
	switch {
	case errors.Is(err, ErrNoSuchNode):
		return "", false // its node is gone, and its sessions with it
	case err != nil:
		h.relays.WithLabelValues(request, relayLookup).Inc()
		log.Warn("webrtc session: its node could not be looked up", "kind", kind, "to_node", node, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(int(relayRetry/time.Second)))
		writeProblem(w, http.StatusServiceUnavailable, "the session's node could not be found; retry shortly")
		return "", true
	}
	h.relay(w, r, request, node, addr, nil, log)
	return "", true
}

// relay sends r, with body, to node at addr and passes its answer back.
func (h *Handler) relay(w http.ResponseWriter, r *http.Request, request, node, addr string, body []byte, log *slog.Logger) {
	log = log.With("request", request, "to_node", node)
	unreachable := func(err error) {
		h.relays.WithLabelValues(request, relayUnreachable).Inc()
		log.Warn("webrtc: the node holding the call did not answer a relayed request", "addr", addr, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(int(relayRetry/time.Second)))
		writeProblem(w, http.StatusServiceUnavailable, "the node holding the call could not be reached; retry shortly")
	}
	if addr == "" {
		unreachable(errors.New("the node published no address (set its --node-addr)"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), relayTimeout)
	defer cancel()
	target := "http://" + addr + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	// The host is the node's own published address, from the cluster's
	// registry; only the path and query are the request's, as on this node.
	req, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(body)) //nolint:gosec // G704: the host comes from the cluster's registry, not the request
	if err != nil {
		unreachable(err)
		return
	}
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set(RelayedHeader, h.deps.Router.Name())
	start := time.Now()
	res, err := h.client.Do(req) //nolint:gosec // G704: as above, a node of the cluster at its published address
	if err != nil && r.Context().Err() != nil {
		// The supervisor went away: nobody waits for an answer, and the
		// other node is not to blame.
		log.Info("webrtc: a relayed request was abandoned by its client", "err", err)
		return
	}
	if err != nil {
		unreachable(err)
		return
	}
	defer func() { _ = res.Body.Close() }()
	answer, err := io.ReadAll(io.LimitReader(res.Body, maxRelayedAnswer+1))
	if err == nil && len(answer) > maxRelayedAnswer {
		err = errors.New("the answer is larger than " + strconv.Itoa(maxRelayedAnswer) + " bytes")
	}
	if err != nil {
		h.relays.WithLabelValues(request, relayBadAnswer).Inc()
		log.Error("webrtc: a relayed request's answer could not be read", "addr", addr, "status", res.StatusCode, "err", err)
		writeProblem(w, http.StatusBadGateway, "the node holding the call gave no usable answer")
		return
	}
	h.relays.WithLabelValues(request, relayAnswered).Inc()
	log.Info("webrtc: request relayed to the node holding the call", "status", res.StatusCode, "took", time.Since(start).Round(time.Millisecond).String())
	hd := w.Header()
	for _, k := range relayedAnswerHeaders {
		for _, v := range res.Header.Values(k) {
			hd.Add(k, v)
		}
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(answer)
}
