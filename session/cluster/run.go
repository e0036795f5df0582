package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// Run keeps the node in the cluster until ctx ends: it writes the calls'
// starts and ends, heartbeats, carries out the commands other nodes send,
// and records the calls of lost nodes. On return the node has left: its
// heartbeat and the entries of its calls are removed (its calls have
// ended by then, or are recorded by their own sessions). Without Redis it
// returns when ctx ends.
func (n *Node) Run(ctx context.Context) error {
	if n.rdb == nil {
		<-ctx.Done()
		return nil
	}
	if n.engine() == nil {
		return errors.New("cluster: Run before Attach")
	}
	sub := n.rdb.Subscribe(ctx, n.key("cmd", n.cfg.Node), n.key("reply", n.cfg.Node))
	defer func() { _ = sub.Close() }()
	subDone := make(chan struct{})
	go func() { // ends when sub is closed (on return) and its channel with it
		defer close(subDone)
		n.serveCommands(ctx, sub.Channel(redis.WithChannelHealthCheckInterval(n.cfg.Heartbeat)))
	}()
	n.log.Info("cluster: joined", "addr", n.addr(), "heartbeat", n.cfg.Heartbeat.String(), "lost_after", n.cfg.LostAfter.String())
	n.rebuild.Store(true) // a restarted node may have left entries behind
	w := writer{n: n, written: make(map[session.CallID]entry)}
	w.heartbeat(ctx, time.Now())
	// The reaper records lost nodes' calls through the spool, which may
	// take seconds for many calls: on its own goroutine, so that this
	// node's heartbeat never waits for it.
	reaperDone := make(chan struct{})
	go func() { // ends with ctx
		defer close(reaperDone)
		n.runReaper(ctx)
	}()
	tick := time.NewTicker(n.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case c := <-n.changes:
			w.apply(ctx, c)
		case now := <-tick.C:
			w.heartbeat(ctx, now)
		case <-ctx.Done():
			_ = sub.Close()
			<-subDone
			<-reaperDone
			n.hub.close() // the relays to this node's readers end
			n.leave(ctx)
			return nil
		}
	}
}

// runReaper looks for lost nodes every heartbeat, and reconciles the
// organizations' sets now and then, until ctx ends.
func (n *Node) runReaper(ctx context.Context) {
	tick := time.NewTicker(n.cfg.Heartbeat)
	defer tick.Stop()
	suspects := make(map[string]bool)
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case ids := <-n.orphans:
			n.orphaned(ctx, ids)
		case now := <-tick.C:
			n.reapLost(ctx, now)
			if now.Sub(last) >= reconcileEvery {
				last = now
				suspects = n.reconcileOrgs(ctx, suspects)
			}
		}
	}
}

// orphaned deals with the calls ids a previous process of this node's
// name left in the registry: it died (a container restarted in its pod
// keeps the pod's name) before the others took the node for lost, so no
// survivor will. With Recover they are taken up on new streams as a lost
// node's are, possibly by this very process; the others, and all of them
// without Recover, are recorded as ended (node_lost) and hung up. A call
// this process holds already (its new stream came quicker) is left alone:
// its entry names this node as the predecessor's did.
func (n *Node) orphaned(ctx context.Context, ids []string) {
	ctx = context.WithoutCancel(ctx)
	var recovered map[string]bool
	if n.Recovers() {
		recovered = n.recoverCalls(ctx, n.cfg.Node, ids)
	}
	l := n.engine()
	ids = slices.DeleteFunc(ids, func(id string) bool {
		_, here := l.Call(session.CallID(id))
		return recovered[id] || here
	})
	entries := n.recordLost(ctx, n.cfg.Node, ids, time.Now())
	n.hangUp(ctx, entries)
	n.log.Warn("cluster: the previous process of this node left calls; taken up by new streams, or recorded as ended (node_lost)",
		"recovered", len(recovered), "lost", len(entries))
}

// leave removes the node's heartbeat and what is left of its calls: a
// node that stops cleanly is not lost.
func (n *Node) leave(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	ids, err := n.rdb.SMembers(ctx, n.key("nodecalls", n.cfg.Node)).Result()
	if err == nil && len(ids) > 0 {
		n.dropEntries(ctx, n.cfg.Node, ids, false)
	}
	_, err2 := n.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, n.key("nodes"), n.cfg.Node)
		p.Del(ctx, n.key("node", n.cfg.Node), n.key("nodecalls", n.cfg.Node))
		return nil
	})
	if err := errors.Join(err, err2); err != nil {
		n.log.Warn("cluster: leaving: entries left in Redis; the other nodes clear them once this node counts as lost", "err", err)
		return
	}
	n.log.Info("cluster: left")
}

