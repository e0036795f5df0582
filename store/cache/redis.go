package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewRedisClient builds a go-redis client for the cache from a redis:// URL,
// tuned for a cache that must never slow a call down: context deadlines are
// honoured (the cache's per-call timeouts), there are no retries of commands
// or dials (a failed read goes to the database instead) and dials and reads
// are bounded.
func NewRedisClient(url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("cache: redis url: %w", err)
	}
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1
	opt.DialerRetries = 1 // a refused dial fails the read now, not after 5 tries
	opt.DialTimeout = 500 * time.Millisecond
	opt.ReadTimeout = 500 * time.Millisecond
	opt.WriteTimeout = 500 * time.Millisecond
	return redis.NewClient(opt), nil
}

// redisUsable reports whether reads should ask Redis now.
func (s *Store) redisUsable() bool {
	return s.rdb != nil && s.now().UnixNano() >= s.redisDownUntil.Load()
}

// redisFailed counts err and makes reads skip Redis for a while.
func (s *Store) redisFailed(op string, err error) {
	s.m.redisErrors.WithLabelValues(op).Inc()
	s.redisDownUntil.Store(s.now().Add(s.cfg.RedisBackoff).UnixNano())
	if s.redisDown.CompareAndSwap(false, true) {
		s.log.Warn("cache: redis unavailable, reading from the database", "op", op, "err", err)
	}
}

func (s *Store) redisOK() {
	if s.redisDown.CompareAndSwap(true, false) {
		s.log.Info("cache: redis is back")
	}
}

// redisGet reads key from Redis. Any failure is a miss: the caller goes on
// to the database.
func (s *Store) redisGet(ctx context.Context, key string, rs *readState) (value, bool) {
	if !s.redisUsable() {
		return value{}, false
	}
	rs.redisAsked = true
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RedisTimeout)
	defer cancel()
	began := time.Now()
	data, err := s.rdb.Get(rctx, s.cfg.KeyPrefix+key).Bytes()
	s.m.redisGet.Observe(time.Since(began).Seconds())
	switch {
	case errors.Is(err, redis.Nil):
		s.redisOK()
		return value{}, false
	case err != nil:
		if ctx.Err() == nil { // else the caller gave up: Redis is not to blame
			s.redisFailed(opGet, err)
		}
		return value{}, false
	}
	s.redisOK()
	if string(data) == tombstone {
		return value{}, false
	}
	v, err := decodeValue(keyKind(key), data)
	if err != nil {
		// Another version's format, or garbage: the database answers and
		// the next fill cannot overwrite it (NX), so it ages out.
		s.m.redisErrors.WithLabelValues(opDecode).Inc()
		return value{}, false
	}
	return v, true
}

// redisSet stores a value loaded from the database, unless a key already
// holds something (a tombstone of a recent write, or a value another node
// stored). A load that took longer than half the tombstone's life is not
// stored: the write it may have missed could have had its tombstone expire.
func (s *Store) redisSet(ctx context.Context, key string, v value, loadStarted time.Time) {
	if !s.redisUsable() || s.now().Sub(loadStarted) > tombstoneTTL/2 {
		return
	}
	data, err := encodeValue(v)
	if err != nil {
		return // the model types always encode
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RedisTimeout)
	defer cancel()
	if err := s.rdb.SetNX(ctx, s.cfg.KeyPrefix+key, data, s.ttl(keyKind(key))).Err(); err != nil {
		s.redisFailed(opSet, err)
	}
}
