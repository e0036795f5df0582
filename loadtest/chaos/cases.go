package main

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/iace/iace/loadtest/callsim/sim"
)

// caseFunc is what a case does on its cluster: it places calls through c,
// does its harm while they go on, and writes its figures and checks into
// rep.
type caseFunc func(ctx context.Context, c *cluster, rep *caseReport) error

// onCluster runs fn on a cluster of the case's own, its nodes as opts say
// (the provider fakes are started once for the run), and stops the cluster
// when fn is done, its load balancer's counts going into rep.
func (r *runner) onCluster(ctx context.Context, rep *caseReport, opts clusterOptions, fn caseFunc) error {
	if opts.providers && r.prov == nil {
		p, err := startProviders(context.WithoutCancel(ctx))
		if err != nil {
			return err
		}
		r.prov = p
	}
	c, err := r.startCluster(ctx, rep.Case, opts)
	if err != nil {
		return err
	}
	defer func() { rep.LB = c.stop(r) }()
	return fn(ctx, c, rep)
}

// steadyRegistry waits for l's calls to be steady and hold more (see
// waitSteady), then reads which node holds each live call.
func (r *runner) steadyRegistry(ctx context.Context, c *cluster, l *load, hold time.Duration) (map[string]string, error) {
	if err := l.waitSteady(ctx, hold); err != nil {
		return nil, err
	}
	return r.registry(ctx, c)
}

// midScript picks up to k of the calls in ps, lowest n first, that the
// registry reg places on a node and that were answered more than 3 s and
// less than maxAge before now: calls well into their script and far from
// its end (they last about 30 s), which a hang-up, not their own end, ends.
func midScript(ps []*placement, reg map[string]string, now time.Time, maxAge time.Duration, k int) []*placement {
	var cand []*placement
	for _, p := range ps {
		if age := now.Sub(p.Answered); !p.Answered.IsZero() && age > 3*time.Second && age < maxAge && reg[p.CallID] != "" {
			cand = append(cand, p)
		}
	}
	sort.Slice(cand, func(i, j int) bool { return cand[i].N < cand[j].N })
	return cand[:min(len(cand), k)]
}

// recordWait bounds the wait for calls' records after a case: the spool
// writes them within a second or two when the database is there.
const recordWait = 30 * time.Second

// waitRecords reads the records of ids until every one is ended or
// recordWait passes.
func (r *runner) waitRecords(ctx context.Context, ids []string) (map[string]record, error) {
	deadline := time.Now().Add(recordWait)
	for {
		recs, err := readRecords(ctx, r.cfg.DBURL, ids)
		if err == nil {
			ended := 0
			for _, rec := range recs {
				if rec.Status == "ended" {
					ended++
				}
			}
			if ended == len(ids) || time.Now().After(deadline) {
				return recs, nil
			}
		} else if time.Now().After(deadline) {
			return nil, err
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
}

// ---- hangup ----------------------------------------------------------

// hangupTarget is a call.hangup webhook posted to a node that does not
// hold the call.
type hangupTarget struct {
	CallID   string
	CCID     string
	N        int
	Owner    string
	To       string
	Posted   time.Time
	Code     int
	Attempts int
	Err      string
}

// hangupSummary is what came of the hangup webhooks.
type hangupSummary struct {
	Posted, Accepted int
	// Ended: the target's record ended with reason hangup and its caller's
	// stream was closed by the server.
	Ended int
	// Other: targets that ended otherwise (reason: count).
	Other map[string]int
	// Wrong: calls that were not targets but were closed by the server in
	// the middle of their script (callsim's server_closed).
	Wrong   int
	Latency []time.Duration // from the post to the record's end
}

// summarizeHangups checks the targets against the records and callsim's
// results.
func summarizeHangups(targets []hangupTarget, recs map[string]record, calls []sim.CallResult, callIDOf func(ccid string) string) hangupSummary {
	s := hangupSummary{Posted: len(targets), Other: map[string]int{}}
	isTarget := map[string]bool{}
	for _, t := range targets {
		isTarget[t.CallID] = true
		if t.Code == 200 {
			s.Accepted++
		}
		rec, ok := recs[t.CallID]
		switch {
		case !ok:
			s.Other["(no record)"]++
		case rec.Status != "ended":
			s.Other["(not ended)"]++
		case rec.EndReason != "hangup":
			s.Other[rec.EndReason]++
		default:
			s.Ended++
			s.Latency = append(s.Latency, max(0, rec.Ended.Sub(t.Posted)))
		}
	}
	for _, c := range calls {
		if !isTarget[callIDOf(c.CallControlID)] && c.Error == sim.ErrServerClosed {
			s.Wrong++
		}
	}
	if len(s.Other) == 0 {
		s.Other = nil
	}
	return s
}

// hangupPosts posts call.hangup webhooks from several goroutines and keeps
// what came of each.
type hangupPosts struct {
	mu      sync.Mutex
	targets []hangupTarget
}

// post posts p's call.hangup webhook through tel to node to (owner holds
// the call) and keeps what came of it.
func (h *hangupPosts) post(ctx context.Context, tel *fakeTelnyx, p *placement, owner string, to *node) {
	t := hangupTarget{CallID: p.CallID, CCID: p.CCID, N: p.N, Owner: owner, To: to.name, Posted: time.Now()}
	var err error
	t.Code, t.Attempts, err = tel.hangup(ctx, "http://"+to.public+"/webhooks/telnyx", p.CCID, p.From, p.ClientState)
	if err != nil {
		t.Err = err.Error()
	}
	h.mu.Lock()
	h.targets = append(h.targets, t)
	h.mu.Unlock()
}

// hangupRecords returns what came of the webhooks h posted, once the
// records of their calls are read (see waitRecords).
func (r *runner) hangupRecords(ctx context.Context, h *hangupPosts) ([]hangupTarget, map[string]record, error) {
	h.mu.Lock()
	targets := h.targets
	h.mu.Unlock()
	ids := make([]string, 0, len(targets))
	for _, t := range targets {
		ids = append(ids, t.CallID)
	}
	recs, err := r.waitRecords(ctx, ids)
	return targets, recs, err
}

func (r *runner) caseHangup(ctx context.Context, c *cluster, rep *caseReport) error {
	var hangups hangupPosts
	act := func(ctx context.Context, l *load) error {
		reg, err := r.steadyRegistry(ctx, c, l, r.cfg.Hold/2)
		if err != nil {
			return err
		}
		cand := midScript(l.placements(), reg, time.Now(), 15*time.Second, r.cfg.Hangups)
		r.progressf("hangup: posting %d call.hangup webhooks, each to a node that does not hold the call", len(cand))
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for i, p := range cand {
			owner := reg[p.CallID]
			others := c.others(owner)
			to := others[i%len(others)]
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				hangups.post(ctx, r.tel, p, owner, to)
			})
		}
		wg.Wait()
		return nil
	}
	simRep, l, err := r.runSim(ctx, c, r.cfg.Ramp+2*r.cfg.Hold, act)
	if err != nil {
		return err
	}
	targets, recs, err := r.hangupRecords(ctx, &hangups)
	if err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(c.dir, "targets.json"), targets); err != nil {
		return err
	}
	s := summarizeHangups(targets, recs, simRep.Calls, func(ccid string) string {
		if p := l.byCCID(ccid); p != nil {
			return p.CallID
		}
		return ""
	})
	rep.Settings["hangups"] = fmt.Sprint(r.cfg.Hangups)
	rep.fig("call.hangup webhooks posted to a non-owner node", s.Posted)
	rep.fig("answered 200", s.Accepted)
	rep.fig("ended the right call (record: hangup)", s.Ended)
	rep.fig("ended otherwise", errorList(s.Other))
	rep.fig("other calls closed mid-script", s.Wrong)
	rep.fig("webhook post to the call's end", statsOf(s.Latency).String())
	rep.Groups = append(rep.Groups, summarize("all calls", simRep.Calls))
	rep.check("hang-ups end their call", s.Posted > 0 && s.Ended == s.Posted, "%d of %d targets recorded as hangup", s.Ended, s.Posted)
	rep.check("no other call ended", s.Wrong == 0, "%d calls that were not targets were closed mid-script by the server", s.Wrong)
	return nil
}

