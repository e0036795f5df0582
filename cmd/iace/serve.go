package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/learn"
	"github.com/iace/iace/ai/predict/trainer"
	"github.com/iace/iace/control/api"
	"github.com/iace/iace/control/housekeeping"
	"github.com/iace/iace/control/ui"
	"github.com/iace/iace/control/webhook"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
	"github.com/iace/iace/session/cluster"
	"github.com/iace/iace/store/spool"
)

// server is a running iace serve: its listeners and engine.
type server struct {
	log    *slog.Logger
	engine *session.Engine
	pacer  *media.Pacer
	// streams serves the Telnyx media streams; its Wait outlasts the drain.
	streams  *telnyx.Handler
	public   *http.Server
	internal *http.Server
	publicLn net.Listener
	intLn    net.Listener
	stores   *stores
	prov     *providers
	control  *control
	// stopTracing flushes and stops the trace exporter.
	stopTracing func(context.Context) error
	// webhookDone is closed when the webhook workers have stopped.
	webhookStop context.CancelFunc
	webhookDone chan struct{}
	// housekeeper prunes expired refresh tokens and old webhook event ids;
	// housekeepDone is closed when it has stopped.
	housekeeper   *housekeeping.Housekeeper
	housekeepStop context.CancelFunc
	housekeepDone chan struct{}
	// learners learn from finished calls the spool hands them.
	learners *learn.Workers
	// predictors train and serve the organizations' prediction models.
	predictors *trainer.Trainer
	// monitor is live call listening (WHEP, WebRTC).
	monitor *monitorServer
	// node is this server among the nodes sharing Redis (a cluster of one
	// without it); nodeStop stops it, nodeDone is closed when it has left.
	node     *cluster.Node
	nodeStop context.CancelFunc
	nodeDone chan struct{}
	// deps pings the dependencies the nodes share; depsStop stops it,
	// depsDone is closed when it has stopped.
	deps     *dependencyChecker
	depsStop context.CancelFunc
	depsDone chan struct{}
}

// Learning from finished calls runs on its own workers, off every call's
// path: two at once (an LLM extraction takes about a second), up to 256
// waiting, each call bounded.
const (
	learnWorkers = 2
	learnQueue   = 256
	learnTimeout = 30 * time.Second
)

// recordFlushTimeout bounds the wait at shutdown for call records still
// being written; what is left stays on disk for the next start.
const recordFlushTimeout = 5 * time.Second