// writer is Run's state: what it last wrote of each local call.
type writer struct {
	n       *Node
	written map[session.CallID]entry
	beats   int
}

// apply writes one start or end, and every other one already queued, in
// one round trip.
func (w *writer) apply(ctx context.Context, first change) {
	n := w.n
	batch := []change{first}
more:
	for len(batch) < maxBatch {
		select {
		case c := <-n.changes:
			batch = append(batch, c)
		default:
			break more
		}
	}
	wctx, cancel := context.WithTimeout(ctx, n.cfg.Heartbeat)
	defer cancel()
	_, err := n.rdb.Pipelined(wctx, func(p redis.Pipeliner) error {
		for _, c := range batch {
			id := string(c.info.ID)
			org := n.key("org", string(c.info.OrgID))
			switch {
			case c.ckpt != nil:
				b, err := json.Marshal(c.ckpt)
				if err != nil {
					n.log.Warn("cluster: a call's checkpoint could not be written", "call_id", id, "err", err)
					continue
				}
				p.Set(wctx, n.key("ckpt", id), b, ckptTTL)
				continue
			case c.ended:
				p.Eval(wctx, endScript, []string{n.key("call", id), org, n.key("nodecalls", n.cfg.Node), n.key("ckpt", id)}, n.cfg.Node, id)
				delete(w.written, c.info.ID)
				continue
			}
			e := n.entryOf(c.info)
			p.Set(wctx, n.key("call", id), mustJSON(e), 0)
			p.SAdd(wctx, org, id)
			p.SAdd(wctx, n.key("nodecalls", n.cfg.Node), id)
			w.written[c.info.ID] = e
		}
		return nil
	})
	if err != nil {
		n.metrics.redisErrors.WithLabelValues("write").Inc()
		n.rebuild.Store(true)
		n.log.Warn("cluster: call registry write failed; rewriting at the next heartbeat", "changes", len(batch), "err", err)
	}
}

// maxBatch is how many starts and ends go in one round trip.
const maxBatch = 256

// heartbeat says the node is alive, and writes the state of the calls
// that changed since the last one (every call after a rebuild).
func (w *writer) heartbeat(ctx context.Context, now time.Time) {
	n := w.n
	l := n.engine()
	calls := l.List()
	hctx, cancel := context.WithTimeout(ctx, n.cfg.Heartbeat)
	defer cancel()
	rebuild := n.rebuild.Swap(false)
	if rebuild {
		if err := w.rebuildFrom(hctx, calls); err != nil {
			n.rebuild.Store(true)
			n.metrics.redisErrors.WithLabelValues("heartbeat").Inc()
			n.log.Warn("cluster: registry rebuild failed; retrying at the next heartbeat", "err", err)
			return
		}
	}
	var added *redis.IntCmd
	_, err := n.rdb.Pipelined(hctx, func(p redis.Pipeliner) error {
		added = p.ZAdd(hctx, n.key("nodes"), redis.Z{Score: float64(now.UnixMilli()), Member: n.cfg.Node})
		p.HSet(hctx, n.key("node", n.cfg.Node), "addr", n.addr(), "inc", n.inc, "capacity", l.Capacity(), "live", len(calls),
			"draining", strconv.FormatBool(l.Draining()), "at", now.UnixMilli())
		p.Expire(hctx, n.key("node", n.cfg.Node), max(3*n.cfg.LostAfter, time.Second))
		for _, c := range calls {
			e := n.entryOf(c)
			if old, ok := w.written[c.ID]; ok && old == e {
				continue
			}
			// Only while the entry is this node's: a call moving away must
			// not take its entry back from the node that holds it now.
			p.Eval(hctx, setOwnScript, []string{n.key("call", string(c.ID))}, n.cfg.Node, mustJSON(e))
			w.written[c.ID] = e
		}
		return nil
	})
	if err != nil {
		n.rebuild.Store(true)
		n.metrics.redisErrors.WithLabelValues("heartbeat").Inc()
		n.log.Warn("cluster: heartbeat failed", "err", err)
		return
	}
	w.beats++
	if added.Val() == 1 && w.beats > 1 && !rebuild {
		// Redis did not know this node: it restarted, or another node took
		// this one for lost. Its calls are written again.
		n.log.Warn("cluster: Redis had forgotten this node; writing its calls again", "live_calls", len(calls))
		n.rebuild.Store(true)
	}
}

