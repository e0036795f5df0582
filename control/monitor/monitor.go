// Package monitor is the HTTP edge of live call supervision over WebRTC:
// WHEP (the WebRTC-HTTP egress protocol, an IETF wish working group draft)
// sessions that let a supervisor or admin hear a live call of their
// organization in a browser, and WHIP (RFC 9725, the ingestion protocol)
// sessions that carry their microphone to the call, where the call's
// supervisor role decides who hears it. It authenticates, authorizes and
// rate-limits, and maps media/rtc's and the session's errors to status
// codes and problem+json. docs/protocols/webrtc.md sets out what it takes
// from WHEP and WHIP, and where it departs from them.
package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/control/ratelimit"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/rtc"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// Paths of the WHEP and WHIP endpoints (one per call) and of their sessions.
const (
	CallsPath        = "/whep/calls/"
	SessionsPath     = "/whep/sessions/"
	TalkCallsPath    = "/whip/calls/"
	TalkSessionsPath = "/whip/sessions/"
)

// Authenticator checks a bearer token (control/auth's Service).
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (auth.Principal, error)
}

// Calls finds the live call to listen to: session.ErrCallNotFound for a
// call that is not live here or is another organization's,
// session.ErrNotStreaming before its media started.
type Calls interface {
	MonitorCall(org store.OrgID, id store.CallID) (rtc.Call, error)
	// TalkCall opens the supervisor's microphone on the call: errors as
	// MonitorCall, and session.ErrVoiceTaken when another supervisor
	// talks on it.
	TalkCall(org store.OrgID, id store.CallID) (rtc.Mic, error)
}

// Records reads a recorded call (the store): a call recorded by its
// webhook whose stream has not started yet is "not yet streaming".
type Records interface {
	GetCall(ctx context.Context, org store.OrgID, id store.CallID) (store.CallDetail, error)
}

// Listeners runs the WebRTC listeners and talkers (media/rtc's Server).
type Listeners interface {
	Listen(ctx context.Context, call rtc.Call, offer string, opt rtc.ListenOptions) (*rtc.Peer, string, error)
	Delete(id, owner string) error
	Talk(ctx context.Context, mic rtc.Mic, offer string, opt rtc.TalkOptions) (*rtc.Peer, string, error)
	DeleteTalk(id, owner string) error
}

var _ Listeners = (*rtc.Server)(nil)

// Config sets the endpoint's answers.
type Config struct {
	// ICEServers are STUN/TURN URLs given to players in Link headers
	// (rel="ice-server", RFC 9725 section 4.6); the server itself needs
	// none.
	ICEServers []string
	// TURN, when set, gives players credentials for the TURN servers
	// among ICEServers.
	TURN TURN
	// CORSOrigins may call the endpoint from a browser page of another origin.
	CORSOrigins []string
	// NotStreamingRetry is the Retry-After of a 409 (the call's media has
	// not started); CapacityRetry that of a 503 (too many listeners).
	NotStreamingRetry time.Duration
	CapacityRetry     time.Duration
}

// DefaultConfig retries after 1 s before a stream starts, 10 s at capacity.
func DefaultConfig() Config {
	return Config{NotStreamingRetry: time.Second, CapacityRetry: 10 * time.Second, TURN: TURN{TTL: DefaultTURNTTL}}
}

// Validate reports every problem of c.
func (c Config) Validate() error {
	var errs []error
	for _, u := range c.ICEServers {
		scheme, rest, ok := strings.Cut(u, ":")
		if !ok || rest == "" || !slices.Contains([]string{"stun", "stuns", "turn", "turns"}, scheme) || strings.ContainsAny(u, "<>\", \t") {
			errs = append(errs, fmt.Errorf("ice server %q: want a stun:, stuns:, turn: or turns: URL (RFC 7064, RFC 7065)", u))
		}
	}
	if c.NotStreamingRetry <= 0 || c.CapacityRetry <= 0 {
		errs = append(errs, errors.New("monitor retry-after durations must be > 0"))
	}
	if err := c.TURN.validate(c.ICEServers); err != nil {
		errs = append(errs, err)
	}
	if strings.ContainsAny(c.TURN.Username+c.TURN.Password, "\"\\\r\n") {
		errs = append(errs, errors.New("TURN: the fixed username and password may not hold quotes, backslashes or line breaks"))
	}
	return errors.Join(errs...)
}