// ---- kill ------------------------------------------------------------

// lostSummary is what came of a killed node's calls.
type lostSummary struct {
	Victims    int             // calls the node held when it was killed
	EndedFirst int             // of which ended on their own before the kill
	Recorded   int             // recorded node_lost
	Missing    int             // not recorded node_lost
	Outcomes   map[string]int  // outcomes of the node_lost records
	Others     int             // node_lost records of calls the node did not hold
	Detection  []time.Duration // kill to the record seen in the database
}

// summarizeLost checks the killed node's calls.
func summarizeLost(victims map[string]bool, killAt time.Time, seen map[string]time.Time, recs map[string]record) lostSummary {
	s := lostSummary{Victims: len(victims), Outcomes: map[string]int{}}
	for id := range victims {
		rec, ok := recs[id]
		switch {
		case ok && rec.EndReason == "node_lost":
			s.Recorded++
			s.Outcomes[rec.Outcome]++
			if at, ok := seen[id]; ok {
				s.Detection = append(s.Detection, at.Sub(killAt))
			}
		case ok && rec.Status == "ended" && rec.Ended.Before(killAt):
			s.EndedFirst++
		default:
			s.Missing++
		}
	}
	for id, rec := range recs {
		if rec.EndReason == "node_lost" && !victims[id] {
			s.Others++
		}
	}
	return s
}

func (r *runner) caseKill(ctx context.Context, c *cluster, rep *caseReport) error {
	victim := c.nodes[len(c.nodes)-1]
	var (
		killAt  time.Time
		victims = map[string]bool{}
		seen    = map[string]time.Time{}
	)
	bound := r.cfg.LostAfter + r.cfg.Heartbeat
	act := func(ctx context.Context, l *load) error {
		reg, err := r.steadyRegistry(ctx, c, l, r.cfg.Hold)
		if err != nil {
			return err
		}
		for id, n := range reg {
			if n == victim.name {
				victims[id] = true
			}
		}
		killAt = time.Now()
		if err := victim.signal(syscall.SIGKILL); err != nil {
			return err
		}
		r.progressf("kill: %s killed (SIGKILL) with %d calls, %d live in all", victim.name, len(victims), l.live())
		ids := slices.Collect(maps.Keys(victims))
		deadline := killAt.Add(bound + 30*time.Second)
		for len(seen) < len(ids) && time.Now().Before(deadline) {
			if err := sleep(ctx, 250*time.Millisecond); err != nil {
				return err
			}
			recs, err := readRecords(ctx, r.cfg.DBURL, ids)
			if err != nil {
				continue
			}
			now := time.Now()
			for id, rec := range recs {
				if _, ok := seen[id]; !ok && rec.EndReason == "node_lost" {
					seen[id] = now
				}
			}
		}
		return nil
	}
	simRep, l, err := r.runSim(ctx, c, r.cfg.Ramp+2*r.cfg.Hold+bound+10*time.Second, act)
	if err != nil {
		return err
	}
	if killAt.IsZero() {
		return fmt.Errorf("the node was not killed")
	}
	recs, err := r.waitRecords(ctx, answeredIDs(l.placements()))
	if err != nil {
		return err
	}
	s := summarizeLost(victims, killAt, seen, recs)
	// The killed node's calls by the registry, whatever their timing; the
	// others by when they ran.
	var others, lost []sim.CallResult
	for _, call := range simRep.Calls {
		if p := l.byCCID(call.CallControlID); p != nil && victims[p.CallID] {
			lost = append(lost, call)
		} else {
			others = append(others, call)
		}
	}
	before, survivors, later := splitAt(sim.Report{Calls: others}, l, killAt, 2*time.Second)
	gBefore, gSurv, gAfter := summarize("ended before the kill", before), summarize("on the other nodes at the kill", survivors),
		summarize("started after the kill", later)
	rep.Groups = append(rep.Groups, gBefore, gSurv, summarize("on the killed node", lost), gAfter)
	det := statsOf(s.Detection)
	rep.Settings["heartbeat"], rep.Settings["lost_after"] = r.cfg.Heartbeat.String(), r.cfg.LostAfter.String()
	rep.fig("calls on the killed node", s.Victims)
	rep.fig("recorded node_lost", s.Recorded)
	rep.fig("outcomes of those records", errorList(s.Outcomes))
	rep.fig("kill to the node_lost record", det.String())
	lostCCIDs := map[string]bool{}
	for _, p := range l.placements() {
		if victims[p.CallID] {
			lostCCIDs[p.CCID] = true
		}
	}
	hungUp := 0
	for _, cmd := range r.tel.cc.Commands() {
		if cmd.Action == "hangup" && cmd.Applied && lostCCIDs[cmd.CallControlID] {
			hungUp++
		}
	}
	rep.fig("lost calls hung up through Call Control", fmt.Sprintf("%d of %d", hungUp, len(lostCCIDs)))
	rep.fig("bound (lost-after + a heartbeat)", bound.String())
	rep.fig("node_lost records of other calls", s.Others)
	placed, lostSetup := unanswered(l, killAt.Add(-10*time.Second), killAt.Add(2*time.Second))
	rep.fig("calls placed from 10 s before the kill to 2 s after / not answered", fmt.Sprintf("%d / %d", placed, lostSetup))
	rep.check("the killed node's calls recorded node_lost", s.Victims > 0 && s.Missing == 0,
		"%d of %d (%d had ended before the kill, %d missing)", s.Recorded, s.Victims, s.EndedFirst, s.Missing)
	// The poll adds up to 250 ms and the spool's write a little more.
	rep.check("within the bound", det.Count > 0 && time.Duration(det.Max) <= bound+time.Second,
		"slowest %s against %s (+1 s for the poll and the write)", det.Max, bound)
	rep.check("no other call recorded node_lost", s.Others == 0, "%d", s.Others)
	rep.check("the other nodes' calls went on", gSurv.Calls > 0 && gSurv.Failed == 0, "%d of %d failed %s", gSurv.Failed, gSurv.Calls, errorList(gSurv.Errors))
	ok, detail := unchanged(gBefore, gSurv)
	rep.check("their reply p99 and late messages unchanged", ok, "%s", detail)
	ok, detail = unchanged(gBefore, gAfter)
	rep.check("calls after the kill unchanged (two nodes)", ok, "%s", detail)
	return nil
}

// ---- recover ---------------------------------------------------------

// followerLine is about how long a follower's line lasts, its reply
// included.
const followerLine = 5500 * time.Millisecond

// recoverReopenWait is how long a caller of the recover case waits for a
// new stream before its call counts as cut: long enough for the reaper's
// path (lost after lost-after, noticed at a survivor's next beat, a beat
// of slack) and the new stream's setup.
func recoverReopenWait(lostAfter, heartbeat time.Duration) time.Duration {
	return lostAfter + 2*heartbeat + 5*time.Second
}

