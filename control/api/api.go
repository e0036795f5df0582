// Package api is IACE's control API (/api/v1): login and tokens, users,
// agents, numbers, customers, calls, learned patterns and analytics, each
// scoped to the caller's organization. Routes are declared with huma, so the
// OpenAPI 3.1 document served at /api/v1/openapi.json is generated from the
// same code that serves the requests and cannot drift from it.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/iace/iace/control/ratelimit"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// Version is the API's version in its OpenAPI document.
const Version = "1.0.0"

// The license the OpenAPI document states for the API. The repository
// carries no open-source license, so the document says so; the identifier
// is an SPDX expression (OpenAPI 3.1's License Object), a LicenseRef- one
// being SPDX's form for a license not on its list.
const (
	licenseName = "Proprietary"
	licenseID   = "LicenseRef-IACE-Proprietary"
)

// Store is the part of the repository the API reads and writes.
type Store interface {
	GetOrg(ctx context.Context, id store.OrgID) (store.Organization, error)
	SetTransferPolicy(ctx context.Context, org store.OrgID, p store.TransferPolicy) (store.Organization, error)

	GetUser(ctx context.Context, org store.OrgID, id store.UserID) (store.User, error)
	ListUsers(ctx context.Context, org store.OrgID) ([]store.User, error)

	CreateAgent(ctx context.Context, a store.Agent) (store.Agent, error)
	GetAgent(ctx context.Context, org store.OrgID, id store.AgentID) (store.Agent, error)
	ListAgents(ctx context.Context, org store.OrgID) ([]store.Agent, error)
	UpdateAgent(ctx context.Context, a store.Agent) (store.Agent, error)
	DeleteAgent(ctx context.Context, org store.OrgID, id store.AgentID) error

	AssignNumber(ctx context.Context, n store.Number) error
	RemoveNumber(ctx context.Context, org store.OrgID, e164 store.PhoneNumber) error
	ListNumbers(ctx context.Context, org store.OrgID) ([]store.Number, error)

	CreateCustomer(ctx context.Context, c store.Customer) (store.Customer, error)
	GetCustomer(ctx context.Context, org store.OrgID, id store.CustomerID) (store.Customer, error)
	UpdateCustomer(ctx context.Context, c store.Customer) (store.Customer, error)
	SearchCustomers(ctx context.Context, org store.OrgID, query string, p store.Page) ([]store.Customer, string, error)

	GetCall(ctx context.Context, org store.OrgID, id store.CallID) (store.CallDetail, error)
	ListCalls(ctx context.Context, org store.OrgID, f store.CallFilter, p store.Page) ([]store.CallListItem, string, error)

	GetPattern(ctx context.Context, org store.OrgID, id store.PatternID) (store.Pattern, error)
	ListPatterns(ctx context.Context, org store.OrgID, f store.PatternFilter, p store.Page) ([]store.Pattern, string, error)
	DeletePattern(ctx context.Context, org store.OrgID, id store.PatternID) error
	CreatePattern(ctx context.Context, p store.Pattern) (store.Pattern, error)
	SetPatternStatus(ctx context.Context, org store.OrgID, id store.PatternID, s store.PatternStatus) (store.Pattern, error)
	SimilarPatterns(ctx context.Context, org store.OrgID, f store.PatternFilter, query []float32, k int) ([]store.ScoredPattern, error)

	ListPredictionModels(ctx context.Context, org store.OrgID) ([]store.PredictionModel, error)
}

// Stats computes the analytics buckets (the store's CallStats).
type Stats interface {
	CallStats(ctx context.Context, org store.OrgID, q store.StatsQuery) ([]store.StatsBucket, error)
}

// LiveCalls lists an organization's calls in progress on every node, and
// tells one, on whichever node holds it, that a supervisor handed it to a
// human (its record then says so): *cluster.Node is one.
type LiveCalls interface {
	Live(ctx context.Context, org store.OrgID) ([]session.CallInfo, error)
	Handed(ctx context.Context, org store.OrgID, id session.CallID, reason store.EscalationReason) (bool, error)
}

// CallController acts on a phone call through Telnyx Call Control.
type CallController interface {
	Transfer(ctx context.Context, callControlID, to string, handoff []byte) error
	Hangup(ctx context.Context, callControlID string) error
}