// rebuildFrom makes Redis hold exactly this node's live calls: every one
// written, entries of calls that ended meanwhile removed. At the process's
// start the entries left are a previous process's of the same name (a
// crash, restarted before the others took the node for lost): they go to
// the reaper (orphaned).
func (w *writer) rebuildFrom(ctx context.Context, calls []session.CallInfo) error {
	n := w.n
	old, err := n.rdb.SMembers(ctx, n.key("nodecalls", n.cfg.Node)).Result()
	if err != nil {
		return err
	}
	live := make(map[session.CallID]bool, len(calls))
	for _, c := range calls {
		live[c.ID] = true
	}
	var gone []string
	for _, id := range old {
		if !live[session.CallID(id)] {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		if w.beats == 0 {
			// The predecessor process is gone: nothing carries its calls.
			// The reaper takes them up or records them, so that this
			// node's first heartbeat does not wait for new streams. (A
			// rebuild retried before the reaper took the first list sends
			// the same calls: it is dropped.)
			select {
			case n.orphans <- gone:
			default:
			}
		} else {
			n.dropEntries(ctx, n.cfg.Node, gone, false)
		}
	}
	clear(w.written)
	_, err = n.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range calls {
			e := n.entryOf(c)
			p.Eval(ctx, setOwnScript, []string{n.key("call", string(c.ID))}, n.cfg.Node, mustJSON(e))
			p.SAdd(ctx, n.key("org", string(c.OrgID)), string(c.ID))
			p.SAdd(ctx, n.key("nodecalls", n.cfg.Node), string(c.ID))
			w.written[c.ID] = e
		}
		return nil
	})
	if err == nil && len(calls)+len(gone) > 0 {
		n.log.Info("cluster: registry rebuilt", "live_calls", len(calls), "stale_removed", len(gone))
	}
	return err
}

// dropEntries removes the entries of node's calls ids from the call keys,
// the organizations' sets and the node's; an entry another node holds now
// (the call moved) is left to it, and with keepOwn so is one this process
// wrote (a predecessor's call taken up here, under the same node name).
func (n *Node) dropEntries(ctx context.Context, node string, ids []string, keepOwn bool) {
	entries := n.readEntries(ctx, node, ids)
	_, _ = n.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			e, ok := entries[id]
			if keepOwn && ok && e.Inc == n.inc {
				continue
			}
			p.SRem(ctx, n.key("nodecalls", node), id)
			if ok {
				p.Del(ctx, n.key("call", id), n.key("ckpt", id))
				p.SRem(ctx, n.key("org", e.Org), id)
			}
		}
		return nil
	})
}

// reapLost records the calls of every node whose heartbeat is older than
// LostAfter as ended (node_lost). One node does it for each lost node,
// under a lock; the others skip it.
func (n *Node) reapLost(ctx context.Context, now time.Time) {
	rctx, cancel := context.WithTimeout(ctx, n.cfg.Heartbeat)
	defer cancel()
	cutoff := now.Add(-n.cfg.LostAfter)
	lost, err := n.rdb.ZRangeByScoreWithScores(rctx, n.key("nodes"), &redis.ZRangeBy{Min: "-inf", Max: unixMilli(cutoff)}).Result()
	if err != nil {
		n.metrics.redisErrors.WithLabelValues("reap").Inc()
		return
	}
	alive, _ := n.rdb.ZCount(rctx, n.key("nodes"), "("+unixMilli(cutoff), "+inf").Result()
	n.metrics.nodes.Set(float64(alive))
	for _, z := range lost {
		node, _ := z.Member.(string)
		if node == "" || node == n.cfg.Node {
			continue
		}
		// Claimed only if its heartbeat is still that old: a node that
		// beat meanwhile is not lost.
		got, err := claimScript.Run(rctx, n.rdb, []string{n.key("nodes"), n.key("reap", node)}, node, cutoff.UnixMilli(), n.cfg.Node).Int()
		if err != nil || got == 0 {
			continue
		}
		last := time.UnixMilli(int64(z.Score))
		n.reap(context.WithoutCancel(rctx), node, last)
	}
}

