package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/loadtest/callsim/sim"
)

var t0 = time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)

func msd(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentileIsNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, msd(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, msd(50)}, {99, msd(99)}, {100, msd(100)}, {0, msd(1)}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %v", got)
	}
	if got := percentile([]time.Duration{msd(7)}, 99); got != msd(7) {
		t.Errorf("p99 of one = %v", got)
	}
	if s := statsOf([]time.Duration{msd(3), msd(1), msd(2)}); s.Count != 3 || time.Duration(s.Max) != msd(3) || time.Duration(s.P50) != msd(2) {
		t.Errorf("statsOf = %+v", s)
	}
}

// call is a callsim result with the given reply latencies (ms) and late
// messages.
func call(n int, outcome sim.Outcome, errKind string, late int, replies ...int) sim.CallResult {
	c := sim.CallResult{N: n, CallControlID: ccidOf(n), Outcome: outcome, Error: errKind, Underruns: late, Duration: 10 * time.Second}
	for _, r := range replies {
		c.Turns = append(c.Turns, sim.Turn{Spoken: true, Answered: true, ReplyLatency: msd(r)})
	}
	return c
}

func ccidOf(n int) string { return "v3:test-" + string(rune('a'+n)) }

func TestSummarizeAndUnchanged(t *testing.T) {
	ref := summarize("before", []sim.CallResult{
		call(1, sim.OutcomeCompleted, "", 0, 400, 410, 420),
		call(2, sim.OutcomeCompleted, "", 0, 400, 430, 450),
		call(3, sim.OutcomeFailed, sim.ErrNoReply, 1, 400),
	})
	if ref.Calls != 3 || ref.Completed != 2 || ref.Failed != 1 || ref.Errors[sim.ErrNoReply] != 1 || ref.Turns != 7 || ref.Answered != 7 {
		t.Fatalf("summary %+v", ref)
	}
	if time.Duration(ref.ReplyP99) != msd(450) || time.Duration(ref.ReplyP50) != msd(410) || ref.Late != 1 {
		t.Errorf("p50 %v p99 %v late %d", ref.ReplyP50, ref.ReplyP99, ref.Late)
	}
	same := summarize("after", []sim.CallResult{call(4, sim.OutcomeCompleted, "", 0, 420, 480)})
	if ok, detail := unchanged(ref, same); !ok {
		t.Errorf("+30 ms and no late messages judged changed: %s", detail)
	}
	slow := summarize("after", []sim.CallResult{call(4, sim.OutcomeCompleted, "", 0, 420, 560)})
	if ok, _ := unchanged(ref, slow); ok {
		t.Error("reply p99 +110 ms on 450 judged unchanged")
	}
	late := summarize("after", []sim.CallResult{call(4, sim.OutcomeCompleted, "", 3, 420)})
	if ok, _ := unchanged(ref, late); ok {
		t.Error("3 late messages on one call judged unchanged")
	}
	// A long p99 gets 15 % of slack rather than 50 ms.
	ref = summarize("ref", []sim.CallResult{call(1, sim.OutcomeCompleted, "", 0, 1000)})
	if ok, _ := unchanged(ref, summarize("x", []sim.CallResult{call(2, sim.OutcomeCompleted, "", 0, 1140)})); !ok {
		t.Error("+140 ms on 1 s judged changed")
	}
}

