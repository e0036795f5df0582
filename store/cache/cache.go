// Package cache puts read-through caches in front of a store.Store: agent
// configuration and customer profiles are answered from an in-process layer,
// then Redis, then the database. Writes through the cache invalidate every
// layer on every node (Redis pub/sub), and Redis trouble only makes reads
// slower, never failing.
package cache

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/store"
)

// Defaults of Config.
const (
	DefaultAgentTTL        = 5 * time.Minute
	DefaultCustomerTTL     = 2 * time.Minute
	DefaultMaxLocalEntries = 10_000
	DefaultRedisTimeout    = 50 * time.Millisecond
	DefaultRedisBackoff    = time.Second
	DefaultKeyPrefix       = "iace:cache:"
	DefaultChannel         = "iace:cache:invalidate"
)

// Config tunes the caches. Zero fields take the defaults above.
type Config struct {
	// AgentTTL bounds how long an agent (by id or by dialed number) is
	// served from a cache without a write invalidating it.
	AgentTTL time.Duration
	// CustomerTTL is the same for customer profiles (by id or by phone).
	CustomerTTL time.Duration
	// MaxLocalEntries bounds the in-process layer (entries, all kinds).
	MaxLocalEntries int
	// RedisTimeout bounds every Redis operation on the read and write paths.
	RedisTimeout time.Duration
	// RedisBackoff: after a Redis error, reads skip Redis for this long, so
	// a dead Redis costs one timeout per RedisBackoff, not one per read.
	RedisBackoff time.Duration
	// KeyPrefix starts every Redis key.
	KeyPrefix string
	// Channel is the Redis pub/sub channel of invalidation messages.
	Channel string
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"agent TTL", c.AgentTTL},
		{"customer TTL", c.CustomerTTL},
		{"redis timeout", c.RedisTimeout},
		{"redis backoff", c.RedisBackoff},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("cache: %s is negative (%v)", d.name, d.v))
		}
	}
	if c.MaxLocalEntries < 0 {
		errs = append(errs, fmt.Errorf("cache: max local entries is negative (%d)", c.MaxLocalEntries))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.AgentTTL <= 0 {
		c.AgentTTL = DefaultAgentTTL
	}
	if c.CustomerTTL <= 0 {
		c.CustomerTTL = DefaultCustomerTTL
	}
	if c.MaxLocalEntries <= 0 {
		c.MaxLocalEntries = DefaultMaxLocalEntries
	}
	if c.RedisTimeout <= 0 {
		c.RedisTimeout = DefaultRedisTimeout
	}
	if c.RedisBackoff <= 0 {
		c.RedisBackoff = DefaultRedisBackoff
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.Channel == "" {
		c.Channel = DefaultChannel
	}
	return c
}

// Deps are what a Store uses but does not own.
type Deps struct {
	// Redis is the shared cache; nil keeps the in-process layer only. The
	// Store does not close it. Build it with NewRedisClient, or set
	// ContextTimeoutEnabled (else go-redis ignores the per-call timeouts).
	Redis redis.UniversalClient
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Logger reports Redis going away and coming back; nil discards.
	Logger *slog.Logger
	// Clock is the time of the in-process layer's expiry and of the Redis
	// back-off; nil is time.Now. With a Clock the local layer has no
	// periodic clean-up goroutine: entries expire when read or evicted.
	Clock func() time.Time
}

// Store is a store.Store whose agent and customer reads go through the
// caches; every other method is the wrapped store's. It is safe for
// concurrent use.
//
// Consistency: a write through a Store invalidates the local entry, leaves a
// short-lived tombstone in Redis (so a read that loaded the old row while
// the write ran cannot store it back) and publishes the keys so other nodes
// drop their local copies. When Redis cannot be reached the invalidation is
// retried once it can, and on every (re)subscription a Store drops its whole
// local layer, since it may have missed messages. What stays is bounded by
// the TTLs: a write made by another program, or a node cut from Redis while
// others are not, is seen at the latest one TTL later (twice the TTL across
// the two layers in the worst case).
type Store struct {
	store.Store

	cfg   Config
	rdb   redis.UniversalClient
	log   *slog.Logger
	now   func() time.Time
	m     *metrics
	local *otter.Cache[string, value]
	node  string // this Store's id in invalidation messages

	// epochs: an invalidation bumps its key's stripe, and a read stores
	// what it loaded only if the stripe did not move meanwhile.
	seed   maphash.Seed
	epochs [256]atomic.Uint64
	gen    atomic.Uint64 // bumped by every invalidation, before the epochs

	// redisDownUntil (unix nanoseconds): reads skip Redis until then.
	redisDownUntil atomic.Int64
	redisDown      atomic.Bool // for logging the transitions once

	pendingMu sync.Mutex
	pending   map[string]struct{} // invalidations Redis has not taken yet
	overflow  bool                // pending overflowed: flush the whole prefix

	ps        *redis.PubSub
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// tombstoneTTL is how long an invalidated key refuses fills in Redis. A read
// stores in Redis only if it loaded within half of it (see redisSet), so a
// value loaded before a write cannot land after its tombstone expires; a
// read that slow is rare and only loses its Redis fill.
const tombstoneTTL = 2 * time.Second

// maxPending bounds the invalidations kept while Redis is unreachable; past
// it the Store forgets them and clears its whole Redis prefix instead.
const maxPending = 10_000

// New wraps next. Close stops the Store's goroutine and closes next.
//
//nolint:contextcheck,nolintlint // the subscriber lives until Close, not a caller's context (contextcheck reads this)
func New(next store.Store, cfg Config, deps Deps) *Store {
	cfg = cfg.withDefaults()
	s := &Store{
		Store:   next,
		cfg:     cfg,
		rdb:     deps.Redis,
		log:     deps.Logger,
		now:     deps.Clock,
		m:       newMetrics(deps.Registerer),
		node:    rand.Text(),
		seed:    maphash.MakeSeed(),
		pending: map[string]struct{}{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	opts := &otter.Options[string, value]{
		MaximumSize: cfg.MaxLocalEntries,
		ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[string, value]) time.Duration {
			return s.ttl(keyKind(e.Key))
		}),
		// Maintenance runs on the writing goroutine: no goroutine escapes
		// the Store (writes to this cache are rare).
		Executor: func(fn func()) { fn() },
	}
	if deps.Clock != nil {
		opts.Clock = clock{deps.Clock}
	}
	s.local = otter.Must(opts)

	if s.rdb != nil {
		if c, ok := s.rdb.(*redis.Client); ok && !c.Options().ContextTimeoutEnabled {
			s.log.Warn("cache: the Redis client ignores context deadlines (ContextTimeoutEnabled is false): a slow Redis slows reads by its read timeout")
		}
		// The subscription goroutine lives as long as the Store: its
		// context is cancelled by Close, not by any caller.
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		// No channel yet: the handle does not connect, so New never waits
		// on Redis; the goroutine subscribes.
		s.ps = s.rdb.Subscribe(ctx)
		s.wg.Add(1)
		go s.subscribe(ctx)
	}
	return s
}

// Close stops the invalidation subscriber, waits for it, and closes the
// wrapped store. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
			_ = s.ps.Close() // unblocks the subscriber's read
			s.wg.Wait()
		}
		s.local.StopAllGoroutines()
		s.closeErr = s.Store.Close()
	})
	return s.closeErr
}

