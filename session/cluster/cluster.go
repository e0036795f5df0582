// Package cluster makes several IACE nodes behind one load balancer one
// system, through the Redis they share: a registry of every node's live
// calls, heartbeats that tell a node that died from one that is busy,
// commands about a call routed to the node that holds it (with an
// acknowledgement, a timeout and a retry), each organization's
// concurrent-call limit counted across the nodes, calls moved to another
// node when theirs drains, and the calls of a lost node taken up again
// from their last turn (or recorded as ended, node_lost) by the nodes
// that survive it.
//
// Nothing here is on the media path. A call's start and end are queued to
// one writer goroutine that pipelines them to Redis; the state the live
// list shows is written with the heartbeat, for the calls whose state
// changed. A node without Redis is a cluster of one: every call is local.
//
// Keys (Config.Prefix, "iace:cluster:" by default):
//
//	call:<id>        the call's entry (JSON): node, organization, agent, state
//	org:<org>        set of the organization's live call ids (limit, live list)
//	nodecalls:<node> set of the node's live call ids (recovery when it is lost)
//	nodes            sorted set of nodes by their last heartbeat (unix ms)
//	node:<node>      hash: address, capacity, live calls, draining
//	reap:<node>      lock of the node recording a lost node's calls
//	resume:<id>      a moving call's state, for the node its new stream reaches
//	ckpt:<id>        the call's state after its last turn (Config.Recover)
//	recover:<id>     lock of the node taking a lost node's call up
//
// Channels: cmd:<node> carries commands to a node, reply:<node> their
// acknowledgements back.
package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// Config sets a node's place in the cluster.
type Config struct {
	// Node names this node, unique in the deployment (the pod's name under
	// Kubernetes). Required with Redis.
	Node string
	// Addr is where the other nodes reach this node's public listener
	// (host:port, the pod's IP under Kubernetes); published with the
	// heartbeat.
	Addr string
	// Prefix namespaces every key and channel ("iace:cluster:").
	Prefix string
	// Heartbeat is how often the node says it is alive, writes the state
	// of its calls and looks for lost nodes (2 s).
	Heartbeat time.Duration
	// LostAfter is how long without a heartbeat makes a node lost: its
	// calls are then recorded as ended (node_lost) by another node (10 s).
	// A node's calls are recorded within LostAfter and a heartbeat of its
	// last one.
	LostAfter time.Duration
	// CommandTimeout bounds one attempt at a command to another node
	// (1 s); CommandAttempts is how many are made (2).
	CommandTimeout  time.Duration
	CommandAttempts int
	// OrgMaxCalls is how many calls one organization may have in progress
	// across the nodes (0: no limit).
	OrgMaxCalls int
	// AdmitTimeout bounds the limit's check at a call's start (250 ms);
	// past it, or with Redis away, the call is admitted.
	AdmitTimeout time.Duration
	// Recover keeps each call's state in Redis after every turn (its
	// checkpoint: the transcript so far, the caller's number), so that the
	// nodes that survive a lost node take its calls up again on new
	// streams instead of recording them as lost. It needs moves
	// (EnableMoves).
	Recover bool
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = "iace:cluster:"
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 2 * time.Second
	}
	if c.LostAfter <= 0 {
		c.LostAfter = 10 * time.Second
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = time.Second
	}
	if c.CommandAttempts <= 0 {
		c.CommandAttempts = 2
	}
	if c.AdmitTimeout <= 0 {
		c.AdmitTimeout = 250 * time.Millisecond
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.LostAfter < 3*c.Heartbeat {
		errs = append(errs, fmt.Errorf("cluster: lost-after %v must be at least three heartbeats (%v)", c.LostAfter, c.Heartbeat))
	}
	if c.OrgMaxCalls < 0 {
		errs = append(errs, fmt.Errorf("cluster: org max calls %d: want 0 (no limit) or more", c.OrgMaxCalls))
	}
	return errors.Join(errs...)
}

// Local is the node's own engine (*session.Engine).
type Local interface {
	List() []session.CallInfo
	Call(id session.CallID) (session.CallInfo, bool)
	Hangup(id session.CallID, reason session.EndReason) bool
	Escalate(id session.CallID, reason store.EscalationReason) bool
	Handed(id session.CallID, reason store.EscalationReason) bool
	Supervise(org store.OrgID, id session.CallID, role session.SupervisorRole) error
	Whisper(org store.OrgID, id session.CallID, text string) error
	Capacity() int
	Draining() bool
	SubscribeCall(org store.OrgID, id session.CallID) (*session.Subscription, error)
	SubscribeLive(org store.OrgID) (*session.Subscription, error)
	NewRelay(org store.OrgID, list bool, first session.LiveEvent) (*session.Relay, error)
}