// newServer wires config -> agents -> providers -> engine -> HTTP and opens
// the listeners. Nothing is served until start.
func newServer(ctx context.Context, cfg config, logOut io.Writer) (*server, error) {
	log := newLogger(cfg.LogFormat, cfg.LogLevel, logOut)
	cfg.Conn.StreamSecret = streamSecret(cfg, log)
	var why string
	cfg.Conn.AllowUnauthenticated, why = allowUnauthenticated(cfg)
	if !cfg.Conn.AllowUnauthenticated {
		log.Info("media streams without a token are refused: "+why, "unauthenticated_streams", cfg.UnauthenticatedStreams)
	} else if cfg.TelnyxKey != "" {
		log.Warn("media streams without a token are accepted while " + envTelnyxKey + " is set: a stream names the call_control_id " +
			"that transfers and hang-ups act on, so anyone who reaches /media/telnyx can act on any call of the account; load tests only")
	}
	cfg.Conn.AllowedOrigins = splitList(cfg.CORSOrigins)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Tracing first: the stores and the provider clients trace their
	// queries and requests with it.
	tracer, stopTracing, err := newTracing(ctx, cfg.Telemetry, log)
	if err != nil {
		return nil, err
	}
	st, err := openStores(ctx, cfg, log, reg, exporting(tracer))
	if err != nil {
		_ = stopTracing(ctx)
		return nil, err
	}
	agents, err := newAgentRouter(st.cached, cfg.DefaultAgent)
	if err != nil {
		_ = st.Close()
		_ = stopTracing(ctx)
		return nil, err
	}
	prov, err := newProviders(cfg, reg, log, exporting(tracer))
	if err != nil {
		_ = st.Close()
		_ = stopTracing(ctx)
		return nil, err
	}
	log.Info("providers", append(prov.names, "store", st.name, "cache", cacheName(cfg.RedisURL))...)

	pacer, err := media.NewPacer(cfg.Pacer, reg)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	predictors, err := newPredictors(ctx, st, log, reg)
	if err != nil {
		pacer.Close()
		_ = st.Close()
		return nil, err
	}
	// What a call reads about its agent and its caller (--memory): the
	// agent's patterns, the caller's latest calls, the patterns nearest to
	// the caller's first words.
	// This node among those sharing Redis: its calls are listed, routed to
	// and counted against their organization's limit across the nodes; a
	// lost node's calls are recorded here.
	cfg.Session.MaxCalls, cfg.Session.NoCalls = cfg.capacity(), !cfg.TakeCalls
	cfg.Cluster.Node = cfg.nodeName()
	var rdb redis.UniversalClient
	if st.redis != nil { // a nil *redis.Client in the interface would not be nil
		rdb = st.redis
	}
	node, err := cluster.New(cfg.Cluster, rdb, func(ctx context.Context, sum session.CallSummary) { st.recordCall(ctx, log, sum) }, reg, log)
	if err != nil {
		predictors.Close()
		pacer.Close()
		_ = st.Close()
		return nil, err
	}
	// A draining node moves its calls to the others (streaming_start with a
	// new token, to the shared public URL) when there are others to take
	// them, Call Control to ask, and a URL to give.
	var mover session.Mover
	if rdb != nil && prov.cc != nil && cfg.PublicURL != "" {
		base, err := webhook.StreamURL(cfg.PublicURL)
		if err != nil {
			predictors.Close()
			pacer.Close()
			_ = st.Close()
			return nil, err
		}
		node.EnableMoves(telnyxStreams{cc: prov.cc, base: base}, cfg.Conn.StreamSecret)
		mover = node
	}
	if prov.calls != nil {
		node.HangUpLost(prov.calls.Hangup)
	}
	var (
		patterns session.PatternSource
		history  session.CallHistory
		embedder ai.Embedder
	)
	if cfg.Memory {
		patterns, history, embedder = st.cached, st.cached, prov.embed
	}
	engine, err := session.NewEngine(cfg.Session, session.Deps{
		Agents: agents,
		STT:    prov.stt,
		Chat:   prov.chat,
		Synth:  prov.synth,
		Calls:  prov.calls,
		// A stream token opens its call's one stream; the call's identity
		// comes from its row (uncached: the claim is a write).
		Streams: st.backend,
		// Transfers follow the organization's transfer policy.
		Orgs: st.cached,
		// The agent's most used patterns go into the model's context.
		Patterns: patterns,
		// Each caller turn is scored while the call runs (escalation rules).
		Sentiment: prov.sentiment,
		// The model may look the caller up (lookup_customer), through the cache.
		Customers: st.cached,
		// Each organization's trained outcome prediction model, cached.
		Predictors: predictors,
		// A returning caller's latest calls, and the patterns nearest to a
		// caller's first words, read under the memory deadline.
		History:  history,
		Embedder: embedder,
		Pacer:    pacer,
		// The node's calls are shared with the other nodes, and moved to
		// them when it drains.
		Directory: node,
		Mover:     mover,
		// With --recover-lost-calls, each call's state after every turn,
		// for the node that takes it up if this one is lost.
		Checkpoints: checkpoints(node),
		OnEnd:       func(ctx context.Context, sum session.CallSummary) { st.recordCall(ctx, log, sum) },
		Metrics:     session.NewMetrics(reg),
		Tracer:      tracer,
		Log:         log,
	})
	if err != nil {
		predictors.Close()
		pacer.Close()
		_ = st.Close()
		return nil, err
	}
	node.Attach(engine)
	log.Info("node", "name", node.Name(), "shared", node.Shared(), "moves_calls_when_draining", mover != nil, "recovers_lost_calls", node.Recovers(), "takes_calls", cfg.TakeCalls,
		"spare_processor_for_hashes", cfg.hashing != nil, "capacity", cfg.Session.MaxCalls, "org_max_calls", cfg.Cluster.OrgMaxCalls)
	// After the call: the spool's replayer scores what the call did not,
	// writes the record, and hands the call to the learning workers.
	learner, err := learn.New(st.cached, prov.embed, prov.extract, learn.Config{Registerer: reg, Logger: log})
	if err != nil {
		predictors.Close()
		pacer.Close()
		_ = st.Close()
		return nil, err
	}
	memory := learn.NewMemory(st.cached, prov.memoryModel, log)
	learners := learn.NewWorkers(context.WithoutCancel(ctx), learner, memory, learnWorkers, learnQueue, learnTimeout, log)
	if err := st.openSpool(cfg, log, reg,
		spool.WithPrepare(func(ctx context.Context, rec *spool.CallRecord) {
			rec.End.Sentiment = scoreSentiment(ctx, prov.sentiment, rec.End.Turns)
		}),
		spool.WithApplied(both(st.learnAfter(learners, cfg.Learning, log), trainAfter(predictors)))); err != nil {
		learners.Close()
		predictors.Close()
		pacer.Close()
		_ = st.Close()
		return nil, err
	}
	// From here a failure stops what was started, in this order.
	var whep *monitorServer // Close is nil-safe
	abort := func() {
		whep.Close()
		predictors.Close() // the spool's later hand-ons are ignored
		pacer.Close()
		_ = st.Close() // the spool first: no more calls for the learners
		learners.Close()
		_ = stopTracing(ctx) // flushes what was traced so far
	}
	hk, err := housekeeping.New(housekeeping.Config{}, st.backend, log)
	if err != nil {
		abort()
		return nil, err
	}
	s := &server{log: log, engine: engine, pacer: pacer, stores: st, prov: prov, stopTracing: stopTracing, housekeeper: hk, learners: learners,
		predictors: predictors, node: node}
	// Readiness is this node's alone: draining or at its capacity. The
	// store and Redis are shared by every node, so an outage of either
	// would take them all out of the load balancer at once, while live
	// calls go on without them (records wait in the spool) and a draining
	// node's calls need a ready node to move to. Their state is reported
	// (/readyz?verbose=1, iace_dependency_up), never a reason to be unready;
	// the webhook refuses events while the store is down (Telnyx delivers
	// them again), since it writes each call there before answering it.
	deps := []dependency{{"store", st.backend.Ping}}
	if st.redis != nil {
		deps = append(deps, dependency{"redis", func(ctx context.Context) error { return st.redis.Ping(ctx).Err() }})
	}
	s.deps = newDependencyChecker(deps, dependencyTimeout, reg, log)
	if s.control, err = newControl(cfg, st, prov, node, s.deps, tracer, reg, log); err != nil {
		abort()
		return nil, err
	}
	if whep, err = newMonitor(cfg, st, s.control.auth, engine, node, reg, log); err != nil {
		abort()
		return nil, err
	}
	s.monitor = whep

	// Every handler but the media streams gets read and write deadlines.
	bounded := func(h http.Handler) http.Handler {
		return withDeadlines(h, cfg.HTTP.ReadTimeout, cfg.HTTP.WriteTimeout)
	}
	mux := http.NewServeMux()
	s.streams = telnyx.NewHandler(cfg.Conn, engine, telnyx.NewMetrics(reg), log)
	mux.Handle("GET /media/telnyx", s.streams)
	mux.Handle(api.Prefix+"/", bounded(s.control.api))
	mux.Handle("/whep/", bounded(s.monitor))
	mux.Handle("/whip/", bounded(s.monitor))
	// Which node this is, for the others' check that a lost node is gone
	// (its address may have been given to a new pod).
	mux.Handle("GET "+cluster.IdentityPath, bounded(node.IdentityHandler()))
	if s.control.webhook != nil {
		mux.Handle("POST /webhooks/telnyx", bounded(s.control.webhook))
	}
	// The supervisor's page, embedded in the binary.
	mux.Handle(ui.Prefix, bounded(ui.Handler()))
	mux.Handle("GET /ui", http.RedirectHandler(ui.Prefix, http.StatusMovedPermanently))
	mux.Handle("GET /{$}", bounded(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "IACE media server. Telnyx media streams: /media/telnyx")
	})))
	s.public = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.internal = &http.Server{
		Handler:           withDeadlines(internalMux(reg, engine, s.deps, pprofFor(cfg, log)), cfg.HTTP.ReadTimeout, pprofWriteTimeout),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
	}

	var lc net.ListenConfig
	conns := newConnMetrics(reg)
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		abort()
		return nil, fmt.Errorf("public listener: %w", err)
	}
	s.publicLn = limitListen(ln, "public", cfg.HTTP.MaxConns, conns)
	if ln, err = lc.Listen(ctx, "tcp", cfg.InternalAddr); err != nil {
		_ = s.publicLn.Close()
		abort()
		return nil, fmt.Errorf("internal listener: %w", err)
	}
	s.intLn = limitListen(ln, "internal", internalMaxConns, conns)
	// Without --node-addr the other nodes are told the listener's own
	// address, when it names one (not a wildcard).
	if host, _, err := net.SplitHostPort(s.publicLn.Addr().String()); err == nil && !net.ParseIP(host).IsUnspecified() {
		node.Advertise(s.publicLn.Addr().String())
	}
	return s, nil
}

