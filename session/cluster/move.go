package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
)

// StreamControl starts and stops a call's media streams at Telnyx (Call
// Control's streaming_start and streaming_stop).
type StreamControl interface {
	// StartStream asks Telnyx to open a new media stream of the call to
	// the deployment's public URL, with token.
	StartStream(ctx context.Context, callControlID, token string) error
	// StopStream stops one stream of the call.
	StopStream(ctx context.Context, callControlID, streamID string) error
}

// ErrStreamRefused says Telnyx refused a new stream because the call has
// one: its media streaming guide allows one bidirectional stream per call.
// A StreamControl wraps it in the error of such a refusal.
var ErrStreamRefused = errors.New("cluster: Telnyx refused a second stream for the call")

// moveTimeout bounds a move: from asking Telnyx for the new stream to
// another node holding the call.
const moveTimeout = 5 * time.Second

// resumeTTL is how long a moved call's state waits in Redis for the new
// stream; the state holds the transcript, so not long.
const resumeTTL = time.Minute

// EnableMoves lets the node move its calls to other nodes when it drains
// (session.Mover): the new streams' tokens are signed with secret. Call
// it before Run.
func (n *Node) EnableMoves(sc StreamControl, secret []byte) {
	n.streams, n.secret = sc, secret
}

// Moves reports whether the node can move calls.
func (n *Node) Moves() bool { return n.rdb != nil && n.streams != nil }

// Move hands r to whichever node takes the call's new stream: the state
// goes to Redis under a fresh nonce, Telnyx is asked for a new stream to
// the public URL with a token carrying it, and Move returns once another
// node holds the call (its registry entry names that node).
func (n *Node) Move(ctx context.Context, r session.Resume) error {
	if !n.Moves() {
		return session.ErrNotMoved
	}
	if err := n.handOver(ctx, r, n.cfg.Node, n.startStream); err != nil {
		n.stopped.Delete(r.StreamID) // no Release follows a failed move
		return errors.Join(session.ErrNotMoved, err)
	}
	return nil
}

// handOver gives call r, held by node from, to whichever node takes the
// new stream start asks Telnyx for, and returns once another node holds
// the call. On an error no stream can take the call any more.
func (n *Node) handOver(ctx context.Context, r session.Resume, from string,
	start func(ctx context.Context, r session.Resume, tok string) error) error {
	ctx, cancel := context.WithTimeout(ctx, moveTimeout)
	defer cancel()
	r.Nonce = newID() + newID()
	key := n.key("resume", string(r.CallID))
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("cluster: move: %w", err)
	}
	if err := n.rdb.Set(ctx, key, b, resumeTTL).Err(); err != nil {
		n.metrics.redisErrors.WithLabelValues("move").Inc()
		return fmt.Errorf("cluster: move: save the call's state: %w", err)
	}
	fail := func(err error) error {
		// Whether the move failed is the state's: deleted here, no stream
		// can resume the call any more; taken already, the new node has the
		// call and this one must let it go.
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer dcancel()
		deleted, derr := n.rdb.Del(dctx, key).Result()
		if derr == nil && deleted == 0 {
			n.log.Info("cluster: the moving call's state was taken as the move timed out: it is the other node's", "call_id", string(r.CallID))
			return nil
		}
		return errors.Join(err, derr)
	}
	tok, err := telnyx.Mint(n.secret, telnyx.StreamClaims{CallID: string(r.CallID), OrgID: string(r.OrgID), AgentID: string(r.AgentID),
		CallControlID: r.CallControlID, Nonce: r.Nonce, Resume: true}, time.Now(), resumeTTL)
	if err != nil {
		return fail(err)
	}
	if err := start(ctx, r, tok); err != nil {
		return fail(err)
	}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		raw, err := n.rdb.Get(ctx, n.key("call", string(r.CallID))).Result()
		if err == nil {
			var e entry
			// Taken: another node holds the call, or, when the node it
			// reaches has the lost node's name (a restarted process), a
			// new stream does.
			if json.Unmarshal([]byte(raw), &e) == nil && (e.Node != from || r.StreamID != "" && e.Stream != "" && e.Stream != r.StreamID) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fail(fmt.Errorf("no node took the new stream: %w", ctx.Err()))
		case <-tick.C:
		}
	}
}

// startStream asks Telnyx for the call's new stream. The new stream is
// asked for while the old one runs, so that the caller hears no gap; if
// Telnyx refuses a second stream, the old one is stopped first and the new
// one asked for again, and from then on every move of this node stops
// first (the caller's line is silent for the moment the new stream takes
// to open, between turns).
func (n *Node) startStream(ctx context.Context, r session.Resume, tok string) error {
	if !n.stopFirst.Load() || r.StreamID == "" {
		err := n.streams.StartStream(ctx, r.CallControlID, tok)
		if err == nil || !errors.Is(err, ErrStreamRefused) || r.StreamID == "" {
			if err != nil {
				return fmt.Errorf("streaming_start: %w", err)
			}
			return nil
		}
		if !n.stopFirst.Swap(true) {
			n.log.Warn("cluster: Telnyx refused a second stream for a moving call; moves stop the old stream first from now on")
		}
	}
	if err := n.streams.StopStream(ctx, r.CallControlID, r.StreamID); err != nil {
		return fmt.Errorf("streaming_stop before the new stream: %w", err)
	}
	n.stopped.Store(r.StreamID, true) // Release has nothing left to stop
	if err := n.streams.StartStream(ctx, r.CallControlID, tok); err != nil {
		return fmt.Errorf("streaming_start after the old stream stopped: %w", err)
	}
	return nil
}

// Release stops the call's old stream, unless the move stopped it already.
func (n *Node) Release(ctx context.Context, callControlID, streamID string) error {
	if _, done := n.stopped.LoadAndDelete(streamID); done || n.streams == nil {
		return nil
	}
	return n.streams.StopStream(ctx, callControlID, streamID)
}

// takeScript returns and deletes a moved call's state if the nonce is its.
var takeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
local ok, r = pcall(cjson.decode, v)
if not ok or r.nonce ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
return v`)

// Take returns the state of moved call id for the stream whose token
// carries nonce, once.
func (n *Node) Take(ctx context.Context, id session.CallID, nonce string) (session.Resume, error) {
	if n.rdb == nil || nonce == "" {
		return session.Resume{}, session.ErrNotMoved
	}
	raw, err := takeScript.Run(ctx, n.rdb, []string{n.key("resume", string(id))}, nonce).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return session.Resume{}, fmt.Errorf("%w: no state waits for this stream", session.ErrNotMoved)
	case err != nil:
		n.metrics.redisErrors.WithLabelValues("move").Inc()
		return session.Resume{}, err
	}
	var r session.Resume
	if err := json.Unmarshal([]byte(raw), &r); err != nil || r.CallID != id {
		return session.Resume{}, fmt.Errorf("%w: unreadable state", session.ErrNotMoved)
	}
	return r, nil
}

// endScript removes an ended call's entry and checkpoint, unless another
// node holds the call now (it moved there): then only this node's set
// forgets it. It is
// sent whole (EVAL) inside pipelines, where EVALSHA's fallback cannot run.
const endScript = `
local v = redis.call('GET', KEYS[1])
if v then
  local ok, e = pcall(cjson.decode, v)
  if ok and e.node ~= ARGV[1] then
    redis.call('SREM', KEYS[3], ARGV[2])
    return 0
  end
  redis.call('DEL', KEYS[1])
end
redis.call('DEL', KEYS[4])
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('SREM', KEYS[3], ARGV[2])
return 1`
