package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// gcraScript is GCRA done atomically in Redis, on the Redis server's clock
// so that every node agrees on time. KEYS[1] holds the theoretical arrival
// time in microseconds and expires when it is reached (the key would then
// behave as fresh). ARGV: interval µs, burst, 1 to take an event or 0 to
// peek. Returns {1, 0} when the event passes, {0, wait µs} when it does not.
// Redis 7 replicates a script's effects, so reading TIME before a write is
// allowed.
var gcraScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nexttat = tat + interval
local allowat = nexttat - interval * burst
if now < allowat then
  return {0, allowat - now}
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], string.format('%d', nexttat), 'PX', math.ceil((nexttat - now) / 1000))
end
return {1, 0}
`)

// refundScript gives back one event of KEYS[1] (see gcraRefund): its
// theoretical arrival time moves back one interval (ARGV[1], µs), and a key
// back at a fresh key's state is deleted.
var refundScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local nexttat = tat - interval
if nexttat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%d', nexttat), 'PX', math.ceil((nexttat - now) / 1000))
end
return 1
`)

// Redis is a GCRA limiter shared by every node through Redis. When Redis
// fails or times out it decides with an in-process limiter of the same rate
// for Config.RedisBackoff, counts the error, and logs it once per backoff:
// a Redis blip must not lock every client out, and the local limiter still
// bounds each node.
type Redis struct {
	rdb      redis.UniversalClient
	prefix   string
	interval string // µs
	burst    string
	timeout  time.Duration
	backoff  time.Duration
	local    *Local
	m        *metrics
	log      *slog.Logger
	skipTill atomic.Int64 // unix ns until which Redis is not asked
}

// NewRedis returns a limiter on rdb. Its metrics go to reg (nil: none);
// Redis failures are logged to log (nil: slog.Default()).
func NewRedis(cfg Config, rdb redis.UniversalClient, reg prometheus.Registerer, log *slog.Logger) (*Redis, error) {
	if rdb == nil {
		return nil, errors.New("ratelimit: redis limiter without a redis client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	m := newMetrics(reg, cfg.Name)
	return &Redis{
		rdb:      rdb,
		prefix:   cfg.KeyPrefix + cfg.Name + ":",
		interval: strconv.FormatInt(cfg.Rate.interval().Microseconds(), 10),
		burst:    strconv.Itoa(cfg.Rate.burst()),
		timeout:  cfg.RedisTimeout,
		backoff:  cfg.RedisBackoff,
		local:    newLocal(cfg, m),
		m:        m,
		log:      log.With(slog.String("limiter", cfg.Name)),
	}, nil
}

// Allow takes one event from key's allowance, in Redis or, when Redis
// fails, in process. It returns an error only when ctx itself ends.
func (l *Redis) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	ok, wait, err := l.decide(ctx, key, true)
	if err == nil {
		l.m.decided(ok)
	}
	return ok, wait, err
}

// Peek reports whether Allow would pass now, without taking anything.
func (l *Redis) Peek(ctx context.Context, key string) (bool, time.Duration, error) {
	return l.decide(ctx, key, false)
}

// Refund gives back one event that Allow took from key, in Redis or, when
// Redis fails, in process (see Local.Refund). It returns an error only when
// ctx itself ends.
func (l *Redis) Refund(ctx context.Context, key string) error {
	if time.Now().UnixNano() < l.skipTill.Load() {
		l.local.refund(key)
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, l.timeout)
	err := refundScript.Run(rctx, l.rdb, []string{l.prefix + boundKey(key)}, l.interval).Err()
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ratelimit: %w", context.Cause(ctx))
		}
		l.failed(err)
		l.local.refund(key)
	}
	return nil
}

// failed counts a Redis error and keeps Redis out of the way for the
// backoff, logging once per backoff.
func (l *Redis) failed(err error) {
	l.m.redisErrors.Inc()
	if l.skipTill.Swap(time.Now().Add(l.backoff).UnixNano()) < time.Now().UnixNano() {
		l.log.Warn("ratelimit: redis failed; limiting in process", slog.Any("error", err), slog.Duration("for", l.backoff))
	}
}

func (l *Redis) decide(ctx context.Context, key string, take bool) (bool, time.Duration, error) {
	if time.Now().UnixNano() < l.skipTill.Load() {
		ok, wait := l.local.decide(key, take)
		return ok, wait, nil
	}
	op := "0"
	if take {
		op = "1"
	}
	rctx, cancel := context.WithTimeout(ctx, l.timeout)
	res, err := gcraScript.Run(rctx, l.rdb, []string{l.prefix + boundKey(key)}, l.interval, l.burst, op).Int64Slice()
	cancel()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("script answered %d values", len(res))
	}
	if err != nil {
		if ctx.Err() != nil {
			return false, 0, fmt.Errorf("ratelimit: %w", context.Cause(ctx))
		}
		l.failed(err)
		ok, wait := l.local.decide(key, take)
		return ok, wait, nil
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}