// Recorder writes the record of a call a lost node held (the spool's
// path, as for a call that ended here).
type Recorder func(ctx context.Context, sum session.CallSummary)

// Errors of commands to other nodes.
var (
	// ErrUnreachable: the node that holds the call did not acknowledge the
	// command after every attempt (it died, or Redis is away). The call
	// may still be live there.
	ErrUnreachable = errors.New("cluster: the node holding the call did not answer")
)

// Node is this process's member of the cluster. Its zero value is not
// usable; New makes one, and Run runs it.
type Node struct {
	cfg Config
	rdb redis.UniversalClient
	// streams and secret move calls to other nodes (EnableMoves).
	streams StreamControl
	secret  []byte
	// stopFirst: Telnyx refused a second stream, so moves stop the old
	// stream before asking for the new one; stopped holds the streams a
	// move stopped (by id), for Release.
	stopFirst atomic.Bool
	stopped   sync.Map
	// advertised is Config.Addr, or the address Advertise set.
	advertised atomic.Pointer[string]
	record     Recorder
	// hangup ends a lost node's call at Telnyx (HangUpLost); nil: none.
	hangup  func(ctx context.Context, callControlID string) error
	log     *slog.Logger
	metrics *metrics
	local   atomic.Pointer[localRef]

	// changes carries calls' starts and ends to the writer.
	changes chan change
	// rebuild asks the writer to write every local call again: a write
	// was lost (queue full, Redis away), or Redis forgot this node.
	rebuild atomic.Bool
	// orphans carries to the reaper the calls a previous process of this
	// node's name left in the registry (the writer finds them at start).
	orphans chan []string
	// inc tells this process from an earlier or later one of the same
	// node name: it is in the node's hash and in every entry it writes.
	inc string

	mu sync.Mutex
	// pending are the commands this node sent, waiting for their reply.
	pending map[string]chan string
	// done remembers the replies to commands carried out lately, by
	// command id, so that a retried command is not carried out twice.
	done     map[string]string
	doneRing []string
	doneAt   int
	// bridges are the calls ("call:<id>") and live lists ("org:<org>")
	// whose events this node publishes for readers on other nodes.
	bridges map[string]bool
	// readers counts this node's readers of calls other nodes hold.
	readers map[session.CallID]int
	// hub is the Redis subscription all of them share.
	hub *hub
}

type localRef struct{ Local }

// change is a call's start, end or checkpoint, for the writer.
type change struct {
	info  session.CallInfo
	ended bool
	ckpt  *session.Resume
}

// changeQueue is how many starts and ends may wait for the writer: a
// burst of calls at once. Past it a change is dropped and the writer
// rebuilds the registry from the engine at its next heartbeat.
const changeQueue = 4096

// maxDone is how many command replies a node remembers for retries.
const maxDone = 4096

// New returns a node of the cluster on rdb; with a nil rdb, a cluster of
// one. record writes the calls of lost nodes; reg takes the metrics.
func New(cfg Config, rdb redis.UniversalClient, record Recorder, reg prometheus.Registerer, log *slog.Logger) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rdb != nil && cfg.Node == "" {
		return nil, errors.New("cluster: a node name is required with Redis")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Node{cfg: cfg, rdb: rdb, record: record, log: log.With("node", cfg.Node), metrics: m,
		changes: make(chan change, changeQueue), orphans: make(chan []string, 1), inc: newID(), pending: make(map[string]chan string),
		done: make(map[string]string, maxDone), doneRing: make([]string, 0, maxDone), bridges: make(map[string]bool),
		readers: make(map[session.CallID]int), hub: newHub(rdb, cfg.Heartbeat)}, nil
}

// Advertise sets the address the other nodes reach this node at, when
// Config.Addr was left empty (the listener's address, known once it is
// open).
func (n *Node) Advertise(addr string) {
	if n.cfg.Addr == "" {
		n.advertised.Store(&addr)
	}
}

// addr is the address the node publishes.
func (n *Node) addr() string {
	if a := n.advertised.Load(); a != nil {
		return *a
	}
	return n.cfg.Addr
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Node }

