package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// Live events across the nodes. A reader of a call held by another node,
// or of an organization's live list, subscribes to the call's channel
// (events:<id>) or the organization's (live:<org>) and asks the node
// holding the call (every other node, for a list) to bridge: that node
// subscribes to its own engine's events and publishes them on the channel
// until nobody listens there any more. Events cross Redis only while
// someone reads them; they carry transcripts (personal data), as the
// readers' streams do.

// Command kinds of the bridges.
const (
	kindWatch    = "watch"     // bridge a call's events
	kindWatchOrg = "watch_org" // bridge an organization's live list
)

// envelope is a bridged event with the node it comes from.
type envelope struct {
	Node  string            `json:"node"`
	Event session.LiveEvent `json:"event"`
}

// relayCheck is how often a relay checks that its reader is still there
// and its call's node alive, and a list relay asks the nodes to bridge
// again (nodes that joined since).
const relayCheck = 2 * time.Second

// EndMovedOrLost is the reason of the "ended" that a reader of another
// node's call gets when the call is no longer there and its own "ended"
// did not come: it moved to another node, or its node was lost.
const EndMovedOrLost = "moved_or_lost"

// relayMissing is how many checks in a row must find no entry for a call
// before a reader of the call or of the live list is told it ended: Redis
// restarted empty forgets every entry until the nodes write them again,
// at their next heartbeat or the one after.
const relayMissing = 3

// SubscribeCall follows org's live call id on whichever node holds it
// (session.Engine.SubscribeCall there).
func (n *Node) SubscribeCall(org store.OrgID, id session.CallID) (*session.Subscription, error) {
	l := n.engine()
	sub, err := l.SubscribeCall(org, id)
	if err == nil || !errors.Is(err, session.ErrCallNotLive) || n.rdb == nil {
		return sub, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.CommandTimeout)
	defer cancel()
	raw, gerr := n.rdb.Get(ctx, n.key("call", string(id))).Result()
	var e entry
	if gerr != nil || json.Unmarshal([]byte(raw), &e) != nil || e.Org != string(org) || e.Node == n.cfg.Node {
		return nil, err
	}
	if !n.addReader(id) {
		return nil, session.ErrTooManySubscribers
	}
	info := e.info(id)
	relay, rerr := l.NewRelay(org, false, session.LiveEvent{CallID: id, OrgID: org, State: info.State,
		Resolution: info.Resolution, EscalationRisk: info.EscalationRisk, Call: &info})
	if rerr != nil {
		n.dropReader(id)
		return nil, rerr
	}
	// The subscription is in place before the holder bridges: a bridge
	// that finds nobody listening ends.
	hr, serr := n.hub.subscribe(ctx, n.key("events", string(id)))
	if serr != nil {
		n.dropReader(id)
		relay.End(session.LiveEvent{Kind: session.LiveDropped, CallID: id, Reason: "unavailable"})
		return nil, errors.Join(ErrUnreachable, serr)
	}
	if werr := n.remote(ctx, command{Kind: kindWatch, Call: string(id), Org: string(org)}); werr != nil {
		n.hub.unsubscribe(hr)
		n.dropReader(id)
		relay.End(session.LiveEvent{Kind: session.LiveDropped, CallID: id, Reason: "unavailable"})
		if errors.Is(werr, session.ErrCallNotFound) {
			return nil, session.ErrCallNotLive
		}
		return nil, werr
	}
	go func() { // ends with the call, or when its reader goes
		defer n.dropReader(id)
		n.relayCall(relay, hr, org, id, e.Node)
	}()
	return relay.Subscription(), nil
}

// addReader counts a reader here of call id, held by another node, if
// the call has fewer than session.MaxCallSubscribers; dropReader uncounts
// it.
func (n *Node) addReader(id session.CallID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.readers[id] >= session.MaxCallSubscribers {
		return false
	}
	n.readers[id]++
	return true
}

func (n *Node) dropReader(id session.CallID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.readers[id]--; n.readers[id] <= 0 {
		delete(n.readers, id)
	}
}