// recoverLines is how many lines a caller of the recover case says: a
// call placed first outlasts the ramp, the hold, the wait for its new
// stream and the hold after the kill, with two lines to spare.
func recoverLines(ramp, hold, reopenWait time.Duration) int {
	return int((ramp+2*hold+reopenWait+followerLine-1)/followerLine) + 2
}

// recoverSummary is what came of a killed node's calls, with the nodes
// taking up a lost node's calls, and of the other nodes' calls.
type recoverSummary struct {
	Victims    int // calls the killed node held
	EndedFirst int // of which the caller had ended before the kill
	// NotGreeted: victims whose greeting had not finished at the kill (no
	// checkpoint yet); Greeted, the others.
	NotGreeted, Greeted int
	// TakenUp: victims with a new stream after the kill (NotGreetedTakenUp
	// of them had not finished their greeting); GreetedLeft: victims that
	// had, with none; CutGreeted: those of them cut.
	TakenUp, NotGreetedTakenUp, GreetedLeft, CutGreeted int
	// Outcomes are the victims' outcomes as the callers lived them
	// (completed, ended, cut, failed).
	Outcomes map[string]int
	// NewStreamsFailed: new streams after the kill that did not open.
	NewStreamsFailed int
	// Per call taken up: no stream, from the old stream's close to the new
	// one's start; the kill to the new stream's start; the streaming.failed
	// webhook's post to the new stream (when one was posted before it).
	Silence, KillToStream, PostToStream []time.Duration
	// AfterMove: reply latency of the first line begun on the new stream.
	AfterMove []time.Duration
	// Lines begun on the new stream and those of them unanswered; NoReply:
	// every unanswered line of the calls taken up (those said into the
	// dead stream included).
	LinesAfter, NoReplyAfter, NoReply int
	// EndReasons are the victims' records' end reasons; TakenUpNodeLost:
	// calls taken up but recorded node_lost; Recovered: victims' records
	// with a recovered event.
	EndReasons      map[string]int
	TakenUpNodeLost int
	Recovered       int
	// TakenUpCutShort: calls taken up whose caller did not say every
	// line (ended, cut or failed on the new stream).
	TakenUpCutShort int
	// NotTakenUp are the call_control_ids of the victims not taken up
	// (that had not ended before the kill).
	NotTakenUp []string
	// streaming.failed webhooks posted for the victims' streams, and
	// answered 200.
	Posts, PostsOK int
	// Others: the other nodes' calls live at the kill (placed more than
	// splitMargin before it); OthersFailed: of them cut or failed, by
	// outcome and error; OthersLate: their late messages. Later: calls
	// placed after that, LaterFailed of them cut or failed.
	Others, OthersFailed int
	OthersErrors         map[string]int
	OthersLate           int
	OthersReplies        []time.Duration
	Later, LaterFailed   int
}

// firstMoveAfter is the first new stream of f that opened after t.
func firstMoveAfter(f followResult, t time.Time) (moveResult, bool) {
	for _, m := range f.Moves {
		if m.Failed == "" && m.Opened.After(t) {
			return m, true
		}
	}
	return moveResult{}, false
}

// failedOutcome: the call was cut or never got going.
func failedOutcome(f followResult) bool { return f.Outcome == "cut" || f.Outcome == "failed" }

// outcomeKey is the outcome with its error, if any.
func outcomeKey(f followResult) string {
	if f.Error != "" {
		return f.Outcome + " " + f.Error
	}
	return f.Outcome
}

// summarizeRecover classifies the calls of a recover case: victims (by
// call_control_id) are the calls the killed node held at killAt; a victim
// is taken up when it got a new stream after the kill.
func summarizeRecover(res []followResult, victims map[string]bool, killAt time.Time, recs map[string]record, callID func(ccid string) string) recoverSummary {
	s := recoverSummary{Victims: len(victims), Outcomes: map[string]int{}, EndReasons: map[string]int{}, OthersErrors: map[string]int{}}
	seen := map[string]bool{}
	for _, f := range res {
		ended := !f.Ended.IsZero() && f.Ended.Before(killAt)
		if !victims[f.CCID] {
			switch {
			case ended:
			case f.Started.Before(killAt.Add(-splitMargin)):
				s.Others++
				s.OthersLate += f.Late
				s.OthersReplies = append(s.OthersReplies, f.Replies...)
				if failedOutcome(f) {
					s.OthersFailed++
					s.OthersErrors[outcomeKey(f)]++
				}
			default:
				s.Later++
				if failedOutcome(f) {
					s.LaterFailed++
				}
			}
			continue
		}
		seen[f.CCID] = true
		if ended {
			s.EndedFirst++
			continue
		}
		greeted := !f.Greeted.IsZero() && f.Greeted.Before(killAt)
		if greeted {
			s.Greeted++
		} else {
			s.NotGreeted++
		}
		s.Outcomes[f.Outcome]++
		for _, m := range f.Moves {
			if m.Failed != "" && m.Requested.After(killAt) {
				s.NewStreamsFailed++
			}
		}
		for _, p := range f.FailedPosts {
			s.Posts++
			if p.Code == 200 {
				s.PostsOK++
			}
		}
		rec, hasRec := recs[callID(f.CCID)]
		switch {
		case !hasRec:
			s.EndReasons["(no record)"]++
		case rec.Status != "ended":
			s.EndReasons["(not ended)"]++
		default:
			s.EndReasons[rec.EndReason]++
		}
		if hasRec && slices.ContainsFunc(rec.Events, func(e recordEvent) bool { return e.Kind == "recovered" }) {
			s.Recovered++
		}
		m, taken := firstMoveAfter(f, killAt)
		if !taken {
			s.NotTakenUp = append(s.NotTakenUp, f.CCID)
			if greeted {
				s.GreetedLeft++
				if f.Outcome == "cut" {
					s.CutGreeted++
				}
			}
			continue
		}
		s.TakenUp++
		if !greeted {
			s.NotGreetedTakenUp++
		}
		if !m.OldClosed.IsZero() {
			s.Silence = append(s.Silence, m.Gap())
		}
		s.KillToStream = append(s.KillToStream, m.Opened.Sub(killAt))
		for _, p := range f.FailedPosts {
			if p.Posted.Before(m.Opened) {
				s.PostToStream = append(s.PostToStream, m.Opened.Sub(p.Posted))
				break
			}
		}
		s.AfterMove = append(s.AfterMove, f.AfterMove...)
		s.LinesAfter += f.LinesAfterMove
		s.NoReplyAfter += f.NoReplyAfterMove
		s.NoReply += f.NoReply
		if hasRec && rec.EndReason == "node_lost" {
			s.TakenUpNodeLost++
		}
		if f.Outcome != "completed" {
			s.TakenUpCutShort++
		}
	}
	// A victim the callers know nothing of (it cannot be: every call
	// placed has a result) counts as left, not as taken up.
	for ccid := range victims {
		if !seen[ccid] {
			s.Outcomes["(no result)"]++
			s.NotTakenUp = append(s.NotTakenUp, ccid)
		}
	}
	slices.Sort(s.NotTakenUp)
	return s
}

func (r *runner) caseRecover(ctx context.Context, c *cluster, rep *caseReport) error {
	return r.takeUpAfterKill(ctx, c, rep, false)
}