// reap records node's calls as lost at last, its last heartbeat, and
// forgets the node.
func (n *Node) reap(ctx context.Context, node string, last time.Time) {
	ids, err := n.rdb.SMembers(ctx, n.key("nodecalls", node)).Result()
	if err != nil {
		n.metrics.redisErrors.WithLabelValues("reap").Inc()
		return
	}
	addr, _ := n.rdb.HGet(ctx, n.key("node", node), "addr").Result()
	alive := answers(ctx, node, addr)
	var recovered map[string]bool
	if !alive && n.Recovers() {
		// Taken up by new streams first: what is left is recorded. (A call
		// taken up may not name its new node yet: it is left out by id.)
		recovered = n.recoverCalls(ctx, node, ids)
		ids = slices.DeleteFunc(ids, func(id string) bool { return recovered[id] })
	}
	entries := n.recordLost(ctx, node, ids, last)
	if alive {
		// Alive but cut off from Redis: its calls may well go on. They are
		// recorded (the others cannot know), not hung up.
		n.log.Warn("cluster: the lost node still answers at its address; its calls are not hung up", "lost_node", node)
	} else {
		n.hangUp(ctx, entries)
	}
	_, err = n.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, n.key("nodes"), node)
		p.Del(ctx, n.key("node", node), n.key("nodecalls", node))
		return nil
	})
	if err != nil {
		n.metrics.redisErrors.WithLabelValues("reap").Inc()
	}
	n.log.Warn("cluster: node lost; its calls taken up elsewhere, or recorded as ended (node_lost)", "lost_node", node,
		"last_heartbeat", last.UTC().Format(time.RFC3339), "recovered", len(recovered), "lost", len(entries))
}

// Live returns org's live calls on every node, oldest first: this node's
// from its engine, the others' from the registry (their state as of their
// last heartbeat).
func (n *Node) Live(ctx context.Context, org store.OrgID) ([]session.CallInfo, error) {
	l := n.engine()
	var out []session.CallInfo
	if l != nil {
		for _, c := range l.List() {
			if c.OrgID == org {
				out = append(out, c)
			}
		}
	}
	if n.rdb == nil {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.CommandTimeout)
	defer cancel()
	ids, err := n.rdb.SMembers(ctx, n.key("org", string(org))).Result()
	if err != nil {
		n.metrics.redisErrors.WithLabelValues("list").Inc()
		return out, fmt.Errorf("cluster: live calls of the other nodes: %w", err)
	}
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = n.key("call", id)
	}
	vals, err := n.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		n.metrics.redisErrors.WithLabelValues("list").Inc()
		return out, fmt.Errorf("cluster: live calls of the other nodes: %w", err)
	}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // admitted, not started yet, or just ended
		}
		var e entry
		if json.Unmarshal([]byte(s), &e) != nil || e.Node == n.cfg.Node || e.Org != string(org) {
			continue // this node's calls come from its engine
		}
		out = append(out, e.info(session.CallID(ids[i])))
	}
	session.SortCalls(out)
	return out, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // entries are plain structs
	}
	return string(b)
}

// recordLost records node's calls ids as ended at last (node_lost), then
// removes their entries: recorded first, so that a node that dies while
// it does this leaves them for the next.
func (n *Node) recordLost(ctx context.Context, node string, ids []string, last time.Time) map[string]entry {
	entries := n.readEntries(ctx, node, ids)
	// An entry this process wrote is a call it holds: one of a predecessor
	// of the same name (orphaned) taken up here after all.
	maps.DeleteFunc(entries, func(_ string, e entry) bool { return e.Inc == n.inc })
	for id, e := range entries {
		info := e.info(session.CallID(id))
		info.State = session.StateEnding
		if n.record != nil {
			n.record(context.WithoutCancel(ctx), session.CallSummary{Info: info, EndedAt: last, EndReason: session.EndNodeLost})
		}
	}
	n.metrics.lost.Add(float64(len(entries)))
	n.dropEntries(ctx, node, ids, true)
	return entries
}

// HangUpLost makes the node hang up, through h, the calls of lost nodes it
// records: nothing speaks on their lines any more, and a caller should not
// wait in silence for a conversation that cannot go on. A lost node that
// still accepts connections at its advertised address is only cut off
// from Redis: its calls are left alone. Call it before Run.
func (n *Node) HangUpLost(h func(ctx context.Context, callControlID string) error) { n.hangup = h }

