package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iace/iace/control/webhook"
	"github.com/iace/iace/loadtest/callsim/sim"
)

// cluster is a case's three nodes and its load balancer.
type cluster struct {
	name   string // the case's: its reports' directory, its key prefix, its call ids
	nodes  []*node
	lb     *lbProc
	prefix string
	dir    string
}

// hookURL is where Telnyx posts webhooks: the public URL.
func (c *cluster) hookURL() string { return "http://" + c.lb.addr + "/webhooks/telnyx" }

// mediaURL is where callsim's calls stream.
func (c *cluster) mediaURL() string { return "ws://" + c.lb.addr + "/media/telnyx" }

// byName returns the node named name.
func (c *cluster) byName(name string) *node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// others are the nodes not named name.
func (c *cluster) others(name string) []*node {
	var out []*node
	for _, n := range c.nodes {
		if n.name != name {
			out = append(out, n)
		}
	}
	return out
}

// clusterOptions are how a case's nodes differ from the others'.
type clusterOptions struct {
	// providers: the nodes use the provider fakes rather than the offline
	// stand-ins.
	providers bool
	// recover: the nodes take up a lost node's calls
	// (--recover-lost-calls).
	recover bool
}

// startCluster starts the case's nodes one after the other (the first
// imports the agents file alone), then the load balancer, as opts say.
func (r *runner) startCluster(ctx context.Context, name string, opts clusterOptions) (*cluster, error) {
	dir := filepath.Join(r.cfg.Out, name)
	if err := os.MkdirAll(dir, 0o750); err != nil { //nolint:gosec // G703: the report directory the operator chose
		return nil, err
	}
	c := &cluster{name: name, prefix: r.cfg.Prefix + name + ":", dir: dir}
	lbAddr := "127.0.0.1:" + strconv.Itoa(r.cfg.BasePort)
	for i := 1; i <= 3; i++ {
		n := &node{
			name:     fmt.Sprintf("node-%d", i),
			public:   "127.0.0.1:" + strconv.Itoa(r.cfg.BasePort+i),
			internal: "127.0.0.1:" + strconv.Itoa(r.cfg.BasePort+10+i),
			dataDir:  filepath.Join(dir, fmt.Sprintf("node-%d", i)),
			logPath:  filepath.Join(dir, fmt.Sprintf("node-%d.log", i)),
			env:      r.env(opts.providers),
		}
		n.args = []string{r.cfg.IACE, "serve", "--addr", n.public, "--internal-addr", n.internal,
			"--node-name", n.name, "--node-addr", n.public, "--data-dir", n.dataDir,
			"--public-url", "http://" + lbAddr, "--telnyx-public-key", r.tel.PublicKey(), "--telnyx-api-url", r.tel.APIURL(),
			"--cluster-prefix", c.prefix, "--cluster-heartbeat", r.cfg.Heartbeat.String(), "--cluster-lost-after", r.cfg.LostAfter.String(),
			"--drain-timeout", r.cfg.DrainTimeout.String(), "--default-agent", "", "--agents-file", r.cfg.AgentsFile, "--migrate=false",
			"--log-format", "json", "--log-level", r.cfg.LogLevel}
		if opts.providers {
			n.args = append(n.args, "--deepgram-url", r.prov.DeepgramURL(), "--llm-base-url", r.prov.LLMURL(),
				// The sentiment of each turn is the lexicon's, not a second chat
				// request; the synthesizer is asked for every sentence (no cache),
				// so that its outage reaches the calls.
				"--sentiment", "lexicon", "--tts-cache-mib", "0")
		}
		if opts.recover {
			n.args = append(n.args, "--recover-lost-calls")
		}
		n.args = append(n.args, r.cfg.ExtraFlags...)
		c.nodes = append(c.nodes, n)
		if err := n.start(context.WithoutCancel(ctx)); err != nil {
			c.stop(r)
			return nil, err
		}
		if err := n.waitReady(ctx, 60*time.Second); err != nil {
			c.stop(r)
			return nil, err
		}
	}
	lb, err := startLB(context.WithoutCancel(ctx), r.cfg.LB, lbAddr, c.nodes, dir)
	if err != nil {
		c.stop(r)
		return nil, err
	}
	c.lb = lb
	for range 50 {
		if listening(ctx, lbAddr) {
			break
		}
		_ = sleep(ctx, 100*time.Millisecond)
	}
	r.progressf("%s: 3 nodes and the load balancer up (prefix %s)", name, c.prefix)
	return c, nil
}

