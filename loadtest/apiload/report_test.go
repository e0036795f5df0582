package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"no samples give 0", nil, 0.5, 0},
		{"one sample is every percentile", ms(7), 0.99, 7 * time.Millisecond},
		{"p50 of 1..100 is 50", ms(hundred...), 0.50, 50 * time.Millisecond},
		{"p95 of 1..100 is 95", ms(hundred...), 0.95, 95 * time.Millisecond},
		{"p99 of 1..100 is 99", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p50 of four samples is the second", ms(1, 2, 3, 4), 0.50, 2 * time.Millisecond},
		{"p99 of four samples is the largest", ms(1, 2, 3, 4), 0.99, 4 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.samples, tc.p); got != tc.want {
				t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeMergesClientsPerEndpoint(t *testing.T) {
	a, b := newRecorder(), newRecorder()
	// 100 list calls of 1..100 ms split over two clients, 3 of them failed.
	for i := 1; i <= 100; i++ {
		r, res := a, result{status: 200}
		if i%2 == 0 {
			r = b
		}
		if i <= 3 {
			res = result{status: 503}
		}
		r.add("GET /calls", time.Duration(i)*time.Millisecond, res)
	}
	b.add("GET /me", 5*time.Millisecond, result{status: 200})
	b.add("GET /me", 15*time.Millisecond, result{err: errors.New("connection reset")})

	rep := summarize(merge([]*recorder{a, b}), 4*time.Second)
	if rep.Requests != 102 || rep.Errors != 4 {
		t.Errorf("requests %d errors %d, want 102 and 4", rep.Requests, rep.Errors)
	}
	if rep.RPS != 25.5 {
		t.Errorf("RPS %v, want 102/4s = 25.5", rep.RPS)
	}
	if len(rep.Endpoints) != 2 || rep.Endpoints[0].Name != "GET /calls" || rep.Endpoints[1].Name != "GET /me" {
		t.Fatalf("endpoints %+v, want GET /calls then GET /me", rep.Endpoints)
	}
	calls := rep.Endpoints[0]
	if calls.Count != 100 || calls.Errors != 3 || calls.ErrorsBy["503"] != 3 {
		t.Errorf("GET /calls: %+v", calls)
	}
	if calls.P50 != 50*time.Millisecond || calls.P95 != 95*time.Millisecond || calls.P99 != 99*time.Millisecond ||
		calls.Max != 100*time.Millisecond || calls.Mean != 50500*time.Microsecond || calls.RPS != 25 {
		t.Errorf("GET /calls latency: %+v", calls)
	}
	me := rep.Endpoints[1]
	if me.Count != 2 || me.ErrorsBy["transport"] != 1 || me.P50 != 5*time.Millisecond || me.P99 != 15*time.Millisecond {
		t.Errorf("GET /me: %+v", me)
	}
	var out strings.Builder
	rep.print(&out)
	if !strings.Contains(out.String(), "3 (503:3)") || !strings.Contains(out.String(), "1 (transport:1)") {
		t.Errorf("the table does not show the errors by kind:\n%s", out.String())
	}
}

func TestPickerFollowsTheWeights(t *testing.T) {
	ops := []op{{name: "a", weight: 3}, {name: "never", weight: 0}, {name: "b", weight: 1}}
	p, err := newPicker(ops)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "a", "a", "b"}
	for x, name := range want {
		if got := p.pick(x).name; got != name {
			t.Errorf("pick(%d) = %s, want %s", x, got, name)
		}
	}
	// The default mix: each op drawn in proportion to its weight.
	p, err = newPicker(defaultMix)
	if err != nil {
		t.Fatal(err)
	}
	if p.total() != 100 {
		t.Errorf("the default weights add up to %d, want 100 (percentages)", p.total())
	}
	r := rand.New(rand.NewPCG(1, 2))
	const n = 100_000
	count := map[string]int{}
	for range n {
		count[p.pick(r.IntN(p.total())).name]++
	}
	for _, o := range defaultMix {
		got, want := float64(count[o.name])/n, float64(o.weight)/100
		if got < want-0.01 || got > want+0.01 {
			t.Errorf("%s drawn %.3f of the time, want %.2f", o.name, got, want)
		}
	}
	if count["calls.list"]+count["calls.get"] < n/2 {
		t.Errorf("call lists and details are %d of %d requests, want most", count["calls.list"]+count["calls.get"], n)
	}
}

func TestParseWeights(t *testing.T) {
	ops, err := parseWeights(defaultMix, "analytics=0, calls.list=50")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ops {
		if (o.name == "analytics" && o.weight != 0) || (o.name == "calls.list" && o.weight != 50) {
			t.Errorf("%s weight %d", o.name, o.weight)
		}
	}
	if defaultMix[0].weight != 30 {
		t.Error("parseWeights changed the default mix")
	}
	for _, bad := range []string{"nosuch=1", "calls.list", "calls.list=-1", "calls.list=x"} {
		if _, err := parseWeights(defaultMix, bad); err == nil {
			t.Errorf("parseWeights(%q) accepted", bad)
		}
	}
	if _, err := newPicker([]op{{name: "a"}}); err == nil {
		t.Error("a mix without weight accepted")
	}
}

func TestClientFallsBackToTheListThatTeachesIDs(t *testing.T) {
	p, _ := newPicker([]op{{name: "calls.get", weight: 1, build: buildGetCall}, {name: "agents.get", weight: 1, build: buildGetAgent}})
	c := &client{mix: p, rng: rand.New(rand.NewPCG(1, 1))}
	for range 20 {
		rq := c.next()
		if rq.name != "GET "+pathCalls && rq.name != "GET "+pathAgents {
			t.Fatalf("with no id known, next is %s", rq.name)
		}
	}
	c.state.callIDs, c.state.agentIDs = []string{"c1"}, []string{"a1"}
	for range 20 {
		rq := c.next()
		if rq.path != pathCalls+"/c1" && rq.path != pathAgents+"/a1" {
			t.Fatalf("with ids known, next is %s", rq.path)
		}
	}
}

func TestParseCacheAndHitRate(t *testing.T) {
	const text = `# HELP iace_cache_hits_total Cached reads answered by a layer.
# TYPE iace_cache_hits_total counter
iace_cache_hits_total{cache="agent",layer="local"} 900
iace_cache_hits_total{cache="agent",layer="redis"} 50
iace_cache_hits_total{cache="customer",layer="local"} 7
iace_cache_misses_total{layer="local",cache="agent"} 100
iace_cache_misses_total{cache="agent",layer="redis"} 50
`
	after, err := parseCache(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	d := after.minus(cacheCounters{localHits: 100, localMisses: 50, redisHits: 10})
	// 800 + 50 reads; 800 local and 40 Redis hits.
	if d.Reads != 850 || d.LocalHits != 800 || d.RedisHits != 40 || d.HitRate != 840.0/850 {
		t.Errorf("delta %+v", d)
	}
	if _, err := parseCache(strings.NewReader("go_goroutines 12\n")); err == nil {
		t.Error("metrics without the cache counters accepted")
	}
}

// The k6 script runs the same mix as the Go command.
func TestK6ScriptHasTheSameMix(t *testing.T) {
	src, err := os.ReadFile("../k6/api.js")
	if err != nil {
		t.Fatal(err)
	}
	var js []string
	for _, m := range regexp.MustCompile(`\['([a-z.]+)', (\d+)\]`).FindAllStringSubmatch(string(src), -1) {
		js = append(js, m[1]+"="+m[2])
	}
	var goMix []string
	for _, o := range defaultMix {
		goMix = append(goMix, fmt.Sprintf("%s=%d", o.name, o.weight))
	}
	if !slices.Equal(js, goMix) {
		t.Errorf("api.js MIX %v, the Go command's %v", js, goMix)
	}
}

// TestAcceptedLeavesShedRequestsOutAndSplitsByWindow: the figures of an
// overload run are those of the requests the server took on, with the
// logins (which queue at the hasher by design) counted apart, and each
// window holds the requests sent in it.
func TestAcceptedLeavesShedRequestsOutAndSplitsByWindow(t *testing.T) {
	r := newRecorder()
	const login = "POST /api/v1/auth/login"
	// First 10 s: 20 logins of 400 ms, 80 reads of 1..80 ms, 50 shed.
	for i := range 20 {
		r.record(login, time.Duration(i)*100*time.Millisecond, 400*time.Millisecond, result{status: 200})
	}
	for i := 1; i <= 80; i++ {
		r.record("GET /calls", time.Duration(i)*100*time.Millisecond, time.Duration(i)*time.Millisecond, result{status: 200})
	}
	for i := range 50 {
		r.record("GET /calls", time.Duration(i)*100*time.Millisecond, time.Millisecond, result{status: 503})
	}
	// 10 to 20 s: 10 reads of 5 ms, a 429 to a login (accepted: the
	// server answered it), a transport error (neither).
	for i := range 10 {
		r.record("GET /me", 10*time.Second+time.Duration(i)*time.Second/10, 5*time.Millisecond, result{status: 200})
	}
	r.record(login, 15*time.Second, 2*time.Millisecond, result{status: 429})
	r.record("GET /me", 16*time.Second, time.Second, result{err: errors.New("reset")})

	a := accepted(merge([]*recorder{r}), login, 10*time.Second)
	if a.Shed != 50 || a.All.Count != 111 || a.NoLogins.Count != 90 {
		t.Errorf("shed %d, accepted %d, without logins %d; want 50, 111, 90", a.Shed, a.All.Count, a.NoLogins.Count)
	}
	if a.All.P95 != 400*time.Millisecond || a.NoLogins.P95 != 76*time.Millisecond {
		t.Errorf("p95 %v, without logins %v; want the logins' 400ms and the reads' 76ms", a.All.P95, a.NoLogins.P95)
	}
	if len(a.ByWindow) != 2 {
		t.Fatalf("%d windows, want 2", len(a.ByWindow))
	}
	w0, w1 := a.ByWindow[0], a.ByWindow[1]
	if w0.From != 0 || w0.Shed != 50 || w0.All.Count != 100 || w0.NoLogins.P95 != 76*time.Millisecond {
		t.Errorf("first window %+v", w0)
	}
	if w1.From != 10*time.Second || w1.Shed != 0 || w1.All.Count != 11 || w1.NoLogins.Count != 10 || w1.NoLogins.P99 != 5*time.Millisecond {
		t.Errorf("second window %+v", w1)
	}

	var out strings.Builder
	rep := report{Accepted: a}
	rep.print(&out)
	for _, want := range []string{"shed (503): 50 of 161 (31.1%)", "without logins p50", "10s-20s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}