// caseRestart is caseRecover with the killed node started again at once
// under its name, as a container restarted in its pod is: the others
// never take it for lost, and the restarted process takes up its
// predecessor's calls itself (those that reach it on their new streams,
// and those the load balancer sends to the others).
func (r *runner) caseRestart(ctx context.Context, c *cluster, rep *caseReport) error {
	return r.takeUpAfterKill(ctx, c, rep, true)
}

// takeUpAfterKill kills a node under load, on nodes that take up lost
// nodes' calls, and starts it again at once with restart.
func (r *runner) takeUpAfterKill(ctx context.Context, c *cluster, rep *caseReport, restart bool) error {
	name := map[bool]string{false: "recover", true: "restart"}[restart]
	cl, err := loadClips(followerScript)
	if err != nil {
		return err
	}
	timing := defaultFollowerTiming
	timing.ReopenWait = recoverReopenWait(r.cfg.LostAfter, r.cfg.Heartbeat)
	lines := scriptLines(recoverLines(r.cfg.Ramp, r.cfg.Hold, timing.ReopenWait))
	fl := r.startFollowers(ctx, c, lines, cl, timing, c.hookURL())
	if err := sleep(ctx, r.cfg.Ramp+r.cfg.Hold); err != nil {
		fl.stop()
		return err
	}
	victim := c.nodes[len(c.nodes)-1]
	reg, err := r.registry(ctx, c)
	if err != nil {
		fl.stop()
		return err
	}
	victims := map[string]bool{} // by call_control_id
	for id, n := range reg {
		if ccid, ok := fl.ccidOf(id); ok && n == victim.name {
			victims[ccid] = true
		}
	}
	killAt := time.Now()
	if err := victim.signal(syscall.SIGKILL); err != nil {
		fl.stop()
		return err
	}
	r.progressf("%s: %s killed (SIGKILL) with %d calls, %d in the registry in all", name, victim.name, len(victims), len(reg))
	var back time.Duration // from the kill to the restarted process's readiness
	if restart {
		if err := victim.wait(5 * time.Second); err != nil {
			fl.stop()
			return err
		}
		if err := victim.start(context.WithoutCancel(ctx)); err != nil {
			fl.stop()
			return err
		}
		if err := victim.waitReady(ctx, 60*time.Second); err != nil {
			fl.stop()
			return err
		}
		back = time.Since(killAt)
		r.progressf("%s: %s started again, ready %v after the kill", name, victim.name, back.Round(10*time.Millisecond))
	}
	_ = sleep(ctx, r.cfg.Hold)
	r.progressf("%s: no new calls; waiting for the callers to finish", name)
	results := fl.stop()
	recovered := metricList(r.nodeMetrics(ctx, c, "iace_cluster_calls_recovered_total"), "iace_cluster_calls_recovered_total")
	recs, idOf, err := r.followerRecords(ctx, c, results)
	if err != nil {
		return err
	}
	s := summarizeRecover(results, victims, killAt, recs, func(ccid string) string { return idOf[ccid] })
	hungUp := 0
	for _, ccid := range s.NotTakenUp {
		if len(r.tel.cc.Applied("hangup", ccid)) > 0 {
			hungUp++
		}
	}
	rep.Settings["heartbeat"], rep.Settings["lost_after"] = r.cfg.Heartbeat.String(), r.cfg.LostAfter.String()
	rep.Settings["reopen_wait"] = timing.ReopenWait.String()
	rep.Settings["lines_per_call"] = fmt.Sprint(len(lines))
	rep.fig("calls placed", len(results))
	if restart {
		rep.fig("the killed node ready again after", back.Round(10*time.Millisecond).String())
	}
	rep.fig("calls on the killed node", s.Victims)
	rep.fig("of them ended before the kill", s.EndedFirst)
	rep.fig("greeting not finished at the kill / finished", fmt.Sprintf("%d / %d", s.NotGreeted, s.Greeted))
	rep.fig("taken up (a new stream after the kill)", fmt.Sprintf("%d (%d without a finished greeting)", s.TakenUp, s.NotGreetedTakenUp))
	rep.fig("not taken up, greeting finished (cut)", fmt.Sprintf("%d (%d)", s.GreetedLeft, s.CutGreeted))
	rep.fig("victims' outcomes", errorList(s.Outcomes))
	rep.fig("new streams after the kill that failed to open", s.NewStreamsFailed)
	rep.fig("streaming.failed posted for them / answered 200", fmt.Sprintf("%d / %d", s.Posts, s.PostsOK))
	rep.fig("silence per call taken up (no stream)", statsOf(s.Silence).String())
	rep.fig("kill to the new stream", statsOf(s.KillToStream).String())
	rep.fig("streaming.failed post to the new stream", statsOf(s.PostToStream).String())
	rep.fig("victims' records: end reasons", errorList(s.EndReasons))
	rep.fig("victims' records with a recovered event", s.Recovered)
	rep.fig("taken up but recorded node_lost", s.TakenUpNodeLost)
	rep.fig("reply latency, first line on the new stream", statsOf(s.AfterMove).String())
	rep.fig("lines on the new stream / unanswered", fmt.Sprintf("%d / %d", s.LinesAfter, s.NoReplyAfter))
	rep.fig("unanswered lines of the calls taken up, in all", s.NoReply)
	rep.fig("lost calls hung up through Call Control", fmt.Sprintf("%d of %d", hungUp, len(s.NotTakenUp)))
	rep.fig("calls recovered (survivors' metric)", recovered)
	rep.fig("other nodes' calls at the kill / failed", fmt.Sprintf("%d / %d %s", s.Others, s.OthersFailed, errorList(s.OthersErrors)))
	rep.fig("their reply latency", statsOf(s.OthersReplies).String())
	rep.fig("their late messages", s.OthersLate)
	rep.fig("calls placed after the kill / failed", fmt.Sprintf("%d / %d", s.Later, s.LaterFailed))
	rep.check("the killed node's greeted calls were taken up", s.Greeted > 0 && s.GreetedLeft == 0,
		"%d of %d taken up; %d left (%d cut)", s.Greeted-s.GreetedLeft, s.Greeted, s.GreetedLeft, s.CutGreeted)
	rep.check("no call taken up recorded node_lost", s.TakenUpNodeLost == 0, "%d of %d", s.TakenUpNodeLost, s.TakenUp)
	rep.check("every call taken up went on to its caller's last line", s.TakenUpCutShort == 0, "%d of %d did not", s.TakenUpCutShort, s.TakenUp)
	rep.check("the other nodes' calls went on", s.Others > 0 && s.OthersFailed == 0,
		"%d of %d failed %s", s.OthersFailed, s.Others, errorList(s.OthersErrors))
	return nil
}

// serviceStop is a service the case stops and starts again (Redis,
// PostgreSQL), by the command lines of -redis-stop and -redis-start or
// -pg-stop and -pg-start.
type serviceStop struct {
	name              string // in the progress lines
	stopCmd, startCmd string
	stopAt, startAt   time.Time
	started           bool // the start command succeeded
}

// stop runs the stop command.
func (s *serviceStop) stop(ctx context.Context, r *runner) error {
	s.stopAt = time.Now()
	return shell(ctx, s.stopCmd, r.log)
}

// start runs the start command, even once ctx has ended.
func (s *serviceStop) start(ctx context.Context, r *runner) error {
	err := shell(context.WithoutCancel(ctx), s.startCmd, r.log)
	s.startAt, s.started = time.Now(), err == nil
	if err != nil {
		return err
	}
	r.progressf("%s: started again after %v", s.name, s.down())
	return nil
}

