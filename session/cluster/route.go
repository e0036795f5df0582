package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// Command kinds.
const (
	kindHangup    = "hangup"
	kindEscalate  = "escalate"
	kindHanded    = "handed"
	kindSupervise = "supervise"
	kindWhisper   = "whisper"
)

// command is a request to the node that holds a call. Text (a whisper) is
// a supervisor's words: never logged.
type command struct {
	ID     string `json:"id"`
	From   string `json:"from"`
	Kind   string `json:"kind"`
	Call   string `json:"call"`
	Org    string `json:"org,omitempty"`
	Reason string `json:"reason,omitempty"`
	Text   string `json:"text,omitempty"`
}

// reply is a command's acknowledgement.
type reply struct {
	ID     string `json:"id"`
	Result string `json:"result"`
}

// Results of a command, and the session errors they stand for.
const (
	resultOK       = "ok"
	resultNotFound = "not_found"
	resultEnded    = "ended"
	resultBusy     = "busy"
	resultTaken    = "voice_taken"
	resultInvalid  = "invalid"
	resultMoving   = "moving"
	resultFailed   = "failed"
)

var resultErrors = map[string]error{
	resultNotFound: session.ErrCallNotFound,
	resultEnded:    session.ErrCallEnded,
	resultBusy:     session.ErrSupervisorBusy,
	resultTaken:    session.ErrVoiceTaken,
	resultInvalid:  session.ErrInvalidWhisper,
	resultMoving:   session.ErrCallMoving,
}

func resultOf(err error) string {
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, session.ErrCallEnded):
		return resultEnded
	case errors.Is(err, session.ErrCallNotFound):
		return resultNotFound
	case errors.Is(err, session.ErrSupervisorBusy):
		return resultBusy
	case errors.Is(err, session.ErrVoiceTaken):
		return resultTaken
	case errors.Is(err, session.ErrInvalidWhisper), errors.Is(err, session.ErrInvalidRole):
		return resultInvalid
	case errors.Is(err, session.ErrCallMoving):
		return resultMoving
	}
	return resultFailed
}

// HoldsLocally reports whether this node's engine holds call id: a
// command about it needs no other node, nor Redis.
func (n *Node) HoldsLocally(id session.CallID) bool {
	l := n.engine()
	if l == nil {
		return false
	}
	_, ok := l.Call(id)
	return ok
}

// Hangup ends call id, wherever it is live, with reason. It reports
// whether the call was found live; an error means its node did not
// acknowledge the command.
func (n *Node) Hangup(ctx context.Context, id session.CallID, reason session.EndReason) (bool, error) {
	if l := n.engine(); l != nil && l.Hangup(id, reason) {
		return true, nil
	}
	return n.remoteFound(ctx, command{Kind: kindHangup, Call: string(id), Reason: string(reason)})
}

// Escalate hands call id, wherever it is live, to its agent's transfer
// number for reason.
func (n *Node) Escalate(ctx context.Context, id session.CallID, reason store.EscalationReason) (bool, error) {
	if l := n.engine(); l != nil && l.Escalate(id, reason) {
		return true, nil
	}
	return n.remoteFound(ctx, command{Kind: kindEscalate, Call: string(id), Reason: string(reason)})
}

// Handed tells org's call id, wherever it is live, that it was handed to
// a human outside the session (a supervisor's transfer).
func (n *Node) Handed(ctx context.Context, org store.OrgID, id session.CallID, reason store.EscalationReason) (bool, error) {
	if l := n.engine(); l != nil {
		if c, ok := l.Call(id); ok && c.OrgID == org {
			return l.Handed(id, reason), nil
		}
	}
	return n.remoteFound(ctx, command{Kind: kindHanded, Call: string(id), Org: string(org), Reason: string(reason)})
}

// Supervise switches the supervisor role of org's call id, wherever it is
// live (session.Engine.Supervise).
func (n *Node) Supervise(ctx context.Context, org store.OrgID, id session.CallID, role session.SupervisorRole) error {
	return n.untilMoved(ctx, func() error {
		if l := n.engine(); l != nil {
			// Not here (moved away, perhaps): Redis says whether another
			// node holds it.
			if err := l.Supervise(org, id, role); !errors.Is(err, session.ErrCallNotFound) {
				return err
			}
		}
		return n.remote(ctx, command{Kind: kindSupervise, Call: string(id), Org: string(org), Reason: string(role)})
	})
}

