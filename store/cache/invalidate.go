package cache

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/store"
)

// The writes that change what the caches hold. Each invalidates after the
// write returns, whatever it returned: a write that failed with
// ErrUnavailable may still have committed.

// UpdateAgent updates the agent and invalidates it.
func (s *Store) UpdateAgent(ctx context.Context, a store.Agent) (store.Agent, error) {
	out, err := s.Store.UpdateAgent(ctx, a)
	s.invalidate(ctx, agentKey(a.OrgID, a.ID))
	return out, err
}

// DeleteAgent deletes the agent with its numbers and invalidates them all.
func (s *Store) DeleteAgent(ctx context.Context, org store.OrgID, id store.AgentID) error {
	keys := []string{agentKey(org, id)}
	// The numbers go with the agent; find them first. Without the list the
	// routes still fail over (a route to a missing agent asks the database).
	if nums, err := s.ListNumbers(ctx, org); err == nil {
		for _, n := range nums {
			if n.AgentID == id {
				keys = append(keys, numberKey(n.E164))
			}
		}
	}
	err := s.Store.DeleteAgent(ctx, org, id)
	s.invalidate(ctx, keys...)
	return err
}

// AssignNumber routes the number and invalidates the route and the agents on
// both ends (an agent may list its numbers).
func (s *Store) AssignNumber(ctx context.Context, n store.Number) error {
	keys := append(s.routeKeys(ctx, n.E164), agentKey(n.OrgID, n.AgentID))
	err := s.Store.AssignNumber(ctx, n)
	s.invalidate(ctx, keys...)
	return err
}

// RemoveNumber removes the route and invalidates it and its agent.
func (s *Store) RemoveNumber(ctx context.Context, org store.OrgID, e164 store.PhoneNumber) error {
	keys := s.routeKeys(ctx, e164)
	err := s.Store.RemoveNumber(ctx, org, e164)
	s.invalidate(ctx, keys...)
	return err
}

// ReleaseNumber takes the number back from its organization, with its
// route, and invalidates the route and its agent.
func (s *Store) ReleaseNumber(ctx context.Context, org store.OrgID, e164 store.PhoneNumber) error {
	keys := s.routeKeys(ctx, e164)
	err := s.Store.ReleaseNumber(ctx, org, e164)
	s.invalidate(ctx, keys...)
	return err
}

// routeKeys are the number's key and that of the agent it routes to now.
func (s *Store) routeKeys(ctx context.Context, e164 store.PhoneNumber) []string {
	keys := []string{numberKey(e164)}
	if prev, err := s.Store.AgentForNumber(ctx, e164); err == nil {
		keys = append(keys, agentKey(prev.OrgID, prev.ID))
	}
	return keys
}

// UpdateCustomer updates the customer and invalidates it and its phone. A
// route from the old phone, if the phone changed, is caught on read (the
// customer's phone no longer matches).
func (s *Store) UpdateCustomer(ctx context.Context, c store.Customer) (store.Customer, error) {
	out, err := s.Store.UpdateCustomer(ctx, c)
	s.invalidate(ctx, customerKey(c.OrgID, c.ID), phoneKey(c.OrgID, c.Phone))
	return out, err
}

// SetCustomerMemory sets the customer's memory summary and invalidates it
// and its phone, as UpdateCustomer does. The phone is known from the
// customer returned; when the write failed it is not known here, and the
// customer alone is invalidated (its phone, which the write does not
// change, still routes to it).
func (s *Store) SetCustomerMemory(ctx context.Context, org store.OrgID, id store.CustomerID, summary string) (store.Customer, error) {
	out, err := s.Store.SetCustomerMemory(ctx, org, id, summary)
	keys := []string{customerKey(org, id)}
	if err == nil {
		keys = append(keys, phoneKey(org, out.Phone))
	}
	s.invalidate(ctx, keys...)
	return out, err
}

// FinishCall finishes the call and invalidates its customer, whose call
// count and last call changed. If FinishCall fails the customer is not known
// here; its cached profile ages out within CustomerTTL.
func (s *Store) FinishCall(ctx context.Context, end store.CallEnd) (store.Call, error) {
	c, err := s.Store.FinishCall(ctx, end)
	if c.CustomerID != "" {
		s.invalidate(ctx, customerKey(end.OrgID, c.CustomerID))
	}
	return c, err
}

// message is what the invalidation channel carries.
type message struct {
	Node string   `json:"node"`
	Keys []string `json:"keys,omitempty"`
	All  bool     `json:"all,omitempty"` // drop everything (pending overflowed)
}

// invalidate drops keys here, in Redis and on every other node.
func (s *Store) invalidate(ctx context.Context, keys ...string) {
	s.dropLocal(keys)
	s.m.invalidations.WithLabelValues(originLocal).Inc()
	if s.rdb == nil {
		return
	}
	if !s.redisUsable() {
		s.addPending(keys)
		return
	}
	if err := s.invalidateRedis(ctx, keys); err != nil {
		s.redisFailed(opInvalidate, err)
		s.addPending(keys)
	}
}

// dropLocal bumps the generation, then the keys' epochs, then deletes: a read
// that loaded before this cannot store its value after it (see setLocal and
// prime).
func (s *Store) dropLocal(keys []string) {
	s.gen.Add(1)
	for _, k := range keys {
		s.epoch(k).Add(1)
	}
	for _, k := range keys {
		s.local.Invalidate(k)
	}
}