// dependency is a service the nodes share, with its health check.
type dependency struct {
	name string
	ping func(ctx context.Context) error
}

// The shared dependencies are pinged every dependencyInterval, each ping
// bounded by dependencyTimeout.
const (
	dependencyInterval     = 5 * time.Second
	dependencyDownInterval = time.Second
	dependencyTimeout      = time.Second
)

// dependencyState is the result of one dependency's ping: err is nil when
// it answered.
type dependencyState struct {
	name string
	err  error
}

// dependencyChecker pings the shared dependencies, exports the results as
// iace_dependency_up{name} and logs each change.
type dependencyChecker struct {
	deps    []dependency
	timeout time.Duration
	up      *prometheus.GaugeVec
	log     *slog.Logger

	mu sync.Mutex
	// down holds the result of each dependency's latest ping, by name:
	// true when it failed. Absent before the first.
	down map[string]bool
}

func newDependencyChecker(deps []dependency, timeout time.Duration, reg prometheus.Registerer, log *slog.Logger) *dependencyChecker {
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "dependency", Name: "up",
		Help: "Whether a dependency the nodes share (store, redis) answered its latest ping (1) or not (0), pinged every " +
			dependencyInterval.String() + " (every " + dependencyDownInterval.String() + " while down); not part of readiness."},
		[]string{"name"})
	reg.MustRegister(up)
	return &dependencyChecker{deps: deps, timeout: timeout, up: up, log: log, down: map[string]bool{}}
}