func TestSummarizeHangups(t *testing.T) {
	targets := []hangupTarget{
		{CallID: "c1", Posted: t0, Code: 200},
		{CallID: "c2", Posted: t0, Code: 200},
		{CallID: "c3", Posted: t0, Code: 503},
	}
	recs := map[string]record{
		"c1": {ID: "c1", Status: "ended", EndReason: "hangup", Ended: t0.Add(msd(40))},
		"c2": {ID: "c2", Status: "ended", EndReason: "agent_hangup", Ended: t0.Add(time.Second)},
	}
	calls := []sim.CallResult{
		{N: 1, CallControlID: "x1", Error: sim.ErrServerClosed},
		{N: 4, CallControlID: "x4", Error: sim.ErrServerClosed}, // not a target: the wrong call ended
		{N: 5, CallControlID: "x5", Outcome: sim.OutcomeCompleted},
	}
	ids := map[string]string{"x1": "c1", "x4": "c4", "x5": "c5"}
	s := summarizeHangups(targets, recs, calls, func(ccid string) string { return ids[ccid] })
	if s.Posted != 3 || s.Accepted != 2 || s.Ended != 1 || s.Wrong != 1 {
		t.Errorf("summary %+v", s)
	}
	if s.Other["agent_hangup"] != 1 || s.Other["(no record)"] != 1 {
		t.Errorf("other %v", s.Other)
	}
	if len(s.Latency) != 1 || s.Latency[0] != msd(40) {
		t.Errorf("latency %v", s.Latency)
	}
}

func TestMidScriptPicksCallsWellIntoTheirScript(t *testing.T) {
	now := t0.Add(time.Minute)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	ps := []*placement{
		{N: 5, CallID: "c5", Answered: ago(5 * time.Second)},
		{N: 1, CallID: "c1", Answered: ago(2 * time.Second)},  // too young
		{N: 2, CallID: "c2", Answered: ago(20 * time.Second)}, // too old
		{N: 3, CallID: "c3"}, // not answered
		{N: 4, CallID: "c4", Answered: ago(4 * time.Second)}, // in no node's registry
		{N: 6, CallID: "c6", Answered: ago(10 * time.Second)},
		{N: 7, CallID: "c7", Answered: ago(11 * time.Second)},
	}
	reg := map[string]string{"c1": "node-1", "c2": "node-1", "c3": "node-2", "c5": "node-2", "c6": "node-3", "c7": "node-1"}
	var got []int
	for _, p := range midScript(ps, reg, now, 15*time.Second, 2) {
		got = append(got, p.N)
	}
	if len(got) != 2 || got[0] != 5 || got[1] != 6 {
		t.Errorf("picked %v, want the two lowest of the answered 3 to 15 s ago and registered: [5 6]", got)
	}
	if n := len(midScript(ps, reg, now, 15*time.Second, 10)); n != 3 {
		t.Errorf("with room for 10, picked %d, want 3", n)
	}
	c := &cluster{nodes: []*node{{name: "node-1"}, {name: "node-2"}, {name: "node-3"}}}
	if o := c.others("node-2"); len(o) != 2 || o[0].name != "node-1" || o[1].name != "node-3" {
		t.Errorf("others of node-2: %v", o)
	}
}

func TestSummarizeLost(t *testing.T) {
	kill := t0
	victims := map[string]bool{"a": true, "b": true, "c": true, "d": true}
	recs := map[string]record{
		"a": {Status: "ended", EndReason: "node_lost", Outcome: "failed"},
		"b": {Status: "ended", EndReason: "node_lost", Outcome: "failed"},
		"c": {Status: "ended", EndReason: "agent_hangup", Ended: kill.Add(-time.Second)}, // ended before the kill
		// d has no node_lost record: missing
		"e": {Status: "ended", EndReason: "node_lost"}, // not the killed node's
		"f": {Status: "ended", EndReason: "hangup"},
	}
	seen := map[string]time.Time{"a": kill.Add(11 * time.Second), "b": kill.Add(12 * time.Second)}
	s := summarizeLost(victims, kill, seen, recs)
	if s.Victims != 4 || s.Recorded != 2 || s.EndedFirst != 1 || s.Missing != 1 || s.Others != 1 || s.Outcomes["failed"] != 2 {
		t.Errorf("summary %+v", s)
	}
	if d := statsOf(s.Detection); time.Duration(d.Max) != 12*time.Second {
		t.Errorf("detection %v", d)
	}
}