// Embedder turns text into the vectors patterns are searched by.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Limiter decides whether one more request under key is allowed now, and if
// not, how long to wait.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// Config is the API's own configuration.
type Config struct {
	// CORSOrigins may call the API from a browser ("*" is refused: the API
	// takes credentials).
	CORSOrigins []string
	// MaxBodyBytes caps every request body (default 64 KiB).
	MaxBodyBytes int64
	// AnalyticsTTL is how long an analytics answer is reused (default 10 s).
	AnalyticsTTL time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// finding a client's address for rate limiting (CIDRs or addresses).
	TrustedProxies []string
	// EventHeartbeat is how often a live event stream with nothing to say
	// sends a comment line, and checks its token again (default 15 s).
	EventHeartbeat time.Duration
	// EventWriteTimeout bounds each write to a live event stream (default
	// 10 s): a reader that stops reading is cut off.
	EventWriteTimeout time.Duration
	// EventFollow is how long a call's live event stream waits for the
	// call on another node when it leaves its own (default 20 s: a drain
	// moves a call within a second or two; a lost node's call is taken up
	// after --cluster-lost-after and a heartbeat).
	EventFollow time.Duration
	// Shed answers the requests beyond what the node can serve at once
	// with 503 and Retry-After, instead of letting every request wait
	// (on unless Shed.Disabled; see ShedConfig).
	Shed ShedConfig
}

// Deps are the parts the API serves from. Store and Auth are required; a
// nil Live, Events, Supervision, Calls, Embed, Stats or limiter disables
// what needs it (with 503 or, for limiters, no limit).
type Deps struct {
	Store   Store
	Stats   Stats
	Auth    Authenticator
	Live    LiveCalls
	Events  LiveEvents
	Calls   CallController
	Embed   Embedder
	IPLimit Limiter // per client address, before authentication
	// UserLimit is per authenticated user.
	UserLimit Limiter
	Log       *slog.Logger
	Registry  prometheus.Registerer
	// Tracer, if set, gets a span per request carrying its request id.
	Tracer trace.TracerProvider
	// Supervision switches a supervisor's role on a live call and takes
	// their whispers (session.Engine).
	Supervision Supervision
}

// API is the control API. It is an http.Handler for everything under Prefix.
type API struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	huma    huma.API
	handler http.Handler
	clients *ratelimit.ClientIP
	metrics *metrics
	stats   *statsCache
	tracer  trace.Tracer
}

// New builds the API and its routes.
func New(cfg Config, deps Deps) (*API, error) {
	if deps.Store == nil || deps.Auth == nil {
		return nil, errors.New("api: a store and an authenticator are required")
	}
	return build(cfg, deps)
}

// Document is the API's OpenAPI description, without a server behind it.
func Document() *huma.OpenAPI {
	a, err := build(Config{}, Deps{})
	if err != nil {
		panic(err) // the zero config is valid
	}
	return a.OpenAPI()
}

func build(cfg Config, deps Deps) (*API, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.AnalyticsTTL <= 0 {
		cfg.AnalyticsTTL = 10 * time.Second
	}
	if cfg.EventHeartbeat <= 0 {
		cfg.EventHeartbeat = defaultEventHeartbeat
	}
	if cfg.EventWriteTimeout <= 0 {
		cfg.EventWriteTimeout = defaultEventWriteTimeout
	}
	if cfg.EventFollow <= 0 {
		cfg.EventFollow = defaultEventFollow
	}
	for _, o := range cfg.CORSOrigins {
		if o == "*" {
			return nil, errors.New("api: CORS origin \"*\" is not allowed; list the origins")
		}
	}
	clients, err := ratelimit.NewClientIP(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if deps.Tracer == nil {
		deps.Tracer = noop.NewTracerProvider()
	}
	a := &API{cfg: cfg, deps: deps, log: deps.Log, clients: clients, stats: newStatsCache(cfg.AnalyticsTTL)}
	a.metrics = newMetrics(deps.Registry)
	shed, err := newShedder(cfg.Shed, deps.Registry, deps.Log)
	if err != nil {
		return nil, err
	}
	a.tracer = deps.Tracer.Tracer("github.com/iace/iace/control/api")

	mux := http.NewServeMux()
	hc := huma.DefaultConfig("IACE control API", Version)
	hc.Info.Description = "Manage agents, numbers, customers and calls; read analytics and learned patterns. " +
		"Every request but login, refresh and logout needs a bearer access token; every answer is scoped to the token's organization."
	hc.CreateHooks = nil // no $schema links in bodies
	hc.DocsPath = ""     // the docs page would load scripts from a CDN
	hc.SchemasPath = ""
	hc.OpenAPIPath = "/openapi"
	hc.Info.License = &huma.License{Name: licenseName, Identifier: licenseID}
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "JWT"},
	}
	a.huma = humago.NewWithPrefix(mux, Prefix, hc)
	a.huma.UseMiddleware(a.authenticate)
	a.routes()
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "no such endpoint")
	})
	// Shedding comes after the edge, so that a shed request has its id,
	// headers, access log line and metrics, and after the per-address
	// rate limit, so that one address over its rate is told 429 without
	// taking a permit; and before everything else (the routes, the token
	// check, the body), so that a shed request costs next to nothing.
	a.handler = a.edge(shed.wrap(mux))
	return a, nil
}