// down is how long the service was down, to the tenth of a second.
func (s *serviceStop) down() time.Duration {
	return s.startAt.Sub(s.stopAt).Round(100 * time.Millisecond)
}

// runSimStopping is runSim for a case whose act stops s and starts it
// again: s comes back whatever happened, and the case fails when act did
// not get as far as starting it.
func (r *runner) runSimStopping(ctx context.Context, c *cluster, s *serviceStop, duration time.Duration, act func(ctx context.Context, l *load) error) (sim.Report, *load, error) {
	defer func() {
		if !s.stopAt.IsZero() && !s.started {
			_ = shell(context.WithoutCancel(ctx), s.startCmd, r.log)
		}
	}()
	simRep, l, err := r.runSim(ctx, c, duration, act)
	if err == nil && s.startAt.IsZero() {
		err = fmt.Errorf("%s was not restarted", s.name)
	}
	return simRep, l, err
}

// ---- redis -----------------------------------------------------------

// rebuiltWithin bounds the wait for the registry after Redis is back.
const rebuiltWithin = 60 * time.Second

func (r *runner) caseRedis(ctx context.Context, c *cluster, rep *caseReport) error {
	redis := &serviceStop{name: "redis", stopCmd: r.cfg.RedisStop, startCmd: r.cfg.RedisStart}
	var (
		rebuiltAt time.Time
		hangups   hangupPosts
		sizes     string
		watched   watchers
		watchErr  error
	)
	// The readers' streams end with their calls, or with the case.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	act := func(ctx context.Context, l *load) error {
		reg, err := r.steadyRegistry(ctx, c, l, r.cfg.Hold)
		if err != nil {
			return err
		}
		if r.adminPassword != "" {
			watched, watchErr = r.watchRemote(wctx, c, l, reg, max(3, r.cfg.Calls/20))
		}
		cand := midScript(l.placements(), reg, time.Now(), 12*time.Second, max(4, r.cfg.Calls/15))
		if err := redis.stop(ctx, r); err != nil {
			return err
		}
		r.progressf("redis: stopped with %d calls live; %d hang-ups to come during the outage", l.live(), len(cand))
		_ = sleep(ctx, 2*time.Second)
		var wg sync.WaitGroup
		for i, p := range cand {
			owner := reg[p.CallID]
			to := c.byName(owner) // half to the node that holds the call, half to another
			if i%2 == 1 {
				to = c.others(owner)[0]
			}
			wg.Go(func() { hangups.post(context.WithoutCancel(ctx), r.tel, p, owner, to) })
		}
		_ = sleep(ctx, time.Until(redis.stopAt.Add(r.cfg.RedisOutage)))
		if err := redis.start(ctx, r); err != nil {
			return err
		}
		for time.Since(redis.startAt) < rebuiltWithin {
			if ok, s := r.registryMatches(ctx, c); ok {
				rebuiltAt, sizes = time.Now(), s
				break
			}
			if err := sleep(ctx, 250*time.Millisecond); err != nil {
				break
			}
		}
		wg.Wait()
		return sleep(ctx, r.cfg.Hold)
	}
	simRep, l, err := r.runSimStopping(ctx, c, redis, r.cfg.Ramp+2*r.cfg.Hold+r.cfg.RedisOutage+20*time.Second, act)
	if err != nil {
		return err
	}
	targets, recs, err := r.hangupRecords(ctx, &hangups)
	if err != nil {
		return err
	}
	ms := r.nodeMetrics(ctx, c, "iace_webhook_events_total", "iace_cluster_redis_errors_total")
	before, spanning, _ := splitAt(simRep, l, redis.stopAt, 0)
	hungUp := map[string]bool{}
	for _, t := range targets {
		hungUp[t.CCID] = true
	}
	var others, hung []sim.CallResult
	for _, call := range spanning {
		if hungUp[call.CallControlID] {
			hung = append(hung, call)
		} else {
			others = append(others, call)
		}
	}
	gBefore, gSpan := summarize("ended before the outage", before), summarize("live at the outage", others)
	rep.Groups = append(rep.Groups, gBefore, gSpan, summarize("hung up during the outage", hung))
	placedDuring, notAnswered := unanswered(l, redis.stopAt, redis.startAt)
	carried, reported, retried := 0, 0, 0
	for _, t := range targets {
		if rec, ok := recs[t.CallID]; ok && rec.EndReason == "hangup" {
			carried++
		}
		if t.Attempts > 1 {
			retried++
		}
		if t.Code != 200 {
			reported++
		}
	}
	rep.Settings["outage"] = r.cfg.RedisOutage.String()
	rep.fig("Redis down for", redis.down().String())
	if !rebuiltAt.IsZero() {
		rep.fig("registry matching every node's live calls after", rebuiltAt.Sub(redis.startAt).Round(100*time.Millisecond).String())
		rep.fig("registry then (node: entries / live calls)", sizes)
	}
	rep.fig("calls placed during the outage / answered", fmt.Sprintf("%d / %d", placedDuring, placedDuring-notAnswered))
	rep.fig("hang-ups sent during the outage", len(targets))
	rep.fig("  carried out (record: hangup)", carried)
	rep.fig("  retried by Telnyx (answered non-200 first)", retried)
	rep.fig("  never accepted (still non-200 after the retries)", reported)
	rep.fig("webhook results (all nodes)", metricList(ms, "iace_webhook_events_total"))
	rep.fig("cluster Redis errors (all nodes)", metricList(ms, "iace_cluster_redis_errors_total"))
	rep.check("calls went on", gSpan.Calls > 0 && gSpan.Failed == 0, "%d of %d calls live at the outage (not hung up) failed %s",
		gSpan.Failed, gSpan.Calls, errorList(gSpan.Errors))
	rep.check("registry rebuilt", !rebuiltAt.IsZero(), "within %v of Redis starting", rebuiltWithin)
	rep.check("commands during the outage retried or reported", carried+reported == len(targets),
		"%d carried out, %d reported to Telnyx as failed, of %d", carried, reported, len(targets))
	return r.watchFigures(ctx, rep, watched, watchErr, redis.startAt)
}

// watchFigures reports what the readers of other nodes' calls saw across
// the Redis outage, and checks that the streams of the calls that went on
// went on too.
func (r *runner) watchFigures(ctx context.Context, rep *caseReport, watched watchers, watchErr error, back time.Time) error {
	switch {
	case r.adminPassword == "":
		rep.fig("event readers", "not run: -skip-setup leaves the admin's password unknown")
		return nil
	case watchErr != nil:
		rep.check("event readers opened", false, "%v", watchErr)
		return nil
	}
	ids := make([]string, len(watched.calls))
	for i, w := range watched.calls {
		ids[i] = w.callID
	}
	all := slices.Clone(ids)
	for _, w := range watched.lists {
		all = append(all, w.endedCalls()...)
	}
	slices.Sort(all)
	recs, err := r.waitRecords(ctx, slices.Compact(all))
	if err != nil {
		return err
	}
	res := make([]watchResult, len(watched.calls))
	for i, w := range watched.calls {
		res[i] = w.result(back)
	}
	s := summarizeWatch(res, ids, recs, back)
	rep.fig("event readers of a call on another node than its own (opened / with their snapshot)", fmt.Sprintf("%d / %d", s.Readers, s.Opened))
	rep.fig("  whose call ended "+watchMargin.String()+" or more after Redis came back", s.Later)
	rep.fig("    with events after Redis came back", s.WithEvents)
	rep.fig("    that saw the call's own end (its record's reason)", s.RealEnd)
	rep.fig("  how the streams ended", s.Ends)
	rep.check("event streams went on", s.Opened == s.Readers && s.Later > 0 && s.WithEvents == s.Later && s.RealEnd == s.Later,
		"%d of %d readers opened; of the %d whose call went on, %d got events after the outage and %d saw the call's end",
		s.Opened, s.Readers, s.Later, s.WithEvents, s.RealEnd)
	opened, shown, early := 0, 0, 0
	var errs []string
	for _, w := range watched.lists {
		if w.isOpen() {
			opened++
		}
		sh, e := w.falseEnds(recs)
		shown, early = shown+sh, early+e
		if err := w.failure(); err != nil {
			errs = append(errs, w.via+": "+err.Error())
		}
	}
	rep.fig("live lists, one on each node (opened)", opened)
	rep.fig("  calls they showed ended (all lists)", shown)
	rep.fig("    2 s or more before the call's end", early)
	if len(errs) > 0 {
		rep.fig("  lists that failed", strings.Join(errs, "; "))
	}
	rep.check("live lists showed only real ends", opened == len(watched.lists) && shown > 0 && early == 0 && len(errs) == 0,
		"%d of %d lists opened; %d ends shown, %d of them early; %d failed", opened, len(watched.lists), shown, early, len(errs))
	return nil
}