// Whisper gives org's call id, wherever it is live, guidance for the AI
// (session.Engine.Whisper).
func (n *Node) Whisper(ctx context.Context, org store.OrgID, id session.CallID, text string) error {
	return n.untilMoved(ctx, func() error {
		if l := n.engine(); l != nil {
			if err := l.Whisper(org, id, text); !errors.Is(err, session.ErrCallNotFound) {
				return err
			}
		}
		return n.remote(ctx, command{Kind: kindWhisper, Call: string(id), Org: string(org), Text: text})
	})
}

// movingRetry is how often a command refused by a moving call is asked
// again, and movingWait how long at most: a move's bound and a little
// more, for the new node to take the call.
const (
	movingRetry = 50 * time.Millisecond
	movingWait  = moveTimeout + time.Second
)

// untilMoved runs do, again while the call is moving to another node
// (session.ErrCallMoving), for up to movingWait: each time the call is
// looked for afresh, here then in the registry, so that the command
// reaches the node that has taken it. Past movingWait the error stands.
func (n *Node) untilMoved(ctx context.Context, do func() error) error {
	deadline := time.Now().Add(movingWait)
	for {
		err := do()
		if !errors.Is(err, session.ErrCallMoving) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(movingRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// remoteFound is remote for the commands that report whether the call
// was found.
func (n *Node) remoteFound(ctx context.Context, c command) (bool, error) {
	switch err := n.remote(ctx, c); {
	case err == nil:
		return true, nil
	case errors.Is(err, session.ErrCallNotFound):
		return false, nil
	default:
		return false, err
	}
}

// remote sends c to the node that holds its call and waits for the
// acknowledgement: CommandAttempts attempts of CommandTimeout each, the
// same command id each time (the holder carries a command out once). A
// call no node holds is session.ErrCallNotFound; a node that never
// acknowledges, ErrUnreachable.
func (n *Node) remote(ctx context.Context, c command) error {
	if n.rdb == nil {
		return session.ErrCallNotFound
	}
	start := time.Now()
	err := n.send(ctx, c)
	result := resultOf(err)
	if errors.Is(err, ErrUnreachable) {
		result = "unreachable"
	}
	n.metrics.commands.WithLabelValues(c.Kind, result).Inc()
	n.metrics.commandTime.Observe(time.Since(start).Seconds())
	return err
}

func (n *Node) send(ctx context.Context, c command) error {
	lctx, cancel := context.WithTimeout(ctx, n.cfg.CommandTimeout)
	raw, err := n.rdb.Get(lctx, n.key("call", c.Call)).Result()
	cancel()
	switch {
	case errors.Is(err, redis.Nil):
		return session.ErrCallNotFound
	case err != nil:
		n.metrics.redisErrors.WithLabelValues("lookup").Inc()
		return errors.Join(ErrUnreachable, err)
	}
	var e entry
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return session.ErrCallNotFound
	}
	if c.Org != "" && e.Org != c.Org {
		return session.ErrCallNotFound // another organization's call is no call
	}
	if e.Node == n.cfg.Node {
		return session.ErrCallEnded // ours, and not live any more: its end is being written
	}
	c.ID, c.From = newID(), n.cfg.Node
	wait := make(chan string, 1)
	n.mu.Lock()
	n.pending[c.ID] = wait
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.pending, c.ID)
		n.mu.Unlock()
	}()
	msg := mustJSON(c)
	var last error
	for attempt := 1; attempt <= n.cfg.CommandAttempts; attempt++ {
		actx, cancel := context.WithTimeout(ctx, n.cfg.CommandTimeout)
		got, err := n.rdb.Publish(actx, n.key("cmd", e.Node), msg).Result()
		if err == nil && got == 0 {
			// Nobody listens on the node's channel: it is gone (its calls
			// are recorded when it counts as lost) or reconnecting.
			last = errors.New("its node is not subscribed")
		} else if err != nil {
			last = err
		} else {
			select {
			case res := <-wait:
				cancel()
				if res == resultOK {
					return nil
				}
				if e, ok := resultErrors[res]; ok {
					return e
				}
				return errors.New("cluster: the command failed on node " + e.Node)
			case <-actx.Done():
				last = actx.Err()
			}
		}
		cancel()
		if ctx.Err() != nil {
			break
		}
		if attempt < n.cfg.CommandAttempts {
			n.log.Warn("cluster: command not acknowledged; retrying", "kind", c.Kind, "call_id", c.Call, "to_node", e.Node, "attempt", attempt, "err", last)
		}
	}
	n.log.Error("cluster: command not acknowledged by the node holding the call", "kind", c.Kind, "call_id", c.Call, "to_node", e.Node,
		"attempts", n.cfg.CommandAttempts, "err", last)
	return errors.Join(ErrUnreachable, last)
}