// Run checks at once, then every interval, until ctx ends.
// While a dependency is down it is pinged every dependencyDownInterval,
// so that the webhook takes events again soon after it is back.
func (c *dependencyChecker) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.check(ctx)
		next := interval
		if c.anyDown() {
			next = min(interval, dependencyDownInterval)
		}
		t.Reset(next)
	}
}

// anyDown reports whether a dependency failed its latest ping.
func (c *dependencyChecker) anyDown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, down := range c.down {
		if down {
			return true
		}
	}
	return false
}

// check pings every dependency at once, each for at most the checker's
// timeout, records the results and returns them in the dependencies'
// order. Pings cut short by ctx are returned, not recorded.
func (c *dependencyChecker) check(ctx context.Context) []dependencyState {
	states := make([]dependencyState, len(c.deps))
	var wg sync.WaitGroup
	for i, d := range c.deps {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			states[i] = dependencyState{name: d.name, err: d.ping(pctx)}
		})
	}
	wg.Wait()
	if ctx.Err() == nil {
		c.record(states)
	}
	return states
}

// Down returns the error of dependency name's latest ping when it failed;
// nil when it answered or was not pinged yet.
func (c *dependencyChecker) Down(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down[name] {
		return fmt.Errorf("%s unreachable at its latest ping", name)
	}
	return nil
}

// MarkDown records dependency name as down, as a failed ping would, when a
// request found it unreachable: until its next ping answers.
func (c *dependencyChecker) MarkDown(name string, err error) {
	c.record([]dependencyState{{name: name, err: err}})
}

// record exports states and logs the dependencies that went down or came
// back since their previous ping.
func (c *dependencyChecker) record(states []dependencyState) {
	var changed []dependencyState
	c.mu.Lock()
	for _, st := range states {
		down := st.err != nil
		if was, seen := c.down[st.name]; was != down && (seen || down) {
			changed = append(changed, st)
		}
		c.down[st.name] = down
		up := 1.0
		if down {
			up = 0
		}
		c.up.WithLabelValues(st.name).Set(up)
	}
	c.mu.Unlock()
	for _, st := range changed {
		if st.err != nil {
			c.log.Warn("dependency unreachable; this node stays ready", "dependency", st.name, "err", st.err)
		} else {
			c.log.Info("dependency reachable again", "dependency", st.name)
		}
	}
}

// pprofWriteTimeout bounds the internal listener's responses: a CPU
// profile or an execution trace takes the seconds it is asked for (30 by
// default), so this is longer than the public one.
const pprofWriteTimeout = 2 * time.Minute

