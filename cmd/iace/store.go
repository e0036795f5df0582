package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/ai/learn"
	"github.com/iace/iace/migrations"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/cache"
	"github.com/iace/iace/store/embedded"
	"github.com/iace/iace/store/postgres"
	"github.com/iace/iace/store/spool"
)

// The demo organization and agent the embedded store is seeded with, so a
// fresh install answers a call.
const (
	demoOrg   store.OrgID   = "demo"
	demoAgent store.AgentID = "demo"
)

// stores are the layers of the configured store: the backend, the cache in
// front of it, and what to close.
type stores struct {
	backend store.Store
	cached  *cache.Store
	redis   *redis.Client
	spool   *spool.Spool
	name    string
}

func (s *stores) Close() error {
	var err error
	if s.spool != nil {
		err = s.spool.Close() // before the store it writes to
	}
	err = errors.Join(err, s.cached.Close()) // closes the backend too
	if s.redis != nil {
		err = errors.Join(err, s.redis.Close())
	}
	return err
}

// embeddedPath is the database file of the embedded store.
func embeddedPath(dataDir string) string { return filepath.Join(dataDir, "iace.db") }

// openStores opens Postgres when IACE_DATABASE_URL is set, else the embedded
// database in the data directory, and puts the agent and customer cache in
// front (with Redis when IACE_REDIS_URL is set).
// With tp set, each query and each Redis command is a span of the request
// or call it serves.
func openStores(ctx context.Context, cfg config, log *slog.Logger, reg prometheus.Registerer, tp trace.TracerProvider) (*stores, error) {
	s := &stores{}
	var err error
	if cfg.DatabaseURL != "" {
		pc := postgres.Config{URL: cfg.DatabaseURL, Migrate: cfg.Migrate}
		if tp != nil {
			// The statements are traced with their placeholders, never
			// their arguments (phone numbers, transcripts).
			pc.Tracer = otelpgx.NewTracer(otelpgx.WithTracerProvider(tp), otelpgx.WithMeterProvider(metricnoop.NewMeterProvider()))
		}
		s.backend, err = postgres.Open(ctx, pc)
		s.name = "postgres"
	} else {
		s.backend, err = embedded.Open(ctx, embedded.Config{Path: embeddedPath(cfg.DataDir), Migrate: cfg.Migrate})
		s.name = "embedded (" + embeddedPath(cfg.DataDir) + ")"
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if cfg.RedisURL != "" {
		if s.redis, err = cache.NewRedisClient(cfg.RedisURL); err != nil {
			_ = s.backend.Close()
			return nil, err
		}
		if tp != nil {
			// Commands without their arguments: cached customers and
			// agents are values no trace should hold. Only those of a
			// traced request or call are traced.
			if err := redisotel.InstrumentTracing(s.redis, redisotel.WithTracerProvider(childSpans{tp: tp}), redisotel.WithDBStatement(false)); err != nil {
				_ = s.redis.Close()
				_ = s.backend.Close()
				return nil, fmt.Errorf("redis tracing: %w", err)
			}
		}
	}
	deps := cache.Deps{Logger: log, Registerer: reg}
	if s.redis != nil { // a nil *redis.Client in the interface would not be nil
		deps.Redis = s.redis
	}
	s.cached = cache.New(s.backend, cache.Config{}, deps)
	if cfg.DatabaseURL == "" {
		if err := seedDemo(ctx, s.cached); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	if cfg.AgentsFile != "" {
		if err := importAgents(ctx, s.cached, cfg.AgentsFile, log); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// openSpool opens the call records' spool, the outbox of the end of every
// call: a call's end only writes its record to disk; the spool's replayer
// scores what the call did not (prepare), writes it to the database, and
// hands it on (applied). A database that is away, or a process that
// restarts, delays a record; neither loses it.
func (s *stores) openSpool(cfg config, log *slog.Logger, reg prometheus.Registerer, opts ...spool.Option) error {
	var err error
	s.spool, err = spool.Open(filepath.Join(cfg.DataDir, "spool"), s.cached, log, reg, opts...)
	return err
}

// seedDemo creates the demo organization and its agent on first start.
func seedDemo(ctx context.Context, st store.Store) error {
	if _, err := st.GetOrg(ctx, demoOrg); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("seed: %w", err)
	}
	if _, err := st.CreateOrg(ctx, store.Organization{ID: demoOrg, Name: "Demo"}); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	a := store.DefaultAgent()
	a.OrgID = demoOrg
	if _, err := st.CreateAgent(ctx, a); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

// importAgents creates or updates the agents of a JSON file, and assigns
// their numbers. An agent without an org_id belongs to the demo organization.
func importAgents(ctx context.Context, st store.Store, path string, log *slog.Logger) error {
	file, err := store.LoadAgentsFile(path)
	if err != nil {
		return err
	}
	for _, a := range file.All() {
		if a.OrgID == "" {
			a.OrgID = demoOrg
		}
		if _, err := st.GetOrg(ctx, a.OrgID); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("agents file: agent %q: organization %q does not exist: create it first (iace user create --org %s ...)",
				a.ID, a.OrgID, a.OrgID)
		} else if err != nil {
			return fmt.Errorf("agents file: agent %q: %w", a.ID, err)
		}
		// Created, or updated if it exists: decided by the database, not
		// by a read before the write, so nodes that start together with
		// the same file do not trip over each other.
		_, err := st.CreateAgent(ctx, a)
		if errors.Is(err, store.ErrConflict) {
			_, err = st.UpdateAgent(ctx, a)
		}
		if err != nil {
			return fmt.Errorf("agents file: agent %q: %w", a.ID, err)
		}
		for _, n := range a.Numbers {
			// The file is the operator's: its numbers are allotted as they are routed.
			if err := st.AllotNumber(ctx, a.OrgID, store.PhoneNumber(n)); err != nil {
				return fmt.Errorf("agents file: agent %q number: %w", a.ID, err)
			}
			if err := st.AssignNumber(ctx, store.Number{OrgID: a.OrgID, E164: store.PhoneNumber(n), AgentID: a.ID}); err != nil {
				return fmt.Errorf("agents file: agent %q number: %w", a.ID, err)
			}
		}
	}
	log.Info("agents imported", "file", path, "agents", len(file.All()))
	return nil
}

// agentRouter answers the session's agent lookups from the (cached) store;
// numbers no agent claims go to the default agent, if one is configured.
type agentRouter struct {
	st       store.Store
	defOrg   store.OrgID
	defAgent store.AgentID
}

func newAgentRouter(st store.Store, def string) (agentRouter, error) {
	r := agentRouter{st: st}
	if def == "" {
		return r, nil
	}
	org, agent, ok := strings.Cut(def, "/")
	if !ok || org == "" || agent == "" {
		return r, fmt.Errorf("default agent %q: want <org id>/<agent id>", def)
	}
	r.defOrg, r.defAgent = store.OrgID(org), store.AgentID(agent)
	return r, nil
}

func (r agentRouter) AgentForNumber(ctx context.Context, number store.PhoneNumber) (store.Agent, error) {
	a, err := r.st.AgentForNumber(ctx, number)
	if errors.Is(err, store.ErrNotFound) && r.defAgent != "" {
		return r.st.GetAgent(ctx, r.defOrg, r.defAgent)
	}
	return a, err
}

// GetAgent loads an agent by id: streams that carry a token name theirs.
func (r agentRouter) GetAgent(ctx context.Context, org store.OrgID, id store.AgentID) (store.Agent, error) {
	return r.st.GetAgent(ctx, org, id)
}

// migrate runs `iace migrate up|down|status` against the configured store.
func migrate(ctx context.Context, action string, cfg config, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if cfg.DatabaseURL != "" {
		pc := postgres.Config{URL: cfg.DatabaseURL}
		switch action {
		case "up":
			return postgres.Migrate(ctx, pc, postgres.Up)
		case "down":
			return postgres.Migrate(ctx, pc, postgres.Down)
		case "status":
			return postgres.MigrationStatus(ctx, pc, out)
		}
		return fmt.Errorf("migrate %q: want up, down or status", action)
	}
	db, err := embedded.OpenDB(ctx, embeddedPath(cfg.DataDir))
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	switch action {
	case "up":
		return migrations.Up(ctx, db, migrations.SQLite)
	case "down":
		return migrations.Down(ctx, db, migrations.SQLite)
	case "status":
		return migrations.Status(ctx, db, migrations.SQLite, out)
	}
	return fmt.Errorf("migrate %q: want up, down or status", action)
}

// recordCall hands a finished call's record to the spool, which writes it
// to disk and returns: the end of the call and the drain wait for a local
// file, not for scoring, the database or learning. If even the disk fails,
// the record is written to the database at once, or logged as lost.
func (s *stores) recordCall(ctx context.Context, log *slog.Logger, sum session.CallSummary) {
	if sum.Info.OrgID == "" {
		return // an agent from outside the store: nowhere to record it
	}
	r := sum.Record()
	rec := spool.CallRecord{Call: r.Call, Customer: r.Customer, End: r.End, PatternsUsed: r.PatternsUsed}
	err := s.spool.Enqueue(rec)
	if err == nil {
		return
	}
	log.Warn("call record not spooled; writing it to the database now", "call_id", string(sum.Info.ID), "err", err)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.spool.RecordCall(ctx, rec); err != nil {
		log.Error("call record lost", "call_id", string(sum.Info.ID), "err", err)
	}
}

// learnAfter is the spool's hand-on of a record in the database: the
// patterns that informed its replies have their use counted (a success
// when the call was resolved; a record replayed after a crash may count
// again), and the call goes to the learning workers, with the agent that
// answered it, which learn patterns from it and update the caller's
// memory, unless learning is off (--learning=false). The record stays in
// the spool until they are done.
func (s *stores) learnAfter(workers *learn.Workers, learning bool, log *slog.Logger) func(context.Context, spool.CallRecord) {
	return func(ctx context.Context, rec spool.CallRecord) {
		for _, id := range rec.PatternsUsed {
			uctx, cancel := context.WithTimeout(ctx, time.Second)
			err := s.cached.RecordPatternUse(uctx, rec.Call.OrgID, id, rec.End.Outcome == store.OutcomeResolved)
			cancel()
			if err != nil && !errors.Is(err, store.ErrNotFound) { // a pattern deleted since is no loss
				log.Warn("pattern use not counted", "call_id", string(rec.Call.ID), "pattern_id", string(id), "err", err)
			}
		}
		if !learning {
			return
		}
		actx, cancel := context.WithTimeout(ctx, time.Second)
		agent, err := s.cached.GetAgent(actx, rec.Call.OrgID, rec.Call.AgentID)
		cancel()
		if err != nil {
			log.Warn("learning skipped: the call's agent is not readable", "call_id", string(rec.Call.ID), "err", err)
			return
		}
		call := rec.Call
		call.Outcome, call.EscalationReason = rec.End.Outcome, rec.End.EscalationReason
		lc := learn.NewCall(agent, call, rec.End.Turns)
		lc.Counted = rec.PatternsUsed
		// The spool keeps the record until the call is learned from: a
		// restart meanwhile learns from it again instead of losing it.
		done := rec.Hold()
		if !workers.Submit(ctx, lc, done) {
			log.Warn("learning skipped: the learning workers are stopping", "call_id", string(rec.Call.ID))
		}
	}
}

// openCommandStores opens the stores for a one-shot command (iace user,
// iace number): warnings and errors go to stderr as text, metrics nowhere.
func openCommandStores(ctx context.Context, cfg config, stderr io.Writer) (*stores, *slog.Logger, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := openStores(ctx, cfg, log, prometheus.NewRegistry(), nil)
	return st, log, err
}