// relayCall passes a remote call's events to its relay until the call
// ends, its reader goes, or its node is lost. At each check it also asks
// the call's node to bridge again: a bridge ends when it finds nobody
// listening, which happens for a moment whenever this node's subscription
// is made again (Redis restarted, the connection was lost).
func (n *Node) relayCall(relay *session.Relay, hr *hubReader, org store.OrgID, id session.CallID, node string) {
	defer n.hub.unsubscribe(hr)
	tick := time.NewTicker(relayCheck)
	defer tick.Stop()
	missing := 0 // checks in a row that found no entry
	for {
		select {
		case env, ok := <-hr.c:
			if !ok {
				relay.End(session.LiveEvent{Kind: session.LiveDropped, CallID: id, Reason: droppedReason(hr.err)})
				return
			}
			if env.Event.Kind == session.LiveEnded {
				relay.End(env.Event)
				return
			}
			relay.Publish(env.Event)
		case <-tick.C:
			if relay.Closed() {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.CommandTimeout)
			raw, err := n.rdb.Get(ctx, n.key("call", string(id))).Result()
			var e entry
			if errors.Is(err, redis.Nil) {
				missing++
			} else if err == nil {
				missing = 0
			}
			// Ended without its last event reaching us (its node was lost:
			// no entry for relayMissing checks), or moved to another node:
			// the reader follows it again there.
			gone := missing >= relayMissing || err == nil && (json.Unmarshal([]byte(raw), &e) != nil || e.Node != node)
			if !gone { // best effort, and quiet: asked again at the next check
				_ = n.rdb.Publish(ctx, n.key("cmd", node), mustJSON(command{ID: newID(), From: n.cfg.Node, Kind: kindWatch,
					Call: string(id), Org: string(org)})).Err()
			}
			cancel()
			if gone {
				relay.End(session.LiveEvent{Kind: session.LiveEnded, CallID: id, Reason: EndMovedOrLost})
				return
			}
		}
	}
}

// droppedReason is the reason of the LiveDropped that ends a relay whose
// hub reader was closed for err.
func droppedReason(err error) string {
	if errors.Is(err, errFellBehind) {
		return session.DroppedSlow
	}
	return "unavailable"
}

// SubscribeLive follows org's live calls on every node: a snapshot of all
// of them, then each one's start, changes and end.
func (n *Node) SubscribeLive(org store.OrgID) (*session.Subscription, error) {
	l := n.engine()
	local, err := l.SubscribeLive(org)
	if err != nil || n.rdb == nil {
		return local, err
	}
	<-local.Events() // its snapshot: this node's calls, in the one below
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.CommandTimeout)
	defer cancel()
	hr, serr := n.hub.subscribe(ctx, n.key("live", string(org)))
	if serr != nil {
		// Redis is away: this node's calls only.
		local.Close()
		return l.SubscribeLive(org)
	}
	calls, _ := n.Live(ctx, org)
	relay, err := l.NewRelay(org, true, session.LiveEvent{OrgID: org, Calls: calls})
	if err != nil {
		n.hub.unsubscribe(hr)
		local.Close()
		return nil, err
	}
	n.askBridges(ctx, org)
	known := make(map[session.CallID]bool, len(calls))
	for _, c := range calls {
		known[c.ID] = true
	}
	go n.relayList(relay, local, hr, org, known) // ends when its reader goes or the engine drains
	return relay.Subscription(), nil
}

// askBridges asks every other live node to bridge org's live list.
func (n *Node) askBridges(ctx context.Context, org store.OrgID) {
	nodes, err := n.rdb.ZRangeByScore(ctx, n.key("nodes"), &redis.ZRangeBy{Min: unixMilli(time.Now().Add(-n.cfg.LostAfter)), Max: "+inf"}).Result()
	if err != nil {
		return
	}
	msg := mustJSON(command{ID: newID(), From: n.cfg.Node, Kind: kindWatchOrg, Org: string(org)})
	for _, node := range nodes {
		if node != n.cfg.Node {
			_ = n.rdb.Publish(ctx, n.key("cmd", node), msg).Err() // best effort: asked again at the next check
		}
	}
}

