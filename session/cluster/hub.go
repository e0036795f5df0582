package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The hub is one Redis subscription that all of a node's readers of other
// nodes' events share: the channels of the calls they follow
// (events:<id>) and of the organizations whose live list they read
// (live:<org>). A Redis pub/sub subscription holds a connection of its
// own; with one per reader, a node with a hundred supervisors' dashboards
// open held a hundred connections to Redis. Each channel is subscribed
// once, whatever the number of its readers here, and each message is
// decoded once for all of them.

// hubBuffer is how many events a reader may be behind the hub before it is
// dropped. The reader only hands each event on to its relay, which never
// waits (session.Relay drops its own slow subscribers).
const hubBuffer = 64

// errHubClosed: the node has left the cluster.
var errHubClosed = errors.New("cluster: the node has left")

// errFellBehind: a reader did not keep up with its channel.
var errFellBehind = errors.New("cluster: the reader fell behind")

type hub struct {
	rdb redis.UniversalClient
	// health is how often the connection is pinged when quiet, and how
	// long an unsubscribe may take.
	health time.Duration

	mu       sync.Mutex
	ps       *redis.PubSub // nil until the first reader
	closed   bool
	channels map[string]*hubChannel
}

// hubChannel is a channel the hub subscribes to, with its readers.
type hubChannel struct {
	readers map[*hubReader]struct{}
	// ready is closed when Redis confirms the subscription: from then on
	// nothing published on the channel is missed.
	ready     chan struct{}
	confirmed bool
}

// hubReader is one reader of a channel. Its events come on c, which is
// closed when the hub drops it (err says why) or closes.
type hubReader struct {
	channel string
	c       chan envelope
	err     error // set before c is closed
}

func newHub(rdb redis.UniversalClient, health time.Duration) *hub {
	return &hub{rdb: rdb, health: health, channels: make(map[string]*hubChannel)}
}

// subscribe adds a reader of channel and returns once Redis has confirmed
// the channel's subscription, or ctx ends (then it is an error).
func (h *hub) subscribe(ctx context.Context, channel string) (*hubReader, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errHubClosed
	}
	if h.ps == nil {
		// The subscription outlives the reader that opened it: it lasts
		// until the hub closes.
		h.ps = h.rdb.Subscribe(context.WithoutCancel(ctx))
		msgs := h.ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(h.health), redis.WithChannelSize(hubBuffer))
		go h.run(msgs) //nolint:contextcheck // ends when the hub closes, not with this reader's context; its unsubscribes have their own bound
	}
	c := h.channels[channel]
	if c == nil {
		// Subscribing and unsubscribing a channel both happen under h.mu,
		// so Redis sees them in the order the hub's map does.
		if err := h.ps.Subscribe(ctx, channel); err != nil {
			// go-redis keeps the channel to subscribe it again when it
			// reconnects: nobody here would read it.
			_ = h.ps.Unsubscribe(ctx, channel)
			h.mu.Unlock()
			return nil, err
		}
		c = &hubChannel{readers: make(map[*hubReader]struct{}), ready: make(chan struct{})}
		h.channels[channel] = c
	}
	r := &hubReader{channel: channel, c: make(chan envelope, hubBuffer)}
	c.readers[r] = struct{}{}
	ready := c.ready
	h.mu.Unlock()
	select {
	case <-ready:
		return r, nil
	case <-ctx.Done():
		h.unsubscribe(r) //nolint:contextcheck // an unsubscribe is the hub's own write, for its other readers too: bounded by its own timeout
		return nil, ctx.Err()
	}
}

// unsubscribe removes r; the last reader of a confirmed channel
// unsubscribes it (one still unconfirmed is unsubscribed when the
// confirmation comes, so that the confirmation is not taken for a later
// subscription's).
func (h *hub) unsubscribe(r *hubReader) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.channels[r.channel]
	if c == nil {
		return
	}
	delete(c.readers, r)
	if len(c.readers) == 0 && c.confirmed {
		h.drop(r.channel)
	}
}

// drop unsubscribes channel, which has no readers. The caller holds h.mu.
func (h *hub) drop(channel string) {
	delete(h.channels, channel)
	if h.closed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.health)
	defer cancel()
	// A failure leaves the connection subscribed to a channel nobody
	// reads here: its messages are dropped below, and the subscription
	// goes with the next reconnection.
	_ = h.ps.Unsubscribe(ctx, channel)
}

// run hands each message to the readers of its channel until the hub
// closes.
func (h *hub) run(msgs <-chan any) {
	for m := range msgs {
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				h.confirm(m.Channel)
			}
		case *redis.Message:
			var env envelope
			if json.Unmarshal([]byte(m.Payload), &env) != nil {
				continue
			}
			h.deliver(m.Channel, env)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.channels {
		for r := range c.readers {
			r.err = errHubClosed
			close(r.c)
		}
	}
	h.channels = nil
}

// confirm marks channel's subscription in place. A confirmation also comes
// for every channel after the connection was lost and made again (go-redis
// subscribes them all again).
func (h *hub) confirm(channel string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.channels[channel]
	if c == nil || c.confirmed {
		return
	}
	c.confirmed = true
	close(c.ready)
	if len(c.readers) == 0 {
		h.drop(channel)
	}
}

// deliver hands env to the readers of channel without waiting: a reader
// whose buffer is full is dropped.
func (h *hub) deliver(channel string, env envelope) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.channels[channel]
	if c == nil {
		return
	}
	for r := range c.readers {
		select {
		case r.c <- env:
		default:
			delete(c.readers, r)
			r.err = errFellBehind
			close(r.c)
		}
	}
	if len(c.readers) == 0 {
		h.drop(channel)
	}
}

// close ends the subscription; every reader's channel is closed.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	if h.ps != nil {
		_ = h.ps.Close() // run closes the readers
	}
}
