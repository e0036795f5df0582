package auth

import (
	"sync"
	"time"
)

// ttlCache remembers values for a while, at most max of them: when full it
// drops the expired entries, and when still full, all of them (it is only
// a cache: the price is a few store reads).
//
// Values come from two sides: put, from a change this node made, which is
// the truth; and fill, from a store read, which may have started before
// such a change and then is not kept (the epoch moved), so a slow read
// cannot bring back what a change replaced.
type ttlCache[V any] struct {
	mu      sync.Mutex
	entries map[string]ttlEntry[V]
	max     int
	epoch   uint64 // bumped by put and clear
}

type ttlEntry[V any] struct {
	v   V
	exp time.Time
}

func newTTLCache[V any](maxEntries int) *ttlCache[V] {
	return &ttlCache[V]{entries: make(map[string]ttlEntry[V]), max: maxEntries}
}

func (c *ttlCache[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.exp) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// version is the epoch to give fill for a read that starts now.
func (c *ttlCache[V]) version() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// fill keeps v, read from the store since version, unless a put or a clear
// came in between.
func (c *ttlCache[V]) fill(key string, v V, exp, now time.Time, version uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch == version {
		c.store(key, v, exp, now)
	}
}

// put keeps v, the outcome of a change made by this node.
func (c *ttlCache[V]) put(key string, v V, exp, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.store(key, v, exp, now)
}

func (c *ttlCache[V]) store(key string, v V, exp, now time.Time) {
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.exp) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = ttlEntry[V]{v, exp}
}

func (c *ttlCache[V]) clear() {
	c.mu.Lock()
	c.epoch++
	clear(c.entries)
	c.mu.Unlock()
}