// serveCommands carries out the commands sent to this node and passes the
// replies to their waiting senders, until msgs is closed.
func (n *Node) serveCommands(ctx context.Context, msgs <-chan *redis.Message) {
	replies := n.key("reply", n.cfg.Node)
	for m := range msgs {
		if m.Channel == replies {
			var r reply
			if json.Unmarshal([]byte(m.Payload), &r) != nil {
				continue
			}
			n.mu.Lock()
			wait := n.pending[r.ID]
			n.mu.Unlock()
			if wait != nil {
				select {
				case wait <- r.Result:
				default: // a duplicate reply
				}
			}
			continue
		}
		var c command
		if len(m.Payload) > maxCommandBytes || json.Unmarshal([]byte(m.Payload), &c) != nil || c.ID == "" || c.From == "" {
			n.log.Warn("cluster: malformed command dropped", "bytes", len(m.Payload))
			continue
		}
		res := n.carryOut(ctx, c)
		rctx, cancel := context.WithTimeout(ctx, n.cfg.CommandTimeout)
		if err := n.rdb.Publish(rctx, n.key("reply", c.From), mustJSON(reply{ID: c.ID, Result: res})).Err(); err != nil {
			n.log.Warn("cluster: reply not sent; the sender retries", "kind", c.Kind, "call_id", c.Call, "err", err)
		}
		cancel()
	}
}

// maxCommandBytes caps a command: a whisper is at most 1000 bytes.
const maxCommandBytes = 8 << 10

// carryOut runs c on the local engine, once per command id.
func (n *Node) carryOut(ctx context.Context, c command) string {
	n.mu.Lock()
	if res, ok := n.done[c.ID]; ok {
		n.mu.Unlock()
		return res
	}
	n.mu.Unlock()
	l := n.engine()
	id := session.CallID(c.Call)
	org := store.OrgID(c.Org)
	found := func(ok bool) string {
		if ok {
			return resultOK
		}
		return resultNotFound
	}
	var res string
	switch c.Kind {
	case kindHangup:
		res = found(l.Hangup(id, session.EndReason(c.Reason)))
	case kindEscalate:
		res = found(l.Escalate(id, store.EscalationReason(c.Reason)))
	case kindHanded:
		if info, ok := l.Call(id); ok && info.OrgID == org {
			res = found(l.Handed(id, store.EscalationReason(c.Reason)))
		} else {
			res = resultNotFound
		}
	case kindSupervise:
		res = resultOf(l.Supervise(org, id, session.SupervisorRole(c.Reason)))
	case kindWhisper:
		res = resultOf(l.Whisper(org, id, c.Text))
	case kindWatch:
		// Readers on other nodes ask again every relayCheck: logged at
		// debug only.
		res = found(n.bridge(ctx, org, id))
		n.log.Debug("cluster: command carried out", "kind", c.Kind, "call_id", c.Call, "from_node", c.From, "result", res)
		n.remember(c.ID, res)
		return res
	case kindWatchOrg:
		n.bridge(ctx, org, "") // asked of every node; nobody waits for the answer
		return resultOK
	default:
		res = resultFailed
	}
	n.log.Info("cluster: command carried out", "kind", c.Kind, "call_id", c.Call, "from_node", c.From, "result", res)
	n.remember(c.ID, res)
	return res
}

// remember keeps a command's result for its retries.
func (n *Node) remember(id, res string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.doneRing) < maxDone {
		n.doneRing = append(n.doneRing, id)
	} else {
		delete(n.done, n.doneRing[n.doneAt])
		n.doneRing[n.doneAt] = id
		n.doneAt = (n.doneAt + 1) % maxDone
	}
	n.done[id] = res
}

// Location is where a live call is held.
type Location struct {
	// Node holds the call; Local is true when it is this node.
	Node  string
	Local bool
	// Addr is where the other nodes reach Node's public listener (its
	// --node-addr); "" when it did not say.
	Addr string
}

