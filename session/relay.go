package session

import "github.com/iace/iace/store"

// Relay is a live event subscription fed from elsewhere: the events of a
// call, or of an organization's live list, on another node, which
// session/cluster brings through Redis. Its reader sees a Subscription
// like any other, with the same buffer and the same rule for a reader that
// falls behind.
type Relay struct {
	f   *feed
	sub *Subscription
}

// NewRelay makes a relay for org whose first event is first (a
// LiveSnapshot): of a call (list false: the events keep the numbers they
// come with) or of the live list (list true: this reader numbers its own).
func (e *Engine) NewRelay(org store.OrgID, list bool, first LiveEvent) (*Relay, error) {
	f := newFeed(e.metrics, list)
	f.relay = !list
	s, err := f.subscribe(org, e.cfg.LiveEventBuffer, ErrCallNotLive, func() LiveEvent { return first })
	if err != nil {
		return nil, err
	}
	return &Relay{f: f, sub: s}, nil
}

// Subscription is what the relay's reader reads.
func (r *Relay) Subscription() *Subscription { return r.sub }

// Publish hands ev to the reader without waiting (a reader too far behind
// is dropped).
func (r *Relay) Publish(ev LiveEvent) {
	ev.OrgID = r.sub.org
	r.f.publish(ev)
}

// End gives the reader ev as its last event.
func (r *Relay) End(ev LiveEvent) {
	ev.OrgID = r.sub.org
	r.f.end(ev)
}

// Closed reports whether the reader has gone (closed it, or was dropped).
func (r *Relay) Closed() bool { return !r.f.listening() }
