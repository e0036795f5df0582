package cluster

import (
	"context"

	"github.com/iace/iace/session"
)

// LoseEventsSubscription makes Redis drop n's subscription to call id's
// events behind the node's back, as a lost connection does; again
// subscribes it anew, as go-redis does once it has reconnected.
func LoseEventsSubscription(ctx context.Context, n *Node, id session.CallID) (again func() error, err error) {
	channel := n.key("events", string(id))
	n.hub.mu.Lock()
	ps := n.hub.ps
	n.hub.mu.Unlock()
	if err := ps.Unsubscribe(ctx, channel); err != nil {
		return nil, err
	}
	return func() error { return ps.Subscribe(ctx, channel) }, nil
}

// Bridging reports whether n publishes call id's events for readers on
// other nodes.
func Bridging(n *Node, id session.CallID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.bridges["call:"+string(id)]
}