func (s *Store) ttl(k kind) time.Duration {
	if k == kindCustomer || k == kindPhone {
		return s.cfg.CustomerTTL
	}
	return s.cfg.AgentTTL
}

func (s *Store) epoch(key string) *atomic.Uint64 {
	return &s.epochs[maphash.String(s.seed, key)%uint64(len(s.epochs))]
}

// clock adapts an injected time source to otter. A nil Tick channel means
// no periodic clean-up (see otter.Clock).
type clock struct{ now func() time.Time }

func (c clock) NowNano() int64                      { return c.now().UnixNano() }
func (c clock) Tick(time.Duration) <-chan time.Time { return nil }

// readState follows one read through the layers.
type readState struct {
	answered   layer
	redisAsked bool
}

func (r *readState) saw(l layer) {
	r.answered = max(r.answered, l)
}

// get looks key up in the local layer, then in Redis. A Redis hit is copied
// into the local layer unless key was invalidated since ep was read.
func (s *Store) get(ctx context.Context, key string, ep uint64, rs *readState) (value, bool) {
	if v, ok := s.local.GetIfPresent(key); ok {
		rs.saw(layerLocal)
		return v, true
	}
	v, ok := s.redisGet(ctx, key, rs)
	if !ok {
		return value{}, false
	}
	rs.saw(layerRedis)
	s.setLocal(key, v, ep)
	return v, true
}

// setLocal stores v unless key's epoch moved past ep. The check runs under
// the entry's lock, and an invalidation bumps the epoch before it deletes,
// so a stale value cannot land after the invalidation.
func (s *Store) setLocal(key string, v value, ep uint64) {
	e := s.epoch(key)
	s.local.Compute(key, func(old value, _ bool) (value, otter.ComputeOp) {
		if e.Load() != ep {
			return old, otter.CancelOp
		}
		return v, otter.WriteOp
	})
}

// fill stores a value loaded from the database in both layers.
func (s *Store) fill(ctx context.Context, key string, v value, ep uint64, loadStarted time.Time) {
	if s.epoch(key).Load() != ep {
		return
	}
	s.setLocal(key, v, ep)
	s.redisSet(ctx, key, v, loadStarted)
}

// prime stores v, loaded by another lookup than its key's, whose epoch could
// not be read before the load: it is stored only if no invalidation at all
// began since gen was read. Invalidations bump gen before the key's epoch,
// so one that began after this check is caught by the epoch.
func (s *Store) prime(ctx context.Context, key string, v value, gen uint64, loadStarted time.Time) {
	ep := s.epoch(key).Load()
	if s.gen.Load() != gen {
		return
	}
	s.fill(ctx, key, v, ep, loadStarted)
}