// pprofFor is the pprof handler the configuration allows: behind
// IACE_PPROF_TOKEN, or open with --pprof (loopback only), else none.
func pprofFor(cfg config, log *slog.Logger) http.Handler {
	switch {
	case cfg.PprofToken != "":
		log.Info("pprof on the internal listener, behind " + envPprofToken)
		return pprofHandler(cfg.PprofToken)
	case cfg.Pprof:
		log.Info("pprof on the internal listener without a token (--pprof, loopback)")
		return pprofHandler("")
	}
	return nil
}

func internalMux(reg *prometheus.Registry, engine *session.Engine, deps *dependencyChecker, pprofs http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	// OpenMetrics when the scraper asks for it: the only text format that
	// carries the latency histograms' exemplars (their trace ids).
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: true}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	// Ready when this node takes new streams. With ?verbose=1 the answer
	// also pings the shared dependencies and lists their state, which
	// does not change its status.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		status, word := http.StatusOK, "ready"
		switch {
		case engine.Draining():
			status, word = http.StatusServiceUnavailable, "draining"
		case !engine.Ready():
			status, word = http.StatusServiceUnavailable, "at capacity"
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if v := r.URL.Query().Get("verbose"); v == "" || v == "0" || v == "false" {
			w.WriteHeader(status)
			fmt.Fprintln(w, word)
			return
		}
		states := deps.check(r.Context())
		w.WriteHeader(status)
		fmt.Fprintln(w, word)
		for _, d := range states {
			if d.err != nil {
				fmt.Fprintf(w, "dependency %s: down (%v)\n", d.name, d.err)
			} else {
				fmt.Fprintf(w, "dependency %s: up\n", d.name)
			}
		}
	})
	if pprofs != nil {
		mux.Handle("/debug/pprof/", pprofs)
	}
	return mux
}

func cacheName(redisURL string) string {
	if redisURL == "" {
		return "in-process"
	}
	return "in-process + redis"
}

// maxCachedSentence is the longest text the speech cache keeps: stock
// phrases are short; a long, one-off answer is not worth the memory.
const maxCachedSentence = 300

// newSpeechCache puts the speech cache in front of src and exports its
// counters.
func newSpeechCache(src ai.SpeechSource, cfg config, reg prometheus.Registerer) *ai.SpeechCache {
	cache := ai.NewSpeechCache(src, int64(cfg.TTSCacheMiB)<<20, maxCachedSentence)
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "iace", Subsystem: "ai", Name: "tts_cache_hits_total",
			Help: "Sentences served from the speech cache."}, func() float64 { return float64(cache.Hits()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "iace", Subsystem: "ai", Name: "tts_cache_misses_total",
			Help: "Sentences synthesized because they were not cached."}, func() float64 { return float64(cache.Misses()) }),
	)
	return cache
}

// start serves both listeners until stop.
func (s *server) start(ctx context.Context) <-chan error {
	errc := make(chan error, 2)
	// The workers outlive the serving context: shutdown stops them after the
	// listener, so that accepted events are processed.
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.webhookStop, s.webhookDone = stop, make(chan struct{})
	go func() { // ends in shutdown, which cancels it and waits
		defer close(s.webhookDone)
		if s.control.webhook != nil {
			if err := s.control.webhook.Run(wctx); err != nil {
				s.log.Warn("webhook workers", "err", err)
			}
		}
	}()
	hctx, hstop := context.WithCancel(wctx)
	s.housekeepStop, s.housekeepDone = hstop, make(chan struct{})
	go func() { // ends in shutdown, which cancels it and waits
		defer close(s.housekeepDone)
		_ = s.housekeeper.Run(hctx) // nil when hctx ends; failed rounds are logged and retried
	}()
	nctx, nstop := context.WithCancel(wctx)
	s.nodeStop, s.nodeDone = nstop, make(chan struct{})
	go func() { // ends in shutdown, which cancels it and waits
		defer close(s.nodeDone)
		if err := s.node.Run(nctx); err != nil {
			s.log.Error("cluster", "err", err)
		}
	}()
	dctx, dstop := context.WithCancel(wctx)
	s.depsStop, s.depsDone = dstop, make(chan struct{})
	go func() { // ends in shutdown, which cancels it and waits
		defer close(s.depsDone)
		s.deps.Run(dctx, dependencyInterval)
	}()
	go func() { errc <- s.public.Serve(s.publicLn) }()
	go func() { errc <- s.internal.Serve(s.intLn) }()
	s.log.Info("serving", "addr", s.publicLn.Addr().String(), "internal_addr", s.intLn.Addr().String())
	return errc
}