// Deps are what the endpoint works with. Records, Limit and Router are
// optional.
type Deps struct {
	Auth      Authenticator
	Calls     Calls
	Records   Records
	Listeners Listeners
	// Limit, per user, bounds how often sessions are opened, and apart
	// from that how often they are closed: each POST builds a
	// PeerConnection.
	Limit ratelimit.Limiter
	// Router, on a node of a cluster, finds the node holding a call or a
	// session, to which the request is relayed (relay.go).
	Router     Router
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// Handler serves WHEP under /whep/ and WHIP under /whip/.
type Handler struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	mux     *http.ServeMux
	results *prometheus.CounterVec
	relays  *prometheus.CounterVec
	// client relays requests to other nodes.
	client *http.Client
}

// Results of a POST: the label of iace_monitor_sessions_total.
const (
	resultStarted      = "started"
	resultUnauthorized = "unauthorized"
	resultForbidden    = "forbidden"
	resultLimited      = "rate_limited"
	resultBadRequest   = "bad_request"
	resultNotFound     = "not_found"
	resultNotStreaming = "not_streaming"
	resultBusy         = "busy" // another supervisor talks on the call
	resultCapacity     = "capacity"
	resultError        = "error"
)

// Kinds of session: the kind label of iace_monitor_sessions_total.
const (
	kindListen = "listen"
	kindTalk   = "talk"
)

// New checks cfg and returns the handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Auth == nil || deps.Calls == nil || deps.Listeners == nil {
		return nil, errors.New("monitor: an authenticator, the calls and the listeners are required")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, deps: deps, log: deps.Log, mux: http.NewServeMux(),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "monitor", Name: "sessions_total",
			Help: "WebRTC sessions asked for, by kind (listen: WHEP, talk: WHIP) and result."}, []string{"kind", "result"}),
		relays: newRelayMetric(), client: newRelayClient()}
	for _, k := range []string{kindListen, kindTalk} {
		for _, r := range []string{resultStarted, resultUnauthorized, resultForbidden, resultLimited, resultBadRequest,
			resultNotFound, resultNotStreaming, resultBusy, resultCapacity, resultError} {
			h.results.WithLabelValues(k, r)
		}
	}
	if deps.Registerer != nil {
		for _, c := range []prometheus.Collector{h.results, h.relays} {
			if err := deps.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("monitor metrics: %w", err)
			}
		}
	}
	h.mux.HandleFunc("POST "+CallsPath+"{call_id}", h.post)
	h.mux.HandleFunc("OPTIONS "+CallsPath+"{call_id}", h.options("OPTIONS, POST"))
	h.mux.HandleFunc(CallsPath+"{call_id}", h.notAllowed("OPTIONS, POST"))
	h.mux.HandleFunc("DELETE "+SessionsPath+"{id}", h.deleter(kindListen))
	h.mux.HandleFunc("OPTIONS "+SessionsPath+"{id}", h.options("OPTIONS, DELETE"))
	// No trickle and no ICE restart: the answer carries every candidate,
	// and a PATCH is refused with 405 (RFC 9725 section 4.3.1), by any
	// node, as the session's own would.
	h.mux.HandleFunc(SessionsPath+"{id}", h.notAllowed("OPTIONS, DELETE"))
	h.mux.HandleFunc("/whep/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "no such WHEP resource")
	})
	h.mux.HandleFunc("POST "+TalkCallsPath+"{call_id}", h.postTalk)
	h.mux.HandleFunc("OPTIONS "+TalkCallsPath+"{call_id}", h.options("OPTIONS, POST"))
	h.mux.HandleFunc(TalkCallsPath+"{call_id}", h.notAllowed("OPTIONS, POST"))
	h.mux.HandleFunc("DELETE "+TalkSessionsPath+"{id}", h.deleter(kindTalk))
	h.mux.HandleFunc("OPTIONS "+TalkSessionsPath+"{id}", h.options("OPTIONS, DELETE"))
	h.mux.HandleFunc(TalkSessionsPath+"{id}", h.notAllowed("OPTIONS, DELETE"))
	h.mux.HandleFunc("/whip/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "no such WHIP resource")
	})
	return h, nil
}

// ServeHTTP routes a /whep/ or /whip/ request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	if h.cors(w, r) {
		return
	}
	h.mux.ServeHTTP(w, r)
}