// GetAgent returns the agent from the caches or the database.
func (s *Store) GetAgent(ctx context.Context, org store.OrgID, id store.AgentID) (store.Agent, error) {
	var rs readState
	a, err := s.agent(ctx, org, id, &rs)
	if err != nil {
		return store.Agent{}, err
	}
	s.m.read(agents, rs.answered, rs.redisAsked)
	return a, nil
}

func (s *Store) agent(ctx context.Context, org store.OrgID, id store.AgentID, rs *readState) (store.Agent, error) {
	key := agentKey(org, id)
	ep := s.epoch(key).Load()
	if v, ok := s.get(ctx, key, ep, rs); ok && v.agent != nil {
		return cloneAgent(v.agent), nil
	}
	rs.saw(layerDB)
	started := s.now()
	a, err := s.Store.GetAgent(ctx, org, id)
	if err != nil {
		return store.Agent{}, err
	}
	s.fill(ctx, key, value{agent: &a}, ep, started)
	return cloneAgent(&a), nil
}

// AgentForNumber resolves the dialed number to an agent id through the
// caches, then the agent itself (cached by id, so an agent update
// invalidates one key whatever numbers route to it).
func (s *Store) AgentForNumber(ctx context.Context, e164 store.PhoneNumber) (store.Agent, error) {
	var rs readState
	key := numberKey(e164)
	ep := s.epoch(key).Load()
	if v, ok := s.get(ctx, key, ep, &rs); ok {
		a, err := s.agent(ctx, v.ref.OrgID, store.AgentID(v.ref.ID), &rs)
		switch {
		case err == nil:
			s.m.read(agents, rs.answered, rs.redisAsked)
			return a, nil
		case !errors.Is(err, store.ErrNotFound):
			return store.Agent{}, err
		}
		// The agent went away under a cached route: ask the database.
		s.local.Invalidate(key)
	}
	rs.saw(layerDB)
	gen := s.gen.Load()
	started := s.now()
	a, err := s.Store.AgentForNumber(ctx, e164)
	if err != nil {
		return store.Agent{}, err
	}
	s.fill(ctx, key, value{ref: ref{OrgID: a.OrgID, ID: string(a.ID)}}, ep, started)
	// The call goes on to read the agent by id: have it ready.
	s.prime(ctx, agentKey(a.OrgID, a.ID), value{agent: &a}, gen, started)
	s.m.read(agents, rs.answered, rs.redisAsked)
	return cloneAgent(&a), nil
}

// GetCustomer returns the customer from the caches or the database.
func (s *Store) GetCustomer(ctx context.Context, org store.OrgID, id store.CustomerID) (store.Customer, error) {
	var rs readState
	c, err := s.customer(ctx, org, id, &rs)
	if err != nil {
		return store.Customer{}, err
	}
	s.m.read(customers, rs.answered, rs.redisAsked)
	return c, nil
}

func (s *Store) customer(ctx context.Context, org store.OrgID, id store.CustomerID, rs *readState) (store.Customer, error) {
	key := customerKey(org, id)
	ep := s.epoch(key).Load()
	if v, ok := s.get(ctx, key, ep, rs); ok && v.customer != nil {
		return cloneCustomer(v.customer), nil
	}
	rs.saw(layerDB)
	started := s.now()
	c, err := s.Store.GetCustomer(ctx, org, id)
	if err != nil {
		return store.Customer{}, err
	}
	s.fill(ctx, key, value{customer: &c}, ep, started)
	return cloneCustomer(&c), nil
}

// CustomerByPhone resolves the phone to a customer id through the caches,
// then the customer by id. Unknown callers are not cached: the first call of
// a new caller creates the customer, and a cached "not found" would have to
// be invalidated by every create.
func (s *Store) CustomerByPhone(ctx context.Context, org store.OrgID, phone store.PhoneNumber) (store.Customer, error) {
	var rs readState
	key := phoneKey(org, phone)
	ep := s.epoch(key).Load()
	if v, ok := s.get(ctx, key, ep, &rs); ok {
		c, err := s.customer(ctx, org, store.CustomerID(v.ref.ID), &rs)
		switch {
		case err == nil && c.Phone == phone:
			s.m.read(customers, rs.answered, rs.redisAsked)
			return c, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return store.Customer{}, err
		}
		// The customer changed phone or went away: ask the database.
		s.local.Invalidate(key)
	}
	rs.saw(layerDB)
	gen := s.gen.Load()
	started := s.now()
	c, err := s.Store.CustomerByPhone(ctx, org, phone)
	if err != nil {
		return store.Customer{}, err
	}
	s.fill(ctx, key, value{ref: ref{OrgID: c.OrgID, ID: string(c.ID)}}, ep, started)
	s.prime(ctx, customerKey(c.OrgID, c.ID), value{customer: &c}, gen, started)
	s.m.read(customers, rs.answered, rs.redisAsked)
	return cloneCustomer(&c), nil
}
