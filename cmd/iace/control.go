package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/control/api"
	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/control/ratelimit"
	"github.com/iace/iace/control/webhook"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session/cluster"
	"github.com/iace/iace/store"
)

// envStreamSecret is the key of the media streams' tokens: a secret, from
// the environment only.
const envStreamSecret = "IACE_STREAM_SECRET" //nolint:gosec // G101: the variable's name, not its value

// control is the control plane of a server: the REST API and, when Telnyx
// is configured, the webhook receiver.
type control struct {
	auth    *auth.Service
	api     *api.API
	webhook *webhook.Handler // nil: webhooks are off
}

// limiter is a rate limiter shared through Redis when there is one.
func limiter(name string, rate ratelimit.Rate, st *stores, reg prometheus.Registerer, log *slog.Logger) (auth.Throttle, error) {
	cfg := ratelimit.Config{Name: name, Rate: rate}
	if st.redis != nil {
		return ratelimit.NewRedis(cfg, st.redis, reg, log)
	}
	return ratelimit.NewLocal(cfg, reg)
}

// perSecond is a rate of n requests a second with a burst of twice that.
func perSecond(n float64) ratelimit.Rate {
	per := time.Duration(float64(time.Second) / n)
	return ratelimit.Rate{N: 1, Per: per, Burst: max(2, int(2*n))}
}

// authKey is the token signing key: IACE_AUTH_SECRET, or a random key for
// this process only.
func authKey(cfg config, log *slog.Logger) []byte {
	if cfg.AuthSecret != "" {
		return []byte(cfg.AuthSecret)
	}
	log.Warn("control API: " + envAuthSecret + " is unset, so tokens are signed with a random key of this process: " +
		"logins end when it restarts and other nodes refuse them; set it to 32+ random bytes, the same on every node")
	return auth.GenerateKey()
}

// streamSecret is the key of the media streams' per-call tokens:
// IACE_STREAM_SECRET, or a random key for this process only.
func streamSecret(cfg config, log *slog.Logger) telnyx.Secret {
	if cfg.StreamSecret != "" {
		return telnyx.Secret(cfg.StreamSecret)
	}
	if cfg.TelnyxPublicKey != "" {
		log.Warn("media streams: " + envStreamSecret + " is unset, so stream tokens are signed with a random key of this process: " +
			"a stream reaching another node is refused; set it to 32+ random bytes, the same on every node")
	}
	return telnyx.Secret(rand.Text() + rand.Text())
}

// allowUnauthenticated decides the development switch and says why. A
// stream without a token names its own call: the agent it reaches, the
// caller's number the model and the record trust, and the call_control_id
// that transfers and hang-ups act on. So "auto" admits such streams only
// where nothing else can reach them and they can reach nothing: the public
// listener is loopback, the store is the embedded quick-start one (a
// production database is not), and neither a Telnyx key (Call Control
// would act on the call id the stream names) nor a stream secret (the
// deployment expects tokens) is set. A loopback listener behind a reverse
// proxy on the same host is public, which is why the store counts too.
func allowUnauthenticated(cfg config) (bool, string) {
	switch cfg.UnauthenticatedStreams {
	case "true":
		return true, "--unauthenticated-streams=true"
	case "false":
		return false, "--unauthenticated-streams=false"
	}
	var why []string
	if !isLoopback(cfg.Addr) {
		why = append(why, "the public listener "+cfg.Addr+" is not loopback")
	}
	if cfg.DatabaseURL != "" {
		why = append(why, envDatabaseURL+" is set")
	}
	if cfg.TelnyxKey != "" {
		why = append(why, envTelnyxKey+" is set")
	}
	if cfg.StreamSecret != "" {
		why = append(why, envStreamSecret+" is set")
	}
	if len(why) > 0 {
		return false, strings.Join(why, ", ") + " (--unauthenticated-streams=auto admits them only on a loopback quick start)"
	}
	return true, "a loopback quick start with no Telnyx key and no stream secret"
}