// post opens a listening session: the body is the player's SDP offer, the
// answer is 201 with the server's SDP and the session's Location.
func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	tracks := r.URL.Query().Get("tracks")
	sides := tracks == "sides"
	o, ok := h.offer(w, r, kindListen, func(offer string) error {
		if tracks != "" && tracks != "mixed" && !sides {
			return &rtc.OfferError{Reason: "tracks must be mixed (one track, the default) or sides (the caller and the agent apart)"}
		}
		return rtc.CheckOffer(offer, sides)
	})
	if !ok || h.routeCall(w, r, o) {
		return
	}
	call, err := h.deps.Calls.MonitorCall(o.p.OrgID, o.id)
	if !h.found(w, r, o, err) {
		return
	}
	l, answer, err := h.deps.Listeners.Listen(r.Context(), call, o.sdp, rtc.ListenOptions{
		Sides: sides, Owner: owner(o.p), Log: o.log,
	})
	if !sides {
		tracks = "mixed"
	}
	h.answer(w, o, l, answer, err, SessionsPath, "tracks", tracks)
}

// postTalk opens a talking session: the body is the WHIP client's SDP
// offer (the microphone, sendonly), the answer is 201 with the server's
// SDP and the session's Location. The call's supervisor role decides who
// hears the microphone; opening it changes no role.
func (h *Handler) postTalk(w http.ResponseWriter, r *http.Request) {
	o, ok := h.offer(w, r, kindTalk, rtc.CheckTalkOffer)
	if !ok || h.routeCall(w, r, o) {
		return
	}
	mic, err := h.deps.Calls.TalkCall(o.p.OrgID, o.id)
	if errors.Is(err, session.ErrVoiceTaken) {
		o.refuse(w, resultBusy, http.StatusConflict, "another supervisor is already talking on this call")
		return
	}
	if !h.found(w, r, o, err) {
		return
	}
	l, answer, err := h.deps.Listeners.Talk(r.Context(), mic, o.sdp, rtc.TalkOptions{Owner: owner(o.p), Log: o.log})
	h.answer(w, o, l, answer, err, TalkSessionsPath)
}

// offerRequest is a checked offer, from whom, for which call.
type offerRequest struct {
	h    *Handler
	kind string
	p    auth.Principal
	id   store.CallID
	sdp  string
	log  *slog.Logger
}

// refuse answers status with detail, counted and logged.
func (o *offerRequest) refuse(w http.ResponseWriter, result string, status int, detail string) {
	o.h.results.WithLabelValues(o.kind, result).Inc()
	o.log.Info("webrtc session refused", "kind", o.kind, "result", result, "status", status)
	writeProblem(w, status, detail)
}

// offer authenticates and authorizes a POST and reads its offer, which
// check must accept; on failure it has answered.
func (h *Handler) offer(w http.ResponseWriter, r *http.Request, kind string, check func(string) error) (*offerRequest, bool) {
	p, ok := h.authenticate(w, r, kind)
	if !ok {
		return nil, false
	}
	o := &offerRequest{h: h, kind: kind, p: p, id: store.CallID(r.PathValue("call_id")),
		log: h.log.With("call_id", r.PathValue("call_id"), "org_id", string(p.OrgID), "user_id", string(p.UserID))}
	if by := r.Header.Get(RelayedHeader); by != "" {
		o.log = o.log.With("relayed_by", by[:min(len(by), maxNodeName)])
	}
	refuse := func(result string, status int, detail string) { o.refuse(w, result, status, detail) }
	if !p.Can(auth.ActionMonitor) {
		if kind == kindTalk {
			refuse(resultForbidden, http.StatusForbidden, "only supervisors and admins may talk on calls")
		} else {
			refuse(resultForbidden, http.StatusForbidden, "only supervisors and admins may listen to calls")
		}
		return nil, false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/sdp" {
		h.results.WithLabelValues(kind, resultBadRequest).Inc()
		w.Header().Set("Accept-Post", "application/sdp")
		writeProblem(w, http.StatusUnsupportedMediaType, "the offer must be sent as application/sdp")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rtc.MaxOfferBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			refuse(resultBadRequest, http.StatusRequestEntityTooLarge, fmt.Sprintf("the offer is larger than %d bytes", rtc.MaxOfferBytes))
			return nil, false
		}
		refuse(resultBadRequest, http.StatusBadRequest, "the offer could not be read")
		return nil, false
	}
	o.sdp = string(body)
	var oe *rtc.OfferError
	if err := check(o.sdp); errors.As(err, &oe) {
		refuse(resultBadRequest, http.StatusBadRequest, oe.Reason)
		return nil, false
	}
	return o, true
}

