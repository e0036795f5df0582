package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	shardCount = 64
	// evictSample is how many entries a full shard looks at to pick the
	// one to evict (the one closest to expiring), as Redis samples for LRU.
	evictSample = 8
)

// Local is an in-process GCRA limiter: a map sharded 64 ways so that
// concurrent requests rarely share a lock. Memory is bounded by
// Config.MaxKeys; entries whose state has expired (the key would behave as
// fresh) are swept from a shard when it was last swept more than a period
// ago, on the next insert, so no goroutine is needed.
type Local struct {
	name     string
	interval int64 // ns
	burst    int64
	period   int64 // ns, the sweep interval
	perShard int
	now      func() time.Time
	seed     maphash.Seed
	m        *metrics
	shards   [shardCount]shard
}

type shard struct {
	mu        sync.Mutex
	tats      map[string]int64 // key -> theoretical arrival time, unix ns
	lastSweep int64
	_         [40]byte // keep shards on separate cache lines
}

// NewLocal returns an in-process limiter. Its metrics go to reg (nil: none).
func NewLocal(cfg Config, reg prometheus.Registerer) (*Local, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return newLocal(cfg, newMetrics(reg, cfg.Name)), nil
}

func newLocal(cfg Config, m *metrics) *Local {
	l := &Local{
		name:     cfg.Name,
		interval: int64(cfg.Rate.interval()),
		burst:    int64(cfg.Rate.burst()),
		period:   int64(cfg.Rate.Per),
		perShard: max(1, cfg.MaxKeys/shardCount),
		now:      cfg.Now,
		seed:     maphash.MakeSeed(),
		m:        m,
	}
	for i := range l.shards {
		l.shards[i].tats = make(map[string]int64)
	}
	return l
}

// Allow takes one event from key's allowance. It never returns an error.
func (l *Local) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	ok, wait := l.decide(key, true)
	l.m.decided(ok)
	return ok, wait, nil
}

// Peek reports whether Allow would pass now, without taking anything.
func (l *Local) Peek(_ context.Context, key string) (bool, time.Duration, error) {
	ok, wait := l.decide(key, false)
	return ok, wait, nil
}

// Refund gives back one event that Allow took from key, for an event that
// turned out not to count (a login that succeeded). A key never gets more
// than a fresh key's burst back, so a refund without an Allow does nothing.
// It never returns an error.
func (l *Local) Refund(_ context.Context, key string) error {
	l.refund(key)
	return nil
}

func (l *Local) refund(key string) {
	key = boundKey(key)
	now := l.now().UnixNano()
	s := l.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, known := s.tats[key]
	if !known {
		return
	}
	if next, fresh := gcraRefund(now, tat, l.interval); fresh {
		delete(s.tats, key)
	} else {
		s.tats[key] = next
	}
}

// shardOf is the shard that holds key.
func (l *Local) shardOf(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)%shardCount]
}

// Len is the number of keys remembered.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tats)
		s.mu.Unlock()
	}
	return n
}

func (l *Local) decide(key string, take bool) (bool, time.Duration) {
	key = boundKey(key)
	now := l.now().UnixNano()
	s := l.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, known := s.tats[key]
	ok, next, wait := gcra(now, tat, l.interval, l.burst)
	if !ok || !take {
		return ok, time.Duration(wait)
	}
	if !known {
		s.makeRoom(now, l.perShard, l.period)
	}
	s.tats[key] = next
	return true, 0
}

// makeRoom sweeps expired entries when the shard is due or full, and
// evicts the sampled entry closest to expiring when it is still full.
// Evicting a live entry forgets some of a key's history (it may burst
// again): the price of bounded memory under a flood of distinct keys.
func (s *shard) makeRoom(now int64, limit int, period int64) {
	if len(s.tats) >= limit || now-s.lastSweep >= period {
		s.lastSweep = now
		for k, tat := range s.tats {
			if tat <= now {
				delete(s.tats, k)
			}
		}
	}
	if len(s.tats) < limit {
		return
	}
	victim, soonest, seen := "", int64(0), 0
	for k, tat := range s.tats { // map order is random: a sample
		if seen == 0 || tat < soonest {
			victim, soonest = k, tat
		}
		if seen++; seen == evictSample {
			break
		}
	}
	delete(s.tats, victim)
}
