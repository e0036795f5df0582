// Package monitor is the HTTP edge of live call listening: WHEP (the
// WebRTC-HTTP egress protocol, an IETF wish working group draft) sessions
// that let a supervisor or admin hear a live call of their organization in
// a browser. It authenticates, authorizes and rate-limits, and maps
// media/rtc's errors to status codes and problem+json.
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

// Paths of the WHEP endpoint (one per call) and of its sessions.
const (
	CallsPath    = "/whep/calls/"
	SessionsPath = "/whep/sessions/"
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
}

// Records reads a recorded call (the store): a call recorded by its
// webhook whose stream has not started yet is "not yet streaming".
type Records interface {
	GetCall(ctx context.Context, org store.OrgID, id store.CallID) (store.CallDetail, error)
}

// Listeners runs the WebRTC listeners (media/rtc's Server).
type Listeners interface {
	Listen(ctx context.Context, call rtc.Call, offer string, opt rtc.ListenOptions) (*rtc.Listener, string, error)
	Delete(id, owner string) error
}

var _ Listeners = (*rtc.Server)(nil)

// Config sets the endpoint's answers.
type Config struct {
	// ICEServers are STUN/TURN URLs given to players in Link headers
	// (rel="ice-server", RFC 9725 section 4.6); the server itself needs
	// none.
	ICEServers []string
	// CORSOrigins may call the endpoint from a browser page of another origin.
	CORSOrigins []string
	// NotStreamingRetry is the Retry-After of a 409 (the call's media has
	// not started); CapacityRetry that of a 503 (too many listeners).
	NotStreamingRetry time.Duration
	CapacityRetry     time.Duration
}

// DefaultConfig retries after 1 s before a stream starts, 10 s at capacity.
func DefaultConfig() Config {
	return Config{NotStreamingRetry: time.Second, CapacityRetry: 10 * time.Second}
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
	return errors.Join(errs...)
}

// Deps are what the endpoint works with. Records and Limit are optional.
type Deps struct {
	Auth      Authenticator
	Calls     Calls
	Records   Records
	Listeners Listeners
	// Limit, per user, bounds how often sessions are opened, and apart
	// from that how often they are closed: each POST builds a
	// PeerConnection.
	Limit      ratelimit.Limiter
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// Handler serves WHEP under /whep/.
type Handler struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	mux     *http.ServeMux
	results *prometheus.CounterVec
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
	resultCapacity     = "capacity"
	resultError        = "error"
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
			Help: "WHEP listening sessions asked for, by result."}, []string{"result"})}
	for _, r := range []string{resultStarted, resultUnauthorized, resultForbidden, resultLimited, resultBadRequest,
		resultNotFound, resultNotStreaming, resultCapacity, resultError} {
		h.results.WithLabelValues(r)
	}
	if deps.Registerer != nil {
		if err := deps.Registerer.Register(h.results); err != nil {
			return nil, fmt.Errorf("monitor metrics: %w", err)
		}
	}
	h.mux.HandleFunc("POST "+CallsPath+"{call_id}", h.post)
	h.mux.HandleFunc("OPTIONS "+CallsPath+"{call_id}", h.options("OPTIONS, POST"))
	h.mux.HandleFunc(CallsPath+"{call_id}", h.notAllowed("OPTIONS, POST"))
	h.mux.HandleFunc("DELETE "+SessionsPath+"{id}", h.delete)
	h.mux.HandleFunc("OPTIONS "+SessionsPath+"{id}", h.options("OPTIONS, DELETE"))
	// No trickle and no ICE restart: the answer carries every candidate,
	// and a PATCH is refused with 405 (RFC 9725 section 4.3.1).
	h.mux.HandleFunc(SessionsPath+"{id}", h.notAllowed("OPTIONS, DELETE"))
	h.mux.HandleFunc("/whep/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "no such WHEP resource")
	})
	return h, nil
}