// Shared reports whether the node shares its calls through Redis.
func (n *Node) Shared() bool { return n.rdb != nil }

// Attach gives the node its engine; it is set once, before Run and before
// the first call.
func (n *Node) Attach(l Local) { n.local.Store(&localRef{l}) }

func (n *Node) engine() Local {
	if r := n.local.Load(); r != nil {
		return r.Local
	}
	return nil
}

func (n *Node) key(parts ...string) string {
	k := n.cfg.Prefix
	for i, p := range parts {
		if i > 0 {
			k += ":"
		}
		k += p
	}
	return k
}

// Admit counts the call against its organization's limit across the nodes
// (session.Directory).
func (n *Node) Admit(ctx context.Context, info session.CallInfo) error {
	limit := n.cfg.OrgMaxCalls
	if limit == 0 {
		return nil
	}
	if n.rdb == nil { // a cluster of one: the engine's own calls
		live := 0
		if l := n.engine(); l != nil {
			for _, c := range l.List() {
				if c.OrgID == info.OrgID {
					live++
				}
			}
		}
		if live >= limit {
			return session.ErrOrgAtLimit
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.AdmitTimeout)
	defer cancel()
	ok, err := admitScript.Run(ctx, n.rdb, []string{n.key("org", string(info.OrgID))}, string(info.ID), limit).Int()
	if err != nil {
		n.metrics.redisErrors.WithLabelValues("admit").Inc()
		n.log.Warn("cluster: the organization's call limit could not be checked; admitting the call", "org_id", string(info.OrgID), "err", err)
		return nil
	}
	if ok == 0 {
		n.log.Info("call refused: the organization is at its concurrent-call limit", "org_id", string(info.OrgID), "limit", limit)
		return session.ErrOrgAtLimit
	}
	return nil
}

// admitScript adds a call to its organization's set unless the set is full.
var admitScript = redis.NewScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1`)

// Started queues the call's entry for the writer (session.Directory).
func (n *Node) Started(info session.CallInfo) { n.queue(change{info: info}) }

// Ended queues the removal of the call's entry (session.Directory).
func (n *Node) Ended(info session.CallInfo, _ session.EndReason) {
	n.queue(change{info: info, ended: true})
}

func (n *Node) queue(c change) {
	if n.rdb == nil {
		return
	}
	select {
	case n.changes <- c:
	default:
		n.metrics.redisErrors.WithLabelValues("queue_full").Inc()
		n.rebuild.Store(true)
	}
}

// entry is a call's registry entry in Redis. It holds no phone number.
type entry struct {
	Node       string  `json:"node"`
	Org        string  `json:"org"`
	Agent      string  `json:"agent"`
	CCID       string  `json:"ccid,omitempty"`
	CSID       string  `json:"csid,omitempty"`
	Stream     string  `json:"stream,omitempty"`
	Started    int64   `json:"started"` // unix ms
	State      int32   `json:"state"`
	Role       string  `json:"role,omitempty"`
	Resolution float64 `json:"resolution,omitempty"`
	Risk       float64 `json:"risk,omitempty"`
	// Inc is the incarnation of the process that wrote the entry
	// (Node.inc); empty in entries of versions before it.
	Inc string `json:"inc,omitempty"`
}

func (n *Node) entryOf(c session.CallInfo) entry {
	return entry{Node: n.cfg.Node, Org: string(c.OrgID), Agent: string(c.AgentID), CCID: c.CallControlID, CSID: c.CallSessionID,
		Stream: c.StreamID, Started: c.StartedAt.UnixMilli(), State: int32(c.State), Role: string(c.SupervisorRole),
		Resolution: c.Resolution, Risk: c.EscalationRisk, Inc: n.inc}
}

func (e entry) info(id session.CallID) session.CallInfo {
	role := session.SupervisorRole(e.Role)
	if !role.Valid() {
		role = session.RoleMonitor
	}
	return session.CallInfo{ID: id, OrgID: store.OrgID(e.Org), AgentID: store.AgentID(e.Agent), CallControlID: e.CCID,
		CallSessionID: e.CSID, StreamID: e.Stream, StartedAt: time.UnixMilli(e.Started), State: session.State(e.State),
		SupervisorRole: role, Resolution: e.Resolution, EscalationRisk: e.Risk}
}

// newID is a command id.
func newID() string { return rand.Text()[:16] }

// unixMilli formats t for a sorted-set score.
func unixMilli(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