// hangUpConcurrency is how many lost calls are hung up at once, and
// hangUpTimeout bounds each hang-up (Call Control).
const (
	hangUpConcurrency = 8
	hangUpTimeout     = 5 * time.Second
)

// answerTimeout bounds each step of the check that a lost node is really
// gone.
const answerTimeout = time.Second

// answers reports whether node may still be alive at addr (its
// --node-addr, host:port): something accepts TCP connections there, and
// it does not say it is another node (IdentityPath; under Kubernetes a
// new pod may be given a dead pod's address within seconds). Whatever
// else answers (a node of a version without the path, a listener that
// speaks no HTTP, no answer in time) counts as the node: one that is only
// cut off from Redis must not be taken for dead.
func answers(ctx context.Context, node, addr string) bool {
	if addr == "" {
		return false
	}
	d := net.Dialer{Timeout: answerTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	other, ok := identify(ctx, addr)
	return !ok || other == node
}

// hangUp hangs up the calls of entries at Telnyx, a few at a time, after
// they are recorded.
func (n *Node) hangUp(ctx context.Context, entries map[string]entry) {
	if n.hangup == nil {
		return
	}
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, hangUpConcurrency)
		failed atomic.Int64
	)
	for _, e := range entries {
		if e.CCID == "" {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			hctx, cancel := context.WithTimeout(ctx, hangUpTimeout)
			defer cancel()
			if err := n.hangup(hctx, e.CCID); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		n.log.Warn("cluster: lost node's calls not all hung up at Telnyx", "failed", f)
	}
}

// readEntries reads node's entries of ids (those another node holds now
// left out).
func (n *Node) readEntries(ctx context.Context, node string, ids []string) map[string]entry {
	out := make(map[string]entry, len(ids))
	if len(ids) == 0 {
		return out
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = n.key("call", id)
	}
	vals, err := n.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return out
	}
	for i, id := range ids[:min(len(ids), len(vals))] { // MGET answers one value a key
		s, ok := vals[i].(string)
		if !ok {
			continue
		}
		var e entry
		if json.Unmarshal([]byte(s), &e) == nil && e.Node == node {
			out[id] = e
		}
	}
	return out
}

// reconcileEvery is how often the organizations' sets are checked for
// members no call stands for.
const reconcileEvery = 30 * time.Second

// reconcileOrgs removes from the organizations' sets the call ids that
// have had no entry for two checks in a row (a call admitted whose start
// and end were both lost to a Redis outage, or whose node died between
// its admission and its start): left, they would count against the
// organization's limit for ever. One node at a time does it. suspects
// are the ids without an entry at the previous check; the new ones are
// returned.
func (n *Node) reconcileOrgs(ctx context.Context, suspects map[string]bool) map[string]bool {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := n.rdb.SetNX(rctx, n.key("reconcile"), n.cfg.Node, reconcileEvery-time.Second).Result()
	if err != nil || !got {
		return map[string]bool{}
	}
	next := make(map[string]bool)
	iter := n.rdb.Scan(rctx, 0, n.key("org", "*"), 100).Iterator()
	for iter.Next(rctx) {
		set := iter.Val()
		ids, err := n.rdb.SMembers(rctx, set).Result()
		if err != nil || len(ids) == 0 {
			continue
		}
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = n.key("call", id)
		}
		vals, err := n.rdb.MGet(rctx, keys...).Result()
		if err != nil {
			continue
		}
		for i, v := range vals {
			if v != nil {
				continue
			}
			member := set + "|" + ids[i]
			if suspects[member] {
				_ = n.rdb.SRem(rctx, set, ids[i]).Err()
				n.log.Info("cluster: an organization's set held a call no node has; removed", "call_id", ids[i])
				continue
			}
			next[member] = true
		}
	}
	return next
}

// setOwnScript writes a call's entry unless another node holds the call.
const setOwnScript = `
local v = redis.call('GET', KEYS[1])
if v then
  local ok, e = pcall(cjson.decode, v)
  if ok and e.node ~= ARGV[1] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1`

// claimScript takes the lock of recording a lost node's calls, only if the
// node's last heartbeat is still at or before the cutoff.
var claimScript = redis.NewScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) > tonumber(ARGV[2]) then return 0 end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', 30) then return 1 end
return 0`)