func (s *Store) dropAllLocal() {
	s.gen.Add(1)
	for i := range s.epochs {
		s.epochs[i].Add(1)
	}
	s.local.InvalidateAll()
}

// invalidateRedis leaves a tombstone on each key and publishes them, in one
// round trip.
func (s *Store) invalidateRedis(ctx context.Context, keys []string) error {
	msg, err := json.Marshal(message{Node: s.node, Keys: keys})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RedisTimeout)
	defer cancel()
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Set(ctx, s.cfg.KeyPrefix+k, tombstone, tombstoneTTL)
		}
		p.Publish(ctx, s.cfg.Channel, msg)
		return nil
	})
	return err
}

func (s *Store) addPending(keys []string) {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	if s.overflow {
		return
	}
	for _, k := range keys {
		s.pending[k] = struct{}{}
	}
	if len(s.pending) > maxPending {
		s.overflow = true
		clear(s.pending)
	}
}

// flushPending hands Redis the invalidations it missed while unreachable.
func (s *Store) flushPending(ctx context.Context) {
	s.pendingMu.Lock()
	keys := slices.Collect(maps.Keys(s.pending))
	overflow := s.overflow
	clear(s.pending)
	s.overflow = false
	s.pendingMu.Unlock()
	if len(keys) == 0 && !overflow {
		return
	}
	var err error
	if overflow {
		err = s.invalidateAllRedis(ctx)
	} else {
		err = s.invalidateRedis(ctx, keys)
	}
	if err != nil {
		s.redisFailed(opInvalidate, err)
		if overflow {
			s.pendingMu.Lock()
			s.overflow = true
			s.pendingMu.Unlock()
		} else {
			s.addPending(keys)
		}
	}
}

// invalidateAllRedis deletes every key under the prefix and tells the other
// nodes to drop everything: too many invalidations were missed to list them.
func (s *Store) invalidateAllRedis(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	iter := s.rdb.Scan(ctx, 0, s.cfg.KeyPrefix+"*", 1000).Iterator()
	batch := make([]string, 0, 1000)
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := s.rdb.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		if err := s.rdb.Unlink(ctx, batch...).Err(); err != nil {
			return err
		}
	}
	msg, err := json.Marshal(message{Node: s.node, All: true})
	if err != nil {
		return err
	}
	return s.rdb.Publish(ctx, s.cfg.Channel, msg).Err()
}

// Timing of the subscriber: a quiet channel is checked with a PING every
// healthInterval; a lost subscription is retried after a jittered,
// doubling wait.
const (
	healthInterval = 2 * time.Second
	resubscribeMin = 100 * time.Millisecond
	resubscribeMax = 5 * time.Second
)

// subscribe is the Store's one goroutine: it applies other nodes'
// invalidations to the local layer until Close.
func (s *Store) subscribe(ctx context.Context) {
	defer s.wg.Done()
	defer s.m.subscribed.Set(0)
	// An error here still records the channel: Receive connects and
	// subscribes.
	_ = s.ps.Subscribe(ctx, s.cfg.Channel)
	wait := resubscribeMin
	pinged := false
	for {
		msg, err := s.receive(ctx, pinged)
		if ctx.Err() != nil {
			return
		}
		var ne net.Error
		switch {
		case err == nil:
			pinged = false
		case !pinged && errors.As(err, &ne) && ne.Timeout():
			// A quiet channel: check the link and retry what Redis
			// missed. The PONG must come within the next interval.
			_ = s.ps.Ping(ctx)
			pinged = true
			s.flushPending(ctx)
			continue
		default:
			// The connection broke, or did not answer the PING (go-redis
			// then drops it): subscribe again on a new one.
			pinged = false
			s.m.subscribed.Set(0)
			s.redisFailed(opSubscribe, err)
			t := time.NewTimer(wait/2 + rand.N(wait/2+1)) //nolint:gosec // G404: reconnect jitter, not a secret
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			wait = min(2*wait, resubscribeMax)
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				// Messages published while unsubscribed are lost: what the
				// local layer holds may be stale.
				s.dropAllLocal()
				s.m.subscribed.Set(1)
				wait = resubscribeMin
				s.redisOK()
				s.flushPending(ctx)
			}
		case *redis.Message:
			s.apply(m.Payload)
		}
	}
}

// receive waits for the next message for healthInterval. After a PING the
// wait is a context deadline instead of a read timeout, which go-redis
// treats as a broken connection: a Redis that accepts the connection but no
// longer answers is left and dialled again.
func (s *Store) receive(ctx context.Context, pinged bool) (any, error) {
	if !pinged {
		return s.ps.ReceiveTimeout(ctx, healthInterval)
	}
	ctx, cancel := context.WithTimeout(ctx, healthInterval)
	defer cancel()
	return s.ps.ReceiveTimeout(ctx, 0)
}

// apply drops what another node invalidated.
func (s *Store) apply(payload string) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		s.m.redisErrors.WithLabelValues(opDecode).Inc()
		return
	}
	if m.Node == s.node {
		return
	}
	if m.All {
		s.dropAllLocal()
	} else {
		s.dropLocal(m.Keys)
	}
	s.m.invalidations.WithLabelValues(originRemote).Inc()
}