// stop ends the load balancer and the nodes (a drain of the calls left,
// then SIGKILL), and returns the load balancer's counts.
func (c *cluster) stop(r *runner) *lbStats {
	var st *lbStats
	if c.lb != nil {
		if s, err := c.lb.stop(); err == nil {
			st = &s
		}
	}
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Go(func() { n.stop(r.cfg.DrainTimeout + 15*time.Second) })
	}
	wg.Wait()
	return st
}

// registry reads which node holds each live call, from the cluster's
// registry in Redis (session/cluster: the set nodecalls:<node>).
func (r *runner) registry(ctx context.Context, c *cluster) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range c.nodes {
		ids, err := r.rdb.SMembers(ctx, c.prefix+"nodecalls:"+n.name).Result()
		if err != nil {
			return nil, fmt.Errorf("registry of %s: %w", n.name, err)
		}
		for _, id := range ids {
			out[id] = n.name
		}
	}
	return out, nil
}

// placement is one call as Telnyx placed it.
type placement struct {
	N           int
	CCID        string
	CallID      string
	From        string
	Placed      time.Time // call.initiated posted
	Answered    time.Time // the answer command came (zero if it did not)
	ClientState string
	Err         string
}

// start is when the call's stream began, as near as the suite knows.
func (p *placement) start() time.Time {
	if !p.Answered.IsZero() {
		return p.Answered
	}
	return p.Placed
}

// load is one callsim run of a case.
type load struct {
	name     string
	calls    int
	ramp     time.Duration
	begun    time.Time
	mu       sync.Mutex
	placed   map[string]*placement // by call_control_id
	progress atomic.Pointer[sim.Progress]
}

func (l *load) placements() []*placement {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*placement, 0, len(l.placed))
	for _, p := range l.placed {
		out = append(out, p)
	}
	return out
}

func (l *load) byCCID(ccid string) *placement {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.placed[ccid]
}

// live is callsim's count of calls in progress.
func (l *load) live() int {
	if p := l.progress.Load(); p != nil {
		return p.Live
	}
	return 0
}