func TestSplitAtAndOutages(t *testing.T) {
	l := &load{placed: map[string]*placement{}}
	add := func(n int, start time.Time, id string) {
		l.placed[ccidOf(n)] = &placement{N: n, CCID: ccidOf(n), CallID: id, Placed: start.Add(-msd(100)), Answered: start}
	}
	add(1, t0, "c1")                     // 0-10 s
	add(2, t0.Add(15*time.Second), "c2") // 15-25 s
	add(3, t0.Add(30*time.Second), "c3") // 30-40 s
	rep := sim.Report{Calls: []sim.CallResult{
		call(1, sim.OutcomeCompleted, "", 0, 400),
		call(2, sim.OutcomeFailed, sim.ErrNoReply, 0),
		call(3, sim.OutcomeCompleted, "", 0, 400),
	}}
	before, spanning, later := splitAt(rep, l, t0.Add(20*time.Second), time.Second)
	if len(before) != 1 || before[0].N != 1 || len(spanning) != 1 || spanning[0].N != 2 || len(later) != 1 || later[0].N != 3 {
		t.Fatalf("split: before %d spanning %d later %d", len(before), len(spanning), len(later))
	}

	recs := map[string]record{
		"c2": {Events: []recordEvent{{At: t0.Add(21 * time.Second), Kind: "holding_phrase", Detail: "chat model"}}},
		"c3": {Events: []recordEvent{{At: t0.Add(31 * time.Second), Kind: "greeting"}}},
	}
	o := outage{Kind: provLLM, From: t0.Add(20 * time.Second), To: t0.Add(22 * time.Second)}
	s := summarizeOutage(o, timelines(rep, l), rep.Calls, recs)
	// Call 1 ended before; call 2 heard the holding phrase but also waited
	// in silence; call 3 started within the reply slack after the outage.
	if s.Live != 2 || s.Fallback != 1 || s.Why["chat model"] != 1 || s.Silent != 1 {
		t.Errorf("outage summary %+v", s)
	}
}

