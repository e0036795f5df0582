package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/session"
)

// A lost node's calls are taken up again by the nodes that survive it,
// when Config.Recover is set: each call's state as of its last finished
// turn (its checkpoint, written by the node that holds the call) waits in
// Redis, and the node that finds the call's node lost hands it to a new
// media stream as a draining node hands over a call it moves. The
// difference is that nobody gives the call up: the lost node's stream is
// already gone (or stopped first, if Telnyx still counts it), and the
// caller, who has heard nothing since, is asked whether they are still
// there. What the caller said after the last checkpoint is lost with the
// node.
//
// Two paths lead there: the reaper, once the node's heartbeat is older
// than LostAfter, and Telnyx's webhook for the call's failed (or stopped)
// stream, which arrives within moments of the node's death and so spares
// the caller most of the silence (RecoverStream). Either takes the call's
// recovery lock first, so that a call is taken up once.

// ckptTTL bounds how long a checkpoint outlives its call if nothing
// removes it: Telnyx's longest call (time_limit_secs at most 14,400 s).
// Each checkpoint sets it again; a call's end removes it.
const ckptTTL = 4 * time.Hour

// recoverLockTTL bounds one call's recovery (the stream asked for, the new
// node awaited) if the node recovering it dies meanwhile.
const recoverLockTTL = 30 * time.Second

// recoverConcurrency is how many of a lost node's calls are taken up at
// once.
const recoverConcurrency = 8

// Recovers reports whether the node takes up the calls of lost nodes.
func (n *Node) Recovers() bool { return n.cfg.Recover && n.Moves() }

// Checkpoint queues the call's state, as of the turn that just ended, for
// Redis (session.Checkpointer): the state a node that survives this one
// takes the call up from. It never blocks; with the writer's queue full
// the checkpoint is dropped, and the next turn's replaces it.
func (n *Node) Checkpoint(r session.Resume) {
	if !n.cfg.Recover || n.rdb == nil {
		return
	}
	select {
	case n.changes <- change{info: session.CallInfo{ID: r.CallID}, ckpt: &r}:
	default:
		n.metrics.redisErrors.WithLabelValues("queue_full").Inc()
	}
}