// waitSteady waits for the ramp to end and most calls to be live, then
// hold more.
func (l *load) waitSteady(ctx context.Context, hold time.Duration) error {
	if err := sleep(ctx, time.Until(l.begun.Add(l.ramp))); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for l.live() < l.calls*9/10 && time.Now().Before(deadline) {
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return sleep(ctx, hold)
}

// chaosScript is what callsim's callers say in the cases: six lines, about
// 30 s a call, the last of which ends the call (the offline agent hangs up
// on goodbye).
var chaosScript = []string{"what are your opening hours", "how much does it cost", "what are your opening hours",
	"how much does it cost", "what are your opening hours", "goodbye"}

// runSim keeps -calls calls saying chaosScript going through c for
// duration (callsim's: ended calls are replaced until then), started over
// -ramp, while act runs; act's context ends when the calls have.
func (r *runner) runSim(ctx context.Context, c *cluster, duration time.Duration, act func(ctx context.Context, l *load) error) (sim.Report, *load, error) {
	l := &load{name: c.name, calls: r.cfg.Calls, ramp: r.cfg.Ramp, placed: map[string]*placement{}}
	base := "v3:chaos-" + c.name + "-" + strings.ToLower(randText(8))
	cfg := sim.Config{
		URL: c.mediaURL(), Calls: r.cfg.Calls, Ramp: r.cfg.Ramp, Duration: duration, Grace: 60 * time.Second,
		Script: chaosScript, To: r.cfg.Number, CallControlID: base,
		Progress: func(p sim.Progress) { l.progress.Store(&p) },
		StreamToken: func(n int, ccid string) (string, error) {
			p := &placement{N: n, CCID: ccid, CallID: string(webhook.CallIDFor(ccid)), From: callerNumber(n), Placed: time.Now()}
			l.mu.Lock()
			l.placed[ccid] = p
			l.mu.Unlock()
			a, _, err := r.tel.offer(ctx, c.hookURL(), ccid, p.From, 10*time.Second, false)
			l.mu.Lock()
			defer l.mu.Unlock()
			if err != nil {
				p.Err = err.Error()
				return "", err
			}
			p.Answered, p.ClientState = time.Now(), a.clientState
			return a.token, nil
		},
	}
	l.begun = time.Now()
	actCtx, cancel := context.WithCancel(ctx)
	actErr := make(chan error, 1)
	go func() { actErr <- act(actCtx, l) }() // ends with actCtx at the latest
	rep, err := sim.Run(ctx, cfg)
	cancel()
	aerr := <-actErr
	// Every call's detail, for a closer look than the report's.
	if werr := writeJSON(filepath.Join(c.dir, "callsim.json"), rep); werr != nil && err == nil {
		err = werr
	}
	if err == nil && aerr != nil && ctx.Err() == nil && !isCanceled(aerr) {
		err = aerr
	}
	return rep, l, err
}

func isCanceled(err error) bool { return errors.Is(err, context.Canceled) }

// timeline is when each call of a callsim run was live.
type timeline struct {
	start, end time.Time
	placement  *placement
}

// timelines maps callsim's results to when they ran. Calls no node
// answered are left out: they never ran (unanswered counts them).
func timelines(rep sim.Report, l *load) map[int]timeline {
	out := make(map[int]timeline, len(rep.Calls))
	for _, c := range rep.Calls {
		p := l.byCCID(c.CallControlID)
		if p == nil || p.Answered.IsZero() {
			continue
		}
		s := p.start()
		out[c.N] = timeline{start: s, end: s.Add(c.Duration), placement: p}
	}
	return out
}

// splitMargin is how far the suite's idea of when a call ran may be off:
// a call's start is when its answer came, and callsim times the call from
// its own dial, a few milliseconds later, to tens of them on a busy machine.
const splitMargin = 2 * time.Second

// splitAt sorts calls into those that ended before t (by splitMargin),
// those live at t, and those that started after t (by as much as after).
func splitAt(rep sim.Report, l *load, t time.Time, after time.Duration) (before, spanning, later []sim.CallResult) {
	tl := timelines(rep, l)
	for _, c := range rep.Calls {
		w, ok := tl[c.N]
		switch {
		case !ok:
		case w.end.Before(t.Add(-splitMargin)):
			before = append(before, c)
		case w.start.After(t.Add(after)):
			later = append(later, c)
		case w.start.Before(t):
			spanning = append(spanning, c)
		}
	}
	return before, spanning, later
}

// unanswered counts the calls placed in [from, to) and how many of them no
// node answered.
func unanswered(l *load, from, to time.Time) (placed, lost int) {
	for _, p := range l.placements() {
		if !p.Placed.Before(from) && p.Placed.Before(to) {
			placed++
			if p.Answered.IsZero() {
				lost++
			}
		}
	}
	return placed, lost
}

// callIDs are the IACE call ids of the placements that were answered.
func answeredIDs(ps []*placement) []string {
	var out []string
	for _, p := range ps {
		if !p.Answered.IsZero() {
			out = append(out, p.CallID)
		}
	}
	return out
}

// listening reports whether addr accepts a connection.
func listening(ctx context.Context, addr string) bool {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// randText is n random characters of [A-Z2-7].
func randText(n int) string { return rand.Text()[:n] }

// writeJSON writes v, indented, to path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600) //nolint:gosec // G703: in the report directory the operator chose
}

// callIDFor is the IACE call id of a Telnyx call.
func callIDFor(ccid string) string { return string(webhook.CallIDFor(ccid)) }

// dialer opens the followers' media streams.
func dialer() *websocket.Dialer { return &websocket.Dialer{HandshakeTimeout: 10 * time.Second} }