func TestSummarizeRolling(t *testing.T) {
	term := t0.Add(10 * time.Second)
	restarts := []restart{{Node: "node-1", Term: term}, {Node: "node-2", Term: t0.Add(60 * time.Second)}}
	res := []followResult{
		{CCID: "a", Outcome: "completed", Replies: []time.Duration{msd(400)}},
		{CCID: "b", Outcome: "cut", CutAt: term.Add(30 * time.Second)}, // at the deadline
		{CCID: "c", Outcome: "cut", CutAt: term.Add(2 * time.Second)},  // killed early
		{CCID: "d", Outcome: "completed", Moves: []moveResult{
			{Requested: t0, Opened: t0.Add(msd(30)), OldClosed: t0.Add(msd(500))},  // overlap: no gap
			{Requested: t0, Opened: t0.Add(msd(300)), OldClosed: t0.Add(msd(100))}, // 200 ms with no stream
			{Requested: t0, Failed: "dial: refused"},
		}, AfterMove: []time.Duration{msd(700)}},
		{CCID: "e", Outcome: "failed"},
	}
	recs := map[string]record{"B": {EndReason: "drain"}, "C": {EndReason: "transport_error"}}
	s := summarizeRolling(res, recs, strings.ToUpper, restarts)
	if s.Calls != 5 || s.Completed != 2 || s.Failed != 1 || s.CutAtDeadline != 1 || s.CutBefore != 1 || s.CutReasons["transport_error"] != 1 {
		t.Errorf("summary %+v", s)
	}
	if s.Moved != 1 || s.Moves != 2 || s.MoveFailed != 1 {
		t.Errorf("moves: moved %d moves %d failed %d", s.Moved, s.Moves, s.MoveFailed)
	}
	if len(s.Gaps) != 2 || s.Gaps[0] != 0 || s.Gaps[1] != msd(200) || s.Switches[1] != msd(300) {
		t.Errorf("gaps %v switches %v", s.Gaps, s.Switches)
	}
	if d := statsOf(s.CutAfterTerm); d.Count != 2 || time.Duration(d.Max) != 30*time.Second {
		t.Errorf("cut after SIGTERM %v", d)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP iace_spool_depth x
# TYPE iace_spool_depth gauge
iace_spool_depth 3
iace_webhook_events_total{result="processed",type="call.hangup"} 5
iace_webhook_events_total{result="error",type="call.hangup"} 2
iace_session_live_calls 97
`
	m, err := parseMetrics(strings.NewReader(text), "iace_spool_depth", "iace_webhook_events_total")
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m["iace_spool_depth"] != 3 {
		t.Errorf("parsed %v", m)
	}
	two := []map[string]float64{m, m}
	if got := sumMetric(two, "iace_webhook_events_total"); got != 14 {
		t.Errorf("sum = %v", got)
	}
	if got := metricList(two, "iace_webhook_events_total"); got != `result="error",type="call.hangup": 4; result="processed",type="call.hangup": 10` {
		t.Errorf("list = %q", got)
	}
}

func TestReportPrintsAndMarshals(t *testing.T) {
	r := caseReport{Case: "kill", Calls: 3, Started: t0, Elapsed: ms(90 * time.Second), Settings: map[string]string{"lost_after": "10s"}}
	r.fig("recorded node_lost", 7)
	r.Groups = append(r.Groups, summarize("all", []sim.CallResult{call(1, sim.OutcomeCompleted, "", 0, 400)}))
	r.check("fine", true, "%d", 1)
	r.check("broken", false, "%s", "why")
	if r.passed() {
		t.Error("a report with a failed check passed")
	}
	var out bytes.Buffer
	printText(&out, []caseReport{r})
	for _, want := range []string{"== kill: 3 calls, 1m30s, FAIL ==", "recorded node_lost", "[FAIL] broken: why", "lost_after = 10s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, out.String())
		}
	}
	b, err := json.Marshal(r)
	if err != nil || !strings.Contains(string(b), `"elapsed_ms":90000`) || !strings.Contains(string(b), `"reply_p99_ms":400`) {
		t.Errorf("json %s, %v", b, err)
	}
}

func TestFlags(t *testing.T) {
	var errs bytes.Buffer
	if _, err := parseFlags([]string{}, &errs); err == nil {
		t.Error("no -db accepted")
	}
	if _, err := parseFlags([]string{"-db", "postgres://x", "-cases", "kill,nope"}, &errs); err == nil {
		t.Error("unknown case accepted")
	}
	if _, err := parseFlags([]string{"-db", "postgres://x", "-cases", "redis"}, &errs); err == nil {
		t.Error("the redis case without -redis-start accepted")
	}
	c, err := parseFlags([]string{"-db", "postgres://x", "-cases", "kill,hangup", "-calls", "90"}, &errs)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Cases, ",") != "kill,hangup" || c.Hangups != 30 || !strings.HasPrefix(c.Prefix, "chaos:") {
		t.Errorf("config %+v", c)
	}
	org, err := agentsOrg("agent.json")
	if err != nil || org != "chaos" {
		t.Errorf("agent.json organization %q, %v", org, err)
	}
}

func TestLastHolding(t *testing.T) {
	recs := map[string]record{
		"a": {Events: []recordEvent{{At: t0.Add(time.Second), Kind: "holding_phrase", Detail: "synthesizer"}}},
		"b": {Events: []recordEvent{{At: t0.Add(9 * time.Second), Kind: "holding_phrase", Detail: "synthesizer"},
			{At: t0.Add(20 * time.Second), Kind: "holding_phrase", Detail: "chat model"}}},
		"c": {Events: []recordEvent{{At: t0.Add(-time.Second), Kind: "holding_phrase", Detail: "synthesizer"}}},
	}
	if got := lastHolding(recs, holdingCause[provTTS], t0); !got.Equal(t0.Add(9 * time.Second)) {
		t.Errorf("last synthesizer holding phrase at %v", got)
	}
	if got := lastHolding(recs, holdingCause[provSTT], t0); !got.IsZero() {
		t.Errorf("a transcriber holding phrase found at %v", got)
	}
	if providerRecovery(10*time.Second) != 40*time.Second || providerRecovery(time.Minute) != time.Minute {
		t.Error("providerRecovery")
	}
}