// found maps the call lookup's error; false when it has answered.
func (h *Handler) found(w http.ResponseWriter, r *http.Request, o *offerRequest, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, session.ErrCallEnded): // its record may not be written yet
		o.refuse(w, resultNotFound, http.StatusNotFound, "no such live call")
	case errors.Is(err, session.ErrNotStreaming) || errors.Is(err, session.ErrCallNotFound) && !relayed(r) && h.recordedNotEnded(r.Context(), o.p.OrgID, o.id):
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(h.cfg.NotStreamingRetry)))
		o.refuse(w, resultNotStreaming, http.StatusConflict, "the call's audio has not started yet; retry shortly")
	case errors.Is(err, session.ErrCallNotFound):
		o.refuse(w, resultNotFound, http.StatusNotFound, "no such live call")
	default:
		h.results.WithLabelValues(o.kind, resultError).Inc()
		o.log.Error("webrtc session: call lookup", "kind", o.kind, "err", err)
		writeProblem(w, http.StatusInternalServerError, "the call could not be looked up")
	}
	return false
}

// answer writes the outcome of setting up a session: 201 with the SDP
// answer and the session's Location under sessions, or the error.
func (h *Handler) answer(w http.ResponseWriter, o *offerRequest, l *rtc.Peer, answer string, err error, sessions string, attrs ...any) {
	var oe *rtc.OfferError
	switch {
	case errors.As(err, &oe):
		o.refuse(w, resultBadRequest, http.StatusBadRequest, oe.Reason)
		return
	case errors.Is(err, rtc.ErrCallEnded):
		o.refuse(w, resultNotFound, http.StatusNotFound, "no such live call")
		return
	case errors.Is(err, rtc.ErrCapacity), errors.Is(err, rtc.ErrClosed):
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(h.cfg.CapacityRetry)))
		o.refuse(w, resultCapacity, http.StatusServiceUnavailable, "too many WebRTC sessions on this node; retry later")
		return
	case err != nil:
		h.results.WithLabelValues(o.kind, resultError).Inc()
		o.log.Error("webrtc session: could not set up the connection", "kind", o.kind, "err", err)
		writeProblem(w, http.StatusInternalServerError, "the connection could not be set up")
		return
	}
	h.results.WithLabelValues(o.kind, resultStarted).Inc()
	o.log.Info("webrtc session opened", append([]any{"kind", o.kind}, attrs...)...)
	hd := w.Header()
	for _, link := range h.iceLinks(string(o.p.UserID), time.Now()) {
		hd.Add("Link", link)
	}
	hd.Set("Location", sessions+h.sessionID(l.ID()))
	hd.Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer) // pion's SDP, served as application/sdp with nosniff, never HTML
}

// recordedNotEnded reports whether the store has the call, in org, not
// ended: its webhook recorded it and its media stream has not reached
// this node yet.
func (h *Handler) recordedNotEnded(ctx context.Context, org store.OrgID, id store.CallID) bool {
	if h.deps.Records == nil {
		return false
	}
	d, err := h.deps.Records.GetCall(ctx, org, id)
	return err == nil && d.Call.Status != store.CallEnded
}