// shutdown drains the calls (up to drainTimeout, or until force is closed),
// then closes the listeners and the pacer.
func (s *server) shutdown(ctx context.Context, drainTimeout time.Duration, force <-chan struct{}) error {
	// Teardown outlives the cancellation that started it, with its own deadlines.
	ctx = context.WithoutCancel(ctx)
	dctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	go func() { // ends with shutdown: cancel runs on return
		select {
		case <-force:
			cancel()
		case <-dctx.Done():
		}
	}()
	drainErr := s.engine.Drain(dctx)
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	defer scancel()
	err := errors.Join(drainErr, s.public.Shutdown(sctx), s.internal.Shutdown(sctx))
	// The calls have ended; a stream still in its handshake ends within the
	// handshake timeout, refused by the drained engine.
	if s.streams != nil {
		s.streams.Wait()
	}
	// The drained calls closed their listeners; any left go now.
	s.monitor.Close()
	if s.webhookStop != nil { // after the listener: events already accepted are processed
		s.webhookStop()
		<-s.webhookDone
	}
	if s.nodeStop != nil { // after the drain and the webhooks: their commands to other nodes are answered
		s.nodeStop()
		<-s.nodeDone
	}
	if s.housekeepStop != nil {
		s.housekeepStop()
		<-s.housekeepDone
	}
	if s.depsStop != nil {
		s.depsStop()
		<-s.depsDone
	}
	// The drained calls' records: written now if the database lets us,
	// else at the next start. Then what they teach, then the stores.
	fctx, fcancel := context.WithTimeout(ctx, recordFlushTimeout)
	if ferr := s.stores.spool.Flush(fctx); ferr != nil {
		s.log.Warn("call records still waiting at shutdown; they are written at the next start", "records", s.stores.spool.Depth())
	}
	fcancel()
	_ = s.stores.spool.Close()
	s.learners.Close()
	s.predictors.Close() // before the stores it reads and writes
	s.pacer.Close()
	s.prov.Close()
	return errors.Join(err, s.stopTracing(sctx), s.stores.Close())
}

// serve runs the server until SIGTERM or SIGINT. The first signal drains;
// a second one ends the remaining calls at once.
func serve(parent context.Context, cfg config, logOut io.Writer) error {
	ctx, kill := context.WithCancel(parent)
	defer kill()
	s, err := newServer(ctx, cfg, logOut)
	if err != nil {
		return err
	}
	if cfg.gcPercent > 0 {
		debug.SetGCPercent(cfg.gcPercent)
		s.log.Info("collector target set (GOGC in the environment overrides it)", "gc_percent", cfg.gcPercent)
	}
	// Setup leaves garbage behind: the auth service's decoy argon2id hash
	// alone is a 19 MiB block. Collected here, it goes back to the system
	// (an idle server's resident memory: 42 MiB rather than 58), and the
	// first collection's goal is set by what the server keeps. (Not for
	// the servers of a test, which share a process with many others.)
	if cfg.ownProcess {
		debug.FreeOSMemory()
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)

	errc := s.start(ctx)
	select {
	case err := <-errc:
		kill()
		_ = s.shutdown(ctx, 0, nil) // already failing; the listener error is the one to report
		return err
	case got := <-sig:
		s.log.Info("shutting down: draining calls (a second signal ends them at once)", "signal", got.String(), "drain_timeout", cfg.DrainTimeout.String())
	}
	force := make(chan struct{})
	go func() { // ends when serve returns: signal.Stop and the closed force channel release it
		select {
		case <-sig:
			s.log.Warn("second signal: ending calls now")
			kill()
			close(force)
		case <-ctx.Done():
		}
	}()
	err = s.shutdown(ctx, cfg.DrainTimeout, force)
	kill()
	if err != nil {
		s.log.Warn("shutdown", "err", err)
	}
	s.log.Info("stopped")
	return nil
}

// checkpoints is node when it takes up lost nodes' calls (a nil
// interface, not a nil pointer in one, when it does not).
func checkpoints(node *cluster.Node) session.Checkpointer {
	if !node.Recovers() {
		return nil
	}
	return node
}

// recoverer is node, for the webhook, when it takes up lost nodes' calls.
func recoverer(node *cluster.Node) webhook.Recoverer {
	if !node.Recovers() {
		return nil
	}
	return node
}