// recoverCalls takes up the calls ids of lost node that have a checkpoint,
// a few at a time, and returns those that moved to a new stream. The
// others are left for the reaper to record as lost.
func (n *Node) recoverCalls(ctx context.Context, node string, ids []string) map[string]bool {
	entries := n.readEntries(ctx, node, ids)
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		recovered = make(map[string]bool)
		sem       = make(chan struct{}, recoverConcurrency)
	)
	for id, e := range entries {
		if e.CCID == "" {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ok, err := n.recoverOne(ctx, node, session.CallID(id))
			if err != nil {
				n.log.Warn("cluster: a lost node's call was not taken up; it is recorded as lost", "call_id", id, "err", err)
			}
			if ok {
				mu.Lock()
				recovered[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return recovered
}

// RecoverStream takes up call id, whose stream streamID Telnyx says has
// failed or stopped, if the process holding it is gone: its entry still
// names that stream, and either the node it names neither listens in
// Redis nor answers at its address any more (nodeGone), or another
// process of that node's name runs now (a crash restarted under the same
// name: its heartbeat names an incarnation other than the entry's, and it
// holds nothing of the call). It reports whether the call moved to a new
// stream; false, nil when the call is not a lost process's (the stream's
// end is the call's own) or has no checkpoint.
func (n *Node) RecoverStream(ctx context.Context, id session.CallID, streamID string) (bool, error) {
	if !n.Recovers() || streamID == "" {
		return false, nil
	}
	lctx, cancel := context.WithTimeout(ctx, n.cfg.CommandTimeout)
	raw, err := n.rdb.Get(lctx, n.key("call", string(id))).Result()
	var (
		e         entry
		addr, inc string
	)
	if err == nil && json.Unmarshal([]byte(raw), &e) == nil && e.Node != "" && e.Stream == streamID {
		if e.Node == n.cfg.Node {
			inc = n.inc
		} else {
			// Both empty when the node's hash expired: it has been gone
			// for a while.
			var vals []any
			if vals, err = n.rdb.HMGet(lctx, n.key("node", e.Node), "addr", "inc").Result(); err == nil {
				addr, _ = vals[0].(string)
				inc, _ = vals[1].(string)
			}
		}
	}
	cancel()
	switch {
	case errors.Is(err, redis.Nil):
		return false, nil // no node holds the call
	case err != nil:
		n.metrics.redisErrors.WithLabelValues("lookup").Inc()
		return false, fmt.Errorf("cluster: the call's node: %w", err)
	case e.Node == "" || e.Stream != streamID:
		return false, nil // a call whose stream is another
	}
	switch {
	case e.Inc != "" && inc != "" && e.Inc != inc:
		n.log.Warn("cluster: a call's stream ended and the process that held it was restarted: taking the call up",
			"call_id", string(id), "lost_node", e.Node)
	case e.Node == n.cfg.Node:
		return false, nil // this process's call
	case !n.nodeGone(ctx, e.Node, addr):
		return false, nil // its node is alive: the stream's end is the call's
	default:
		n.log.Warn("cluster: a call's stream ended and its node does not answer: taking the call up", "call_id", string(id), "lost_node", e.Node)
	}
	return n.recoverOne(ctx, e.Node, id)
}

// goneChecks and goneEvery: how many times, and how often, nodeGone
// looks before it takes a node for alive.
const (
	goneChecks = 4
	goneEvery  = 250 * time.Millisecond
)

// nodeGone tells a node that died from one whose stream failed, at the
// moment Telnyx reports the stream's end, before its heartbeat is late:
// gone is nothing listening on its command channel in Redis (its
// connection closed) and nothing accepting TCP at its address (addr "":
// unknown, its hash expired). Both have to hold, so that neither a node
// cut off from Redis nor one slow to accept is taken for dead. A process
// that was killed has its sockets closed by the kernel one after another
// over a few milliseconds, its listener possibly among the last: a node
// that still looks alive is looked at again, goneChecks times goneEvery
// apart.
func (n *Node) nodeGone(ctx context.Context, node, addr string) bool {
	for i := range goneChecks {
		if i > 0 {
			t := time.NewTimer(goneEvery)
			select {
			case <-ctx.Done():
				t.Stop()
				return false
			case <-t.C:
			}
		}
		cctx, cancel := context.WithTimeout(ctx, n.cfg.CommandTimeout)
		subs, err := n.rdb.PubSubNumSub(cctx, n.key("cmd", node)).Result()
		cancel()
		if err != nil {
			n.metrics.redisErrors.WithLabelValues("lookup").Inc()
			return false
		}
		if subs[n.key("cmd", node)] == 0 && !answers(ctx, node, addr) {
			return true
		}
	}
	return false
}

// recoverOne hands call id of lost node to a new stream, from its
// checkpoint, under the call's recovery lock. It reports whether another
// node holds the call now: false, nil when there is nothing to recover
// (no checkpoint, or the call is not node's any more) or another node is
// recovering it, which waits for that one to finish first.
func (n *Node) recoverOne(ctx context.Context, node string, id session.CallID) (bool, error) {
	lock := n.key("recover", string(id))
	got, err := n.rdb.SetNX(ctx, lock, n.cfg.Node, recoverLockTTL).Result()
	if err != nil {
		return false, err
	}
	if !got {
		n.awaitRecovery(ctx, lock)
		return false, nil
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = n.rdb.Del(dctx, lock).Err()
	}()
	// Still node's, and not this process's own (taken up here already,
	// under the same node name).
	if e, still := n.readEntries(ctx, node, []string{string(id)})[string(id)]; !still || e.Inc == n.inc {
		return false, nil // ended, or taken up already
	}
	raw, err := n.rdb.Get(ctx, n.key("ckpt", string(id))).Bytes()
	if errors.Is(err, redis.Nil) {
		return false, nil // no turn had ended yet
	}
	if err != nil {
		return false, err
	}
	var r session.Resume
	if err := json.Unmarshal(raw, &r); err != nil {
		return false, fmt.Errorf("cluster: the call's checkpoint is unreadable: %w", err)
	}
	if r.CallID != id || r.CallControlID == "" {
		return false, errors.New("cluster: the call's checkpoint is another call's, or has no Call Control id")
	}
	r.Recovered = true
	start := time.Now()
	if err := n.handOver(ctx, r, node, n.restartStream); err != nil {
		n.metrics.recoveries.WithLabelValues("failed").Inc()
		return false, err
	}
	n.metrics.recoveries.WithLabelValues("recovered").Inc()
	n.log.Info("cluster: a lost node's call was taken up by a new stream", "call_id", string(id), "lost_node", node,
		"took", time.Since(start).Round(time.Millisecond).String())
	return true, nil
}

// awaitRecovery waits until the recovery another node holds lock for ends
// (or its TTL, or ctx): the reaper then reads what it left.
func (n *Node) awaitRecovery(ctx context.Context, lock string) {
	ctx, cancel := context.WithTimeout(ctx, moveTimeout+2*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := n.rdb.Exists(ctx, lock).Result(); err != nil || c == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// restartStream asks Telnyx for a lost call's new stream. Telnyx may still
// count the lost node's stream as the call's one (if it has not noticed
// the socket go): refused, the old stream is stopped (an error there says
// it had ended already) and the new one asked for again.
func (n *Node) restartStream(ctx context.Context, r session.Resume, tok string) error {
	err := n.streams.StartStream(ctx, r.CallControlID, tok)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrStreamRefused) || r.StreamID == "" {
		return fmt.Errorf("streaming_start: %w", err)
	}
	_ = n.streams.StopStream(ctx, r.CallControlID, r.StreamID)
	if err := n.streams.StartStream(ctx, r.CallControlID, tok); err != nil {
		return fmt.Errorf("streaming_start after the lost stream was stopped: %w", err)
	}
	return nil
}