// Locate finds the node holding org's live call id: this one, or another
// (from the registry, with the address its heartbeat published). A call
// no node holds, or another organization's, is session.ErrCallNotFound.
func (n *Node) Locate(ctx context.Context, org store.OrgID, id session.CallID) (Location, error) {
	if l := n.engine(); l != nil {
		if c, ok := l.Call(id); ok && c.OrgID == org {
			return Location{Node: n.cfg.Node, Local: true, Addr: n.addr()}, nil
		}
	}
	if n.rdb == nil {
		return Location{}, session.ErrCallNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.CommandTimeout)
	defer cancel()
	raw, err := n.rdb.Get(ctx, n.key("call", string(id))).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return Location{}, session.ErrCallNotFound
	case err != nil:
		n.metrics.redisErrors.WithLabelValues("lookup").Inc()
		return Location{}, errors.Join(ErrUnreachable, err)
	}
	var e entry
	if json.Unmarshal([]byte(raw), &e) != nil || e.Org != string(org) {
		return Location{}, session.ErrCallNotFound
	}
	if e.Node == n.cfg.Node {
		return Location{}, session.ErrCallEnded
	}
	addr, err := n.rdb.HGet(ctx, n.key("node", e.Node), "addr").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		n.metrics.redisErrors.WithLabelValues("lookup").Inc()
		return Location{}, errors.Join(ErrUnreachable, err)
	}
	return Location{Node: e.Node, Addr: addr}, nil
}

// StreamOf is the media stream call id uses now, on whichever node holds
// it; live is false when none does.
func (n *Node) StreamOf(ctx context.Context, id session.CallID) (string, bool, error) {
	if l := n.engine(); l != nil {
		if c, ok := l.Call(id); ok {
			return c.StreamID, true, nil
		}
	}
	if n.rdb == nil {
		return "", false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.CommandTimeout)
	defer cancel()
	raw, err := n.rdb.Get(ctx, n.key("call", string(id))).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		n.metrics.redisErrors.WithLabelValues("lookup").Inc()
		return "", false, err
	}
	var e entry
	if json.Unmarshal([]byte(raw), &e) != nil {
		return "", false, nil
	}
	return e.Stream, true, nil
}

// AdmitNew tells whether a new call of org may be answered: the
// organization under its limit (OrgMaxCalls) across the nodes, and a node
// not draining with room below its capacity. A check that cannot be made
// (Redis away) admits. The stream's own admission (Admit) is the one
// that counts; this one spares a caller the silence of a stream refused.
func (n *Node) AdmitNew(ctx context.Context, org store.OrgID) error {
	l := n.engine()
	if n.rdb == nil {
		if l == nil {
			return nil
		}
		if limit := n.cfg.OrgMaxCalls; limit > 0 {
			live := 0
			for _, c := range l.List() {
				if c.OrgID == org {
					live++
				}
			}
			if live >= limit {
				return session.ErrOrgAtLimit
			}
		}
		if l.Draining() || l.Capacity() > 0 && len(l.List()) >= l.Capacity() {
			return session.ErrAtCapacity
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.AdmitTimeout)
	defer cancel()
	if limit := n.cfg.OrgMaxCalls; limit > 0 {
		live, err := n.rdb.SCard(ctx, n.key("org", string(org))).Result()
		if err != nil {
			n.metrics.redisErrors.WithLabelValues("admit").Inc()
			return nil
		}
		if live >= int64(limit) {
			return session.ErrOrgAtLimit
		}
	}
	nodes, err := n.rdb.ZRangeByScore(ctx, n.key("nodes"), &redis.ZRangeBy{Min: unixMilli(time.Now().Add(-n.cfg.LostAfter)), Max: "+inf"}).Result()
	if err != nil || len(nodes) == 0 {
		return nil
	}
	cmds := make([]*redis.SliceCmd, len(nodes))
	_, err = n.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, node := range nodes {
			cmds[i] = p.HMGet(ctx, n.key("node", node), "capacity", "live", "draining")
		}
		return nil
	})
	if err != nil {
		return nil
	}
	for _, c := range cmds {
		v := c.Val()
		if len(v) != 3 {
			continue
		}
		capacity, _ := strconv.Atoi(fmt.Sprint(v[0]))
		live, _ := strconv.Atoi(fmt.Sprint(v[1]))
		if fmt.Sprint(v[2]) != "true" && (capacity == 0 || live < capacity) {
			return nil // this node has room
		}
	}
	return session.ErrAtCapacity
}