// relayList passes this node's and the bridged nodes' list events to the
// relay. known are the calls its reader has been told of: with each check
// the list is compared with the registry, and a call whose start or end
// the bridges missed (a node that started bridging after it, pub/sub
// losing a message while Redis restarted) is told of then.
func (n *Node) relayList(relay *session.Relay, local *session.Subscription, hr *hubReader, org store.OrgID, known map[session.CallID]bool) {
	missing := make(map[session.CallID]int) // checks in a row that did not find the call
	publish := func(ev session.LiveEvent) {
		switch ev.Kind {
		case session.LiveStarted:
			if known[ev.CallID] {
				return
			}
			known[ev.CallID] = true
		case session.LiveEnded:
			if !known[ev.CallID] {
				return
			}
			delete(known, ev.CallID)
		}
		relay.Publish(ev)
	}
	defer func() {
		local.Close()
		n.hub.unsubscribe(hr)
	}()
	msgs := hr.c
	tick := time.NewTicker(relayCheck)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-local.Events():
			if !ok {
				relay.End(session.LiveEvent{Kind: session.LiveDropped, Reason: session.DroppedSlow})
				return
			}
			if ev.Kind == session.LiveDropped {
				relay.End(ev) // this node drains, or the reader fell behind
				return
			}
			if movedAway(ev) {
				continue
			}
			publish(ev)
		case env, ok := <-msgs:
			if !ok {
				relay.End(session.LiveEvent{Kind: session.LiveDropped, Reason: droppedReason(hr.err)})
				return
			}
			if env.Node != n.cfg.Node {
				publish(env.Event)
			}
		case <-tick.C:
			if relay.Closed() {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.CommandTimeout)
			n.askBridges(ctx, org)
			calls, err := n.Live(ctx, org)
			cancel()
			if err != nil {
				continue
			}
			now := make(map[session.CallID]bool, len(calls))
			for _, c := range calls {
				now[c.ID] = true
				if !known[c.ID] {
					publish(session.LiveEvent{Kind: session.LiveStarted, At: c.StartedAt, CallID: c.ID, Call: &c})
				}
			}
			for id := range known {
				switch {
				case now[id]:
					delete(missing, id)
				case missing[id]+1 >= relayMissing:
					// Not a start still on its way to the registry, nor
					// an entry Redis restarted empty has yet to get back.
					delete(missing, id)
					publish(session.LiveEvent{Kind: session.LiveEnded, At: time.Now(), CallID: id, Reason: "ended"})
				default:
					missing[id]++
				}
			}
		}
	}
}

// bridge publishes this node's events of a call (org's call id) or of an
// organization's live list (id "") on their channel until nobody listens
// there, the call ends, the engine drains, or ctx (the node's Run) ends.
// It reports whether there was anything to bridge.
func (n *Node) bridge(ctx context.Context, org store.OrgID, id session.CallID) bool {
	key := "org:" + string(org)
	if id != "" {
		key = "call:" + string(id)
	}
	n.mu.Lock()
	if n.bridges[key] {
		n.mu.Unlock()
		return true
	}
	l := n.engine()
	var (
		sub     *session.Subscription
		err     error
		channel string
	)
	if id != "" {
		sub, err = l.SubscribeCall(org, id)
		channel = n.key("events", string(id))
	} else {
		sub, err = l.SubscribeLive(org)
		channel = n.key("live", string(org))
	}
	if err != nil {
		n.mu.Unlock()
		return false
	}
	n.bridges[key] = true
	n.mu.Unlock()
	go func() { // ends when nobody listens, the call ends or the engine drains
		defer func() {
			sub.Close()
			n.mu.Lock()
			delete(n.bridges, key)
			n.mu.Unlock()
		}()
		first := true
		for ev := range sub.Events() {
			if first { // the snapshot: the readers have theirs
				first = false
				continue
			}
			if ev.Kind == session.LiveDropped {
				return // this node drains: the readers' lists go on without it
			}
			if id == "" && movedAway(ev) {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, n.cfg.CommandTimeout)
			got, err := n.rdb.Publish(pctx, channel, mustJSON(envelope{Node: n.cfg.Node, Event: ev})).Result()
			cancel()
			if ctx.Err() != nil {
				return // the node has left
			}
			if err == nil && got == 0 {
				return // nobody reads it any more
			}
		}
	}()
	return true
}

// movedAway is a live list's "ended" of a call that went on on another
// node: that node lists it (its "started" came first), so the list must
// not drop it.
func movedAway(ev session.LiveEvent) bool {
	return ev.Kind == session.LiveEnded && ev.Reason == string(session.EndMoved)
}