// deleter ends a session of the caller's own, listening (WHEP) or
// talking (WHIP); another user's, or an id never issued, is the same 404.
func (h *Handler) deleter(kind string) http.HandlerFunc {
	del, what := h.deps.Listeners.Delete, "no such listening session"
	if kind == kindTalk {
		del, what = h.deps.Listeners.DeleteTalk, "no such talking session"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := h.authenticate(w, r, kind)
		if !ok {
			return
		}
		id, answered := h.routeSession(w, r, kind, r.PathValue("id"), h.log.With("org_id", string(p.OrgID), "user_id", string(p.UserID)))
		if answered {
			return
		}
		if id == "" || del(id, owner(p)) != nil {
			writeProblem(w, http.StatusNotFound, what)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

// authenticate checks the bearer token and the user's rate; on failure it
// has answered.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, kind string) (auth.Principal, bool) {
	ctx := r.Context()
	bearer := r.Header.Get("Authorization")
	if _, ok := auth.BearerToken(bearer); !ok {
		h.unauthorized(w, r, kind)
		return auth.Principal{}, false
	}
	p, err := h.deps.Auth.Authenticate(ctx, bearer)
	switch {
	case errors.Is(err, store.ErrUnavailable):
		h.log.Warn("listening: authentication unavailable", "err", err)
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusServiceUnavailable, "authentication is unavailable; retry shortly")
		return auth.Principal{}, false
	case err != nil:
		h.unauthorized(w, r, kind)
		return auth.Principal{}, false
	}
	if h.deps.Limit != nil {
		// Openings and closings are counted apart: a user who opened many
		// sessions can always close them.
		key := "open:" + string(p.UserID)
		if r.Method != http.MethodPost {
			key = "close:" + string(p.UserID)
		}
		if ok, wait, err := h.deps.Limit.Allow(ctx, key); err == nil && !ok {
			if r.Method == http.MethodPost {
				h.results.WithLabelValues(kind, resultLimited).Inc()
			}
			ratelimit.WriteTooManyRequests(w, wait)
			return auth.Principal{}, false
		}
	}
	return p, true
}

func (h *Handler) unauthorized(w http.ResponseWriter, r *http.Request, kind string) {
	if r.Method == http.MethodPost {
		h.results.WithLabelValues(kind, resultUnauthorized).Inc()
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="iace"`)
	writeProblem(w, http.StatusUnauthorized, "a valid bearer token is required")
}

// owner is who may end a session: the user who opened it.
func owner(p auth.Principal) string { return string(p.OrgID) + "\x00" + string(p.UserID) }

// options answers an OPTIONS that is not a CORS preflight. With a valid
// bearer token it also gives the ICE servers (RFC 9725 section 4.6 allows
// it there): a player that does not trickle, as this server does not,
// needs its TURN servers before it makes its offer.
func (h *Handler) options(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Allow", allow)
		if strings.Contains(allow, "POST") {
			hd.Set("Accept-Post", "application/sdp")
			if _, ok := auth.BearerToken(r.Header.Get("Authorization")); ok {
				if p, err := h.deps.Auth.Authenticate(r.Context(), r.Header.Get("Authorization")); err == nil && p.Can(auth.ActionMonitor) {
					for _, link := range h.iceLinks(string(p.UserID), time.Now()) {
						hd.Add("Link", link)
					}
				}
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *Handler) notAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeProblem(w, http.StatusMethodNotAllowed, r.Method+" is not supported here; allowed: "+allow)
	}
}

// cors marks requests from an allowed origin, and answers their preflight;
// it reports whether it answered. Players read Location and Link only if
// they are exposed (WHEP: CORS).
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	hd := w.Header()
	hd.Add("Vary", "Origin")
	allowed := origin != "" && slices.Contains(h.cfg.CORSOrigins, origin)
	if allowed {
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Expose-Headers", "Location, Link, Retry-After, Accept-Post")
	}
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	if !allowed {
		writeProblem(w, http.StatusForbidden, "origin not allowed")
		return true
	}
	hd.Set("Access-Control-Allow-Methods", "POST, DELETE, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	hd.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// problem is an RFC 9457 problem details document.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func writeProblem(w http.ResponseWriter, status int, detail string) {
	body, _ := json.Marshal(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Engine adapts the session engine to Calls.
func Engine(e *session.Engine) Calls { return engineCalls{e} }

type engineCalls struct{ e *session.Engine }

func (c engineCalls) MonitorCall(org store.OrgID, id store.CallID) (rtc.Call, error) {
	mc, err := c.e.Monitor(org, id)
	if err != nil {
		return nil, err
	}
	return liveCall{mc}, nil
}

func (c engineCalls) TalkCall(org store.OrgID, id store.CallID) (rtc.Mic, error) {
	v, err := c.e.Voice(org, id)
	if err != nil {
		return nil, err
	}
	return voiceMic{v}, nil
}

// voiceMic is a session's supervisor voice as media/rtc sees it.
type voiceMic struct{ *session.Voice }

func (v voiceMic) ID() string { return string(v.Voice.ID()) }

// liveCall is a session's call as media/rtc sees it; the Tap types have the
// same methods, so a Monitor is a session tap.
type liveCall struct{ c *session.MonitoredCall }

func (l liveCall) ID() string            { return string(l.c.ID()) }
func (l liveCall) Format() media.Format  { return l.c.Format() }
func (l liveCall) Done() <-chan struct{} { return l.c.Done() }
func (l liveCall) SetTap(t rtc.Tap)      { l.c.SetTap(t) }
func (l liveCall) RemoveTap(t rtc.Tap)   { l.c.RemoveTap(t) }