// registryMatches reports whether every node is in the registry with as
// many calls as it runs (its live-calls gauge, within 5 % or 2 calls:
// calls start and end between the two reads).
func (r *runner) registryMatches(ctx context.Context, c *cluster) (bool, string) {
	var parts []string
	ok := true
	for _, n := range c.nodes {
		entries, err := r.rdb.SCard(ctx, c.prefix+"nodecalls:"+n.name).Result()
		if err != nil {
			return false, ""
		}
		score, err := r.rdb.ZScore(ctx, c.prefix+"nodes", n.name).Result()
		if err != nil || score == 0 {
			ok = false
		}
		m, err := n.metrics(ctx, "iace_session_live_calls")
		if err != nil {
			return false, ""
		}
		live := int64(m["iace_session_live_calls"])
		if d := entries - live; d < -max(2, live/20) || d > max(2, live/20) {
			ok = false
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d", n.name, entries, live))
	}
	return ok, strings.Join(parts, ", ")
}

// nodeMetrics reads prefixes from every node that answers.
func (r *runner) nodeMetrics(ctx context.Context, c *cluster, prefixes ...string) []map[string]float64 {
	var out []map[string]float64
	for _, n := range c.nodes {
		if m, err := n.metrics(ctx, prefixes...); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// metricList sums the labelled samples of name over nodes, as label=value pairs.
func metricList(ms []map[string]float64, name string) string {
	sum := map[string]float64{}
	for _, m := range ms {
		for k, v := range m {
			if strings.HasPrefix(k, name+"{") && v != 0 {
				sum[strings.TrimSuffix(strings.TrimPrefix(k, name+"{"), "}")] += v
			}
		}
	}
	parts := make([]string, 0, len(sum))
	for _, k := range slices.Sorted(maps.Keys(sum)) {
		parts = append(parts, fmt.Sprintf("%s: %g", k, sum[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// ---- postgres --------------------------------------------------------

func (r *runner) casePostgres(ctx context.Context, c *cluster, rep *caseReport) error {
	pg := &serviceStop{name: "postgres", stopCmd: r.cfg.PGStop, startCmd: r.cfg.PGStart}
	var (
		drainedAt time.Time
		maxDepth  float64
	)
	depth := func(ctx context.Context) (float64, bool) {
		ms := r.nodeMetrics(ctx, c, "iace_spool_depth")
		return sumMetric(ms, "iace_spool_depth"), len(ms) == len(c.nodes)
	}
	act := func(ctx context.Context, l *load) error {
		if err := l.waitSteady(ctx, r.cfg.Hold); err != nil {
			return err
		}
		if err := pg.stop(ctx, r); err != nil {
			return err
		}
		r.progressf("postgres: stopped with %d calls live", l.live())
		for time.Since(pg.stopAt) < r.cfg.PGOutage {
			if d, _ := depth(ctx); d > maxDepth {
				maxDepth = d
			}
			if err := sleep(ctx, time.Second); err != nil {
				break
			}
		}
		if err := pg.start(ctx, r); err != nil {
			return err
		}
		for time.Since(pg.startAt) < 2*time.Minute {
			d, all := depth(ctx)
			maxDepth = max(maxDepth, d)
			if all && d == 0 {
				drainedAt = time.Now()
				break
			}
			if err := sleep(ctx, 500*time.Millisecond); err != nil {
				break
			}
		}
		return sleep(ctx, r.cfg.Hold)
	}
	simRep, l, err := r.runSimStopping(ctx, c, pg, r.cfg.Ramp+2*r.cfg.Hold+r.cfg.PGOutage+15*time.Second, act)
	if err != nil {
		return err
	}
	// Every call that reached a node (it was answered and the caller heard
	// it) must have its record, ended.
	var connected []string
	for _, call := range simRep.Calls {
		if p := l.byCCID(call.CallControlID); p != nil && !p.Answered.IsZero() && call.MediaReceived > 0 {
			connected = append(connected, p.CallID)
		}
	}
	recs, err := r.waitRecords(ctx, connected)
	if err != nil {
		return err
	}
	lost := 0
	for _, id := range connected {
		if rec, ok := recs[id]; !ok || rec.Status != "ended" {
			lost++
		}
	}
	before, spanning, _ := splitAt(simRep, l, pg.stopAt, 0)
	gSpan := summarize("live at the stop", spanning)
	rep.Groups = append(rep.Groups, summarize("ended before the stop", before), gSpan)
	placedDuring, notAnswered := unanswered(l, pg.stopAt, pg.startAt)
	rep.Settings["outage"] = r.cfg.PGOutage.String()
	rep.fig("PostgreSQL stopped for", pg.down().String())
	rep.fig("records waiting in the spools, at most", maxDepth)
	if !drainedAt.IsZero() {
		rep.fig("spools empty after the start", drainedAt.Sub(pg.startAt).Round(100*time.Millisecond).String())
	}
	rep.fig("calls placed during the outage / answered", fmt.Sprintf("%d / %d", placedDuring, placedDuring-notAnswered))
	rep.fig("calls that reached a node / records ended", fmt.Sprintf("%d / %d", len(connected), len(connected)-lost))
	rep.check("calls went on", gSpan.Calls > 0 && gSpan.Failed == 0, "%d of %d calls live at the stop failed %s", gSpan.Failed, gSpan.Calls, errorList(gSpan.Errors))
	rep.check("records spooled", maxDepth > 0, "up to %g records waited", maxDepth)
	rep.check("spools emptied", !drainedAt.IsZero(), "within 2 min of the start")
	rep.check("0 records lost", lost == 0, "%d of %d calls without an ended record", lost, len(connected))
	return nil
}

// ---- providers -------------------------------------------------------

// outage is one provider's failure window.
type outage struct {
	Kind     string
	From, To time.Time
}

// fallbackSummary is what callers heard during one outage.
type fallbackSummary struct {
	Live     int            // calls live at some time in the window
	Fallback int            // calls with a holding phrase said in the window
	Why      map[string]int // the holding phrases' causes
	Silent   int            // calls whose caller waited in vain (no greeting, no reply) in the window
}

// providerRecovery is the wait after each outage: the hold, and at least
// 40 s, for the clients' circuit breakers to close again before the next
// provider fails.
func providerRecovery(hold time.Duration) time.Duration { return max(hold, 40*time.Second) }

// holdingCause is the holding phrase's cause (its event's detail) for each
// provider.
var holdingCause = map[string]string{provSTT: "transcriber", provLLM: "chat model", provTTS: "synthesizer"}

// lastHolding is the latest holding phrase said for cause at or after from.
func lastHolding(recs map[string]record, cause string, from time.Time) time.Time {
	var last time.Time
	for _, r := range recs {
		for _, e := range r.Events {
			if e.Kind == "holding_phrase" && e.Detail == cause && !e.At.Before(from) && e.At.After(last) {
				last = e.At
			}
		}
	}
	return last
}

// replySlack is how long after an outage a caller's wait may still be the
// outage's doing: callsim's reply timeout.
const replySlack = 10 * time.Second

// summarizeOutage checks one outage against the records and callsim.
func summarizeOutage(o outage, tl map[int]timeline, calls []sim.CallResult, recs map[string]record) fallbackSummary {
	s := fallbackSummary{Why: map[string]int{}}
	end := o.To.Add(replySlack)
	for _, c := range calls {
		w, ok := tl[c.N]
		if !ok || w.end.Before(o.From) || w.start.After(end) {
			continue
		}
		s.Live++
		if rec, ok := recs[w.placement.CallID]; ok {
			for _, e := range rec.Events {
				if e.Kind == "holding_phrase" && !e.At.Before(o.From) && !e.At.After(end) {
					s.Fallback++
					s.Why[e.Detail]++
					break
				}
			}
		}
		if c.Error == sim.ErrNoReply || c.Error == sim.ErrNoGreeting {
			s.Silent++
		}
	}
	return s
}

func (r *runner) caseProviders(ctx context.Context, c *cluster, rep *caseReport) error {
	var outages []outage
	act := func(ctx context.Context, l *load) error {
		defer func() { // the providers work again whatever happened
			for _, k := range []string{provSTT, provLLM, provTTS} {
				r.prov.Fail(k, false)
			}
		}()
		if err := l.waitSteady(ctx, r.cfg.Hold); err != nil {
			return err
		}
		for _, k := range []string{provSTT, provLLM, provTTS} {
			o := outage{Kind: k, From: time.Now()}
			r.prov.Fail(k, true)
			r.progressf("providers: %s failing, %d calls live", k, l.live())
			err := sleep(ctx, r.cfg.ProvOutage)
			r.prov.Fail(k, false)
			o.To = time.Now()
			outages = append(outages, o)
			if err != nil {
				return err
			}
			if err := sleep(ctx, providerRecovery(r.cfg.Hold)); err != nil {
				return err
			}
		}
		return nil
	}
	simRep, l, err := r.runSim(ctx, c, r.cfg.Ramp+r.cfg.Hold+3*(r.cfg.ProvOutage+providerRecovery(r.cfg.Hold)), act)
	if err != nil {
		return err
	}
	recs, err := r.waitRecords(ctx, answeredIDs(l.placements()))
	if err != nil {
		return err
	}
	tl := timelines(simRep, l)
	rep.Settings["outage"] = r.cfg.ProvOutage.String()
	rep.Settings["providers"] = "Deepgram fake (listen, Aura) and an OpenAI-compatible chat fake, through fault proxies; TTS cache off"
	rep.Groups = append(rep.Groups, summarize("all calls", simRep.Calls))
	if len(outages) > 0 {
		// Recovery: calls that began once the last provider worked again,
		// and once the last holding phrase its outage caused was said
		// (a client's circuit breaker stays open a while).
		last := outages[len(outages)-1]
		_, _, after := splitAt(simRep, l, last.To, 5*time.Second)
		rep.Groups = append(rep.Groups, summarize("started after the outages", after))
		recovered := last.To
		for _, o := range outages {
			if t := lastHolding(recs, holdingCause[o.Kind], o.From); t.After(recovered) {
				recovered = t
			}
		}
		_, _, after = splitAt(simRep, l, recovered, 0)
		rep.Groups = append(rep.Groups, summarize("started after the last holding phrase", after))
	}
	for _, o := range outages {
		s := summarizeOutage(o, tl, simRep.Calls, recs)
		rep.fig(o.Kind+": calls live in the outage", s.Live)
		rep.fig(o.Kind+": heard the holding phrase (cause)", fmt.Sprintf("%d (%s)", s.Fallback, errorList(s.Why)))
		rep.fig(o.Kind+": callers left in silence", s.Silent)
		if last := lastHolding(recs, holdingCause[o.Kind], o.From); last.After(o.To) {
			rep.fig(o.Kind+": holding phrases went on after the outage for", last.Sub(o.To).Round(100*time.Millisecond).String())
		} else {
			rep.fig(o.Kind+": holding phrases went on after the outage for", "0s")
		}
		rep.check(o.Kind+" outage: callers hear the fallback", s.Fallback > 0 && s.Silent == 0,
			"%d heard the holding phrase, %d waited in silence", s.Fallback, s.Silent)
	}
	ms := r.nodeMetrics(ctx, c, "iace_session_holding_phrases_total")
	rep.fig("holding phrases (then)", metricList(ms, "iace_session_holding_phrases_total"))
	return nil
}

// ---- followers (rolling, recover) -------------------------------------

// followerLoad keeps -calls followers going through a cluster, started over
// -ramp; a call that ends is replaced until stop.
type followerLoad struct {
	stopNew chan struct{}
	placing chan struct{} // closed when no more calls are placed
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []followResult
	ccids   map[string]string // the call_control_id of each call id placed
}

// scriptLines are n lines of followerScript, in turn.
func scriptLines(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = followerScript[i%len(followerScript)]
	}
	return lines
}

// startFollowers places the followers, each saying lines with timing,
// their streams' failures posted to lostHook when it is set (see
// follower.lostHook).
func (r *runner) startFollowers(ctx context.Context, c *cluster, lines []string, cl *clips, timing followerTiming, lostHook string) *followerLoad {
	fl := &followerLoad{stopNew: make(chan struct{}), placing: make(chan struct{}), ccids: map[string]string{}}
	live := make(chan struct{}, r.cfg.Calls) // a slot per call in progress
	base := "v3:chaos-" + c.name + "-" + strings.ToLower(randText(8))
	begun := time.Now()
	go func() { // places calls until stopNew; ends then
		defer close(fl.placing)
		for n := 1; ; n++ {
			if n <= r.cfg.Calls {
				if sleep(ctx, time.Until(begun.Add(r.cfg.Ramp*time.Duration(n-1)/time.Duration(r.cfg.Calls)))) != nil {
					return
				}
			}
			select {
			case live <- struct{}{}:
			case <-fl.stopNew:
				return
			case <-ctx.Done():
				return
			}
			select {
			case <-fl.stopNew:
				<-live
				return
			default:
			}
			f := &follower{n: n, ccid: fmt.Sprintf("%s-%d", base, n), from: callerNumber(n), to: r.cfg.Number, lines: len(lines),
				clips: cl, timing: timing, dialer: dialer(), tel: r.tel, script: strings.Join(lines, "|"), lostHook: lostHook,
				noPosts: r.cfg.NoStreamWebhooks}
			fl.mu.Lock()
			fl.ccids[callIDFor(f.ccid)] = f.ccid
			fl.mu.Unlock()
			fl.wg.Go(func() {
				defer func() { <-live }()
				res := runFollower(ctx, f, c.hookURL())
				fl.mu.Lock()
				fl.results = append(fl.results, res)
				fl.mu.Unlock()
			})
		}
	}()
	return fl
}

// ccidOf is the call_control_id of call id, if this load placed it.
func (fl *followerLoad) ccidOf(id string) (string, bool) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	ccid, ok := fl.ccids[id]
	return ccid, ok
}

// stop places no more calls, waits for those in progress to end, and
// returns what came of every call.
func (fl *followerLoad) stop() []followResult {
	close(fl.stopNew)
	<-fl.placing
	fl.wg.Wait()
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return slices.Clone(fl.results)
}

// followerRecords writes the followers' results to followers.json and
// reads their calls' records; idOf maps a call_control_id to its call id.
func (r *runner) followerRecords(ctx context.Context, c *cluster, results []followResult) (map[string]record, map[string]string, error) {
	ids := make([]string, 0, len(results))
	idOf := map[string]string{}
	for _, f := range results {
		id := callIDFor(f.CCID)
		idOf[f.CCID] = id
		ids = append(ids, id)
	}
	recs, err := r.waitRecords(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	if err := writeJSON(filepath.Join(c.dir, "followers.json"), results); err != nil {
		return nil, nil, err
	}
	return recs, idOf, nil
}

// ---- rolling ---------------------------------------------------------

// restart is one node's turn in the rolling restart.
type restart struct {
	Node                 string
	Term, Exited, Ready  time.Time
	LiveAtTerm, MovedOut int
}

// rollingSummary classifies the followers' calls.
type rollingSummary struct {
	Calls, Completed, Ended, Failed int
	Moved, Moves, MoveFailed        int
	CutAtDeadline, CutBefore        int
	CutReasons                      map[string]int
	Gaps, Switches, AfterMove       []time.Duration
	Replies                         []time.Duration
	Late                            int
	CutAfterTerm                    []time.Duration // cut to the SIGTERM of the node draining then
}

// summarizeRolling classifies calls: a cut whose record says drain ended
// at the drain deadline; any other cut came before it.
func summarizeRolling(res []followResult, recs map[string]record, callID func(ccid string) string, restarts []restart) rollingSummary {
	s := rollingSummary{Calls: len(res), CutReasons: map[string]int{}}
	for _, f := range res {
		switch f.Outcome {
		case "completed":
			s.Completed++
		case "ended":
			s.Ended++
		case "failed":
			s.Failed++
		case "cut":
			reason := "(no record)"
			if rec, ok := recs[callID(f.CCID)]; ok {
				reason = rec.EndReason
			}
			s.CutReasons[reason]++
			if reason == "drain" {
				s.CutAtDeadline++
			} else {
				s.CutBefore++
			}
			var term time.Time
			for _, rs := range restarts {
				if !rs.Term.After(f.CutAt) {
					term = rs.Term
				}
			}
			if !term.IsZero() {
				s.CutAfterTerm = append(s.CutAfterTerm, f.CutAt.Sub(term))
			}
		}
		ok := 0
		for _, m := range f.Moves {
			if m.Failed != "" {
				s.MoveFailed++
				continue
			}
			ok++
			s.Gaps = append(s.Gaps, m.Gap())
			s.Switches = append(s.Switches, m.Switch())
		}
		if ok > 0 {
			s.Moved++
			s.Moves += ok
		}
		s.AfterMove = append(s.AfterMove, f.AfterMove...)
		s.Replies = append(s.Replies, f.Replies...)
		s.Late += f.Late
	}
	return s
}

func (r *runner) caseRolling(ctx context.Context, c *cluster, rep *caseReport) error {
	cl, err := loadClips(followerScript)
	if err != nil {
		return err
	}
	lines := scriptLines(r.cfg.RollingLines)
	fl := r.startFollowers(ctx, c, lines, cl, defaultFollowerTiming, "")
	if err := sleep(ctx, r.cfg.Ramp+r.cfg.Hold); err != nil {
		fl.stop()
		return err
	}
	var restarts []restart
	for _, n := range c.nodes {
		m, _ := n.metrics(ctx, "iace_session_live_calls")
		rs := restart{Node: n.name, Term: time.Now(), LiveAtTerm: int(m["iace_session_live_calls"])}
		if err := n.signal(syscall.SIGTERM); err != nil {
			break
		}
		r.progressf("rolling: %s draining (SIGTERM) with %d calls", n.name, rs.LiveAtTerm)
		if err := n.wait(r.cfg.DrainTimeout + 30*time.Second); err != nil {
			_ = n.signal(syscall.SIGKILL)
			_ = n.wait(5 * time.Second)
		}
		rs.Exited = time.Now()
		if err := n.start(context.WithoutCancel(ctx)); err != nil {
			restarts = append(restarts, rs)
			break
		}
		if err := n.waitReady(ctx, 60*time.Second); err != nil {
			restarts = append(restarts, rs)
			break
		}
		rs.Ready = time.Now()
		restarts = append(restarts, rs)
		r.progressf("rolling: %s back after %v", n.name, rs.Ready.Sub(rs.Term).Round(100*time.Millisecond))
	}
	_ = sleep(ctx, r.cfg.Hold)
	results := fl.stop()
	recs, idOf, err := r.followerRecords(ctx, c, results)
	if err != nil {
		return err
	}
	s := summarizeRolling(results, recs, func(ccid string) string { return idOf[ccid] }, restarts)
	rep.Settings["drain_timeout"] = r.cfg.DrainTimeout.String()
	rep.Settings["lines_per_call"] = fmt.Sprint(len(lines))
	for _, rs := range restarts {
		rep.fig(rs.Node+": live at SIGTERM, exit after, ready after",
			fmt.Sprintf("%d, %v, %v", rs.LiveAtTerm, rs.Exited.Sub(rs.Term).Round(100*time.Millisecond), rs.Ready.Sub(rs.Term).Round(100*time.Millisecond)))
	}
	rep.fig("calls", s.Calls)
	rep.fig("completed / ended by the agent / failed", fmt.Sprintf("%d / %d / %d", s.Completed, s.Ended, s.Failed))
	rep.fig("calls moved (moves, failed moves)", fmt.Sprintf("%d (%d, %d)", s.Moved, s.Moves, s.MoveFailed))
	rep.fig("cut at the drain deadline (record: drain)", s.CutAtDeadline)
	rep.fig("cut before the deadline", s.CutBefore)
	rep.fig("cut reasons", errorList(s.CutReasons))
	rep.fig("cut, after the node's SIGTERM", statsOf(s.CutAfterTerm).String())
	rep.fig("audio gap per move (no stream open)", statsOf(s.Gaps).String())
	rep.fig("streaming_start to the new stream", statsOf(s.Switches).String())
	rep.fig("reply latency, first line after a move", statsOf(s.AfterMove).String())
	rep.fig("reply latency, all lines", statsOf(s.Replies).String())
	rep.fig("late messages", s.Late)
	rep.check("0 calls cut before the drain deadline", s.CutBefore == 0, "%d cut before, %d at the deadline, %d moved", s.CutBefore, s.CutAtDeadline, s.Moved)
	hungUp := 0
	for _, f := range results {
		if f.Outcome == "cut" && len(r.tel.cc.Applied("hangup", f.CCID)) > 0 {
			hungUp++
		}
	}
	rep.fig("cut calls hung up through Call Control", fmt.Sprintf("%d of %d", hungUp, s.CutAtDeadline+s.CutBefore))
	if s.Moved == 0 {
		rep.note("no call moved: the draining nodes ended their calls at the drain deadline")
	}
	return nil
}