// ServeHTTP routes a /whep/ request.
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
	ctx := r.Context()
	p, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	log := h.log.With("call_id", r.PathValue("call_id"), "org_id", string(p.OrgID), "user_id", string(p.UserID))
	refuse := func(result string, status int, detail string) {
		h.results.WithLabelValues(result).Inc()
		log.Info("listening refused", "result", result, "status", status)
		writeProblem(w, status, detail)
	}
	if !p.Can(auth.ActionMonitor) {
		refuse(resultForbidden, http.StatusForbidden, "only supervisors and admins may listen to calls")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/sdp" {
		h.results.WithLabelValues(resultBadRequest).Inc()
		w.Header().Set("Accept-Post", "application/sdp")
		writeProblem(w, http.StatusUnsupportedMediaType, "the offer must be sent as application/sdp")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rtc.MaxOfferBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			refuse(resultBadRequest, http.StatusRequestEntityTooLarge, fmt.Sprintf("the offer is larger than %d bytes", rtc.MaxOfferBytes))
			return
		}
		refuse(resultBadRequest, http.StatusBadRequest, "the offer could not be read")
		return
	}
	sides := false
	switch r.URL.Query().Get("tracks") {
	case "", "mixed":
	case "sides":
		sides = true
	default:
		refuse(resultBadRequest, http.StatusBadRequest, "tracks must be mixed (one track, the default) or sides (the caller and the agent apart)")
		return
	}
	offer := string(body)
	var oe *rtc.OfferError
	if err := rtc.CheckOffer(offer, sides); errors.As(err, &oe) {
		refuse(resultBadRequest, http.StatusBadRequest, oe.Reason)
		return
	}
	id := store.CallID(r.PathValue("call_id"))
	call, err := h.deps.Calls.MonitorCall(p.OrgID, id)
	switch {
	case errors.Is(err, session.ErrNotStreaming) || errors.Is(err, session.ErrCallNotFound) && h.recordedNotEnded(ctx, p.OrgID, id):
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(h.cfg.NotStreamingRetry)))
		refuse(resultNotStreaming, http.StatusConflict, "the call's audio has not started yet; retry shortly")
		return
	case errors.Is(err, session.ErrCallNotFound):
		refuse(resultNotFound, http.StatusNotFound, "no such live call")
		return
	case err != nil:
		h.results.WithLabelValues(resultError).Inc()
		log.Error("listening: call lookup", "err", err)
		writeProblem(w, http.StatusInternalServerError, "the call could not be looked up")
		return
	}
	l, answer, err := h.deps.Listeners.Listen(ctx, call, offer, rtc.ListenOptions{
		Sides: sides, Owner: owner(p), Log: log,
	})
	switch {
	case errors.As(err, &oe):
		refuse(resultBadRequest, http.StatusBadRequest, oe.Reason)
		return
	case errors.Is(err, rtc.ErrCallEnded):
		refuse(resultNotFound, http.StatusNotFound, "no such live call")
		return
	case errors.Is(err, rtc.ErrCapacity), errors.Is(err, rtc.ErrClosed):
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(h.cfg.CapacityRetry)))
		refuse(resultCapacity, http.StatusServiceUnavailable, "too many listeners; retry later")
		return
	case err != nil:
		h.results.WithLabelValues(resultError).Inc()
		log.Error("listening: could not set up the connection", "err", err)
		writeProblem(w, http.StatusInternalServerError, "the connection could not be set up")
		return
	}
	h.results.WithLabelValues(resultStarted).Inc()
	tracks := "mixed"
	if sides {
		tracks = "sides"
	}
	log.Info("listening session opened", "tracks", tracks)
	hd := w.Header()
	for _, u := range h.cfg.ICEServers {
		hd.Add("Link", "<"+u+`>; rel="ice-server"`)
	}
	hd.Set("Location", SessionsPath+l.ID())
	hd.Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer) //nolint:gosec // G705: pion's SDP, served as application/sdp with nosniff, never HTML
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

// delete ends a listening session of the caller's own; another user's, or
// an id never issued, is the same 404.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	p, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	if err := h.deps.Listeners.Delete(r.PathValue("id"), owner(p)); err != nil {
		writeProblem(w, http.StatusNotFound, "no such listening session")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// authenticate checks the bearer token and the user's rate; on failure it
// has answered.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (auth.Principal, bool) {
	ctx := r.Context()
	bearer := r.Header.Get("Authorization")
	if _, ok := auth.BearerToken(bearer); !ok {
		h.unauthorized(w, r)
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
		h.unauthorized(w, r)
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
				h.results.WithLabelValues(resultLimited).Inc()
			}
			ratelimit.WriteTooManyRequests(w, wait)
			return auth.Principal{}, false
		}
	}
	return p, true
}

func (h *Handler) unauthorized(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		h.results.WithLabelValues(resultUnauthorized).Inc()
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="iace"`)
	writeProblem(w, http.StatusUnauthorized, "a valid bearer token is required")
}

// owner is who may end a session: the user who opened it.
func owner(p auth.Principal) string { return string(p.OrgID) + "\x00" + string(p.UserID) }

// options answers an OPTIONS that is not a CORS preflight.
func (h *Handler) options(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		hd := w.Header()
		hd.Set("Allow", allow)
		if strings.Contains(allow, "POST") {
			hd.Set("Accept-Post", "application/sdp")
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

// liveCall is a session's call as media/rtc sees it; the Tap types have the
// same methods, so a Monitor is a session tap.
type liveCall struct{ c *session.MonitoredCall }

func (l liveCall) ID() string            { return string(l.c.ID()) }
func (l liveCall) Format() media.Format  { return l.c.Format() }
func (l liveCall) Done() <-chan struct{} { return l.c.Done() }
func (l liveCall) SetTap(t rtc.Tap)      { l.c.SetTap(t) }
func (l liveCall) RemoveTap(t rtc.Tap)   { l.c.RemoveTap(t) }