// ServeHTTP serves the API, with its request ids, security headers, CORS,
// body caps, per-address rate limit and concurrency limit around the
// routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// OpenAPI is the API's description, as served at Prefix/openapi.json.
func (a *API) OpenAPI() *huma.OpenAPI { return a.huma.OpenAPI() }

// roleExtension names, in the OpenAPI document, the least role an
// operation needs.
const roleExtension = "x-iace-role"

// routes declares every operation.
func (a *API) routes() {
	a.authRoutes()
	a.userRoutes()
	a.agentRoutes()
	a.numberRoutes()
	a.customerRoutes()
	a.callRoutes()
	a.eventRoutes()
	a.superviseRoutes()
	a.patternRoutes()
	a.analyticsRoutes()
	a.predictionRoutes()
	a.orgRoutes()
}

// op declares one operation that needs at least role (RoleNone: no token).
func op(id, method, path, summary, tag string, role store.Role) huma.Operation {
	o := huma.Operation{
		OperationID: id,
		Method:      method,
		Path:        path,
		Summary:     summary,
		Tags:        []string{tag},
		Metadata:    map[string]any{roleKey: role},
	}
	if role != roleNone {
		o.Extensions = map[string]any{roleExtension: string(role)}
		o.Security = []map[string][]string{{"bearer": {}}}
		o.Errors = []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests}
	} else {
		// An empty list, not none: in OpenAPI 3.1 an operation's security
		// list overrides the document's, and an empty one says outright
		// that the operation needs no token (the Operation Object's
		// security field). Linters flag an operation that says nothing.
		o.Security = []map[string][]string{}
	}
	if strings.Contains(path, "{") {
		o.Errors = append(o.Errors, http.StatusNotFound)
	}
	return o
}

// internalError logs err under the request's id and answers 500 without
// saying more.
func (a *API) internalError(ctx context.Context, what string, err error) error {
	a.log.ErrorContext(ctx, "api: "+what, "request_id", requestID(ctx), "err", err)
	return huma.Error500InternalServerError("internal error; quote request id " + requestID(ctx))
}

// storeError maps a store error to the status a client can act on, and
// logs what is not the client's doing.
func (a *API) storeError(ctx context.Context, what string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNoAgent):
		return huma.Error404NotFound(what + " not found")
	case errors.Is(err, store.ErrConflict):
		return huma.Error409Conflict(what + " already exists")
	case errors.Is(err, store.ErrInvalid):
		return huma.Error422UnprocessableEntity(invalidDetail(err))
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The client went away; nobody reads the answer.
		a.log.DebugContext(ctx, "api: client gone", "request_id", requestID(ctx), "op", what)
		return huma.Error503ServiceUnavailable("request canceled")
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		a.log.WarnContext(ctx, "api: store unavailable", "request_id", requestID(ctx), "op", what, "err", err)
		return huma.Error503ServiceUnavailable("the store is unavailable; retry shortly")
	}
	return a.internalError(ctx, what, err)
}

// invalidDetail is the rule an input broke, without the package prefix.
func invalidDetail(err error) string {
	if _, rule, ok := strings.Cut(err.Error(), store.ErrInvalid.Error()+": "); ok {
		return rule
	}
	return "invalid input"
}