// newControl builds the API and the webhook receiver over the stores, the
// providers and the engine.
func newControl(cfg config, st *stores, prov *providers, node *cluster.Node, shared *dependencyChecker, tracer trace.TracerProvider,
	reg prometheus.Registerer, log *slog.Logger) (*control, error) {
	c := &control{}
	loginPair, err := limiter("login_pair", auth.DefaultPairFailures, st, reg, log)
	if err != nil {
		return nil, err
	}
	loginEmail, err := limiter("login_email", auth.DefaultEmailFailures, st, reg, log)
	if err != nil {
		return nil, err
	}
	loginIP, err := limiter("login_ip", auth.DefaultIPFailures, st, reg, log)
	if err != nil {
		return nil, err
	}
	if c.auth, err = auth.NewService(auth.Config{SigningKey: authKey(cfg, log), Hashing: cfg.hashing}, st.backend,
		auth.Throttles{Pair: loginPair, Email: loginEmail, IP: loginIP}, reg, log); err != nil {
		return nil, err
	}
	deps := api.Deps{
		Store: st.cached, Stats: st.backend, Auth: c.auth, Live: node, Events: node, Supervision: node, Embed: prov.embed,
		Log: log, Registry: reg, Tracer: tracer,
	}
	if prov.calls != nil {
		deps.Calls = prov.calls
	}
	if cfg.RateIP > 0 {
		if deps.IPLimit, err = limiter("api_ip", perSecond(cfg.RateIP), st, reg, log); err != nil {
			return nil, err
		}
	}
	if cfg.RateUser > 0 {
		if deps.UserLimit, err = limiter("api_user", perSecond(cfg.RateUser), st, reg, log); err != nil {
			return nil, err
		}
	}
	if c.api, err = api.New(api.Config{CORSOrigins: splitList(cfg.CORSOrigins), TrustedProxies: splitList(cfg.TrustedProxies),
		Shed: api.ShedConfig{Disabled: !cfg.APIShed, Latency: cfg.Shed.Latency, MinLimit: shedMinLimitFor(cfg.TakeCalls, cfg.Shed.MinLimit, cfg.Shed.MaxLimit), MaxLimit: cfg.Shed.MaxLimit}}, deps); err != nil {
		return nil, err
	}

	if cfg.TelnyxPublicKey == "" {
		log.Info("telnyx webhooks off: set --telnyx-public-key (and " + envTelnyxKey + ", --public-url) to answer calls from Telnyx")
		return c, nil
	}
	if prov.cc == nil {
		return nil, fmt.Errorf("--telnyx-public-key is set but %s is not: webhooks answer calls through Call Control", envTelnyxKey)
	}
	pub, err := webhook.ParsePublicKey(cfg.TelnyxPublicKey)
	if err != nil {
		return nil, err
	}
	wc := webhook.DefaultConfig()
	wc.PublicKey, wc.PublicURL, wc.StreamSecret = pub, cfg.PublicURL, cfg.Conn.StreamSecret
	if org, agent, ok := strings.Cut(cfg.DefaultAgent, "/"); ok {
		wc.UnknownNumber, wc.DefaultOrg, wc.DefaultAgent = webhook.UnknownDefault, store.OrgID(org), store.AgentID(agent)
	}
	var dedupe webhook.Deduper = webhook.NewStoreDeduper(st.backend)
	if st.redis != nil {
		dedupe = webhook.NewRedisDeduper(st.redis, 0)
	}
	if c.webhook, err = webhook.New(wc, webhook.Deps{
		Agents: st.cached, Calls: st.cached, Control: prov.cc, Live: node, Admission: node, Recover: recoverer(node), Dedupe: dedupe,
		Metrics: webhook.NewMetrics(reg), Log: log, Tracer: exporting(tracer),
		Ready:     func() error { return shared.Down("store") },
		StoreDown: func(err error) { shared.MarkDown("store", err) },
	}); err != nil {
		return nil, err
	}
	log.Info("telnyx webhooks on", "path", "/webhooks/telnyx", "public_url", cfg.PublicURL, "unknown_numbers", string(wc.UnknownNumber))
	return c, nil
}

// splitList reads a comma-separated setting.
func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// validateControl checks the control plane's settings.
func (c *config) validateControl() error {
	var errs []error
	switch c.UnauthenticatedStreams {
	case "auto", "true", "false":
	default:
		errs = append(errs, fmt.Errorf("unauthenticated streams %q: want auto, true or false", c.UnauthenticatedStreams))
	}
	if c.StreamSecret != "" && len(c.StreamSecret) < telnyx.MinSecretLen {
		errs = append(errs, fmt.Errorf("%s is %d bytes: want at least %d random bytes", envStreamSecret, len(c.StreamSecret), telnyx.MinSecretLen))
	}
	if c.TelnyxPublicKey != "" {
		if _, err := webhook.ParsePublicKey(c.TelnyxPublicKey); err != nil {
			errs = append(errs, fmt.Errorf("telnyx public key: %w", err))
		}
		if !strings.HasPrefix(c.PublicURL, "https://") && !strings.HasPrefix(c.PublicURL, "http://") {
			errs = append(errs, errors.New("--public-url (http(s)://host) is required with webhooks: Telnyx streams to it"))
		}
	}
	return errors.Join(errs...)
}
