package main

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The control API's routes, as the load uses them (see README.md). Change
// them here when the API changes.
const (
	pathLogin    = "/api/v1/auth/login"
	pathRefresh  = "/api/v1/auth/refresh"
	pathMe       = "/api/v1/me"
	pathAgents   = "/api/v1/agents"
	pathCust     = "/api/v1/customers"
	pathCalls    = "/api/v1/calls"
	pathLive     = "/api/v1/calls/live"
	pathStats    = "/api/v1/analytics"
	pathPatterns = "/api/v1/patterns"
	pathSimilar  = "/api/v1/patterns/similar"
)

// request is one request of the mix: its report name (a route, not a
// URL: a bounded set), method, path with query, and JSON body.
type request struct {
	name   string
	method string
	path   string
	body   any
	// harvest reads what later requests need (ids, cursors) from a 2xx
	// answer; nil reads nothing.
	harvest func(c *clientState, body []byte)
}

// op is one kind of request in the mix, drawn with probability
// weight/total. build returns the request for a client's state; ok false
// means the client cannot make it yet (no id known) and falls back to
// another kind.
type op struct {
	name   string
	weight int
	build  func(s *clientState, r *rand.Rand) (request, bool)
}

// defaultMix is a dashboard's traffic: mostly call lists (following their
// cursors) and call details, some agents, customers, analytics and me,
// pattern browsing, and a few refreshes.
var defaultMix = []op{
	{"calls.list", 30, buildListCalls},
	{"calls.get", 25, buildGetCall},
	{"calls.live", 5, func(*clientState, *rand.Rand) (request, bool) {
		return request{name: "GET " + pathLive, method: "GET", path: pathLive}, true
	}},
	{"agents.list", 8, buildListAgents},
	{"agents.get", 8, buildGetAgent},
	{"customers.search", 7, buildSearchCustomers},
	{"analytics", 5, buildAnalytics},
	{"me", 5, func(*clientState, *rand.Rand) (request, bool) {
		return request{name: "GET " + pathMe, method: "GET", path: pathMe}, true
	}},
	{"patterns.list", 3, func(*clientState, *rand.Rand) (request, bool) {
		return request{name: "GET " + pathPatterns, method: "GET", path: pathPatterns + "?limit=50"}, true
	}},
	{"patterns.similar", 2, buildSimilar},
	{"auth.refresh", 2, buildRefresh},
}

// picker draws ops by weight.
type picker struct {
	ops []op
	cum []int // cumulative weights
}

func newPicker(ops []op) (*picker, error) {
	p := &picker{ops: ops}
	total := 0
	for _, o := range ops {
		if o.weight < 0 {
			return nil, fmt.Errorf("op %s: negative weight %d", o.name, o.weight)
		}
		total += o.weight
		p.cum = append(p.cum, total)
	}
	if total == 0 {
		return nil, fmt.Errorf("the mix has no weight")
	}
	return p, nil
}

// pick maps x in [0, total weight) to its op.
func (p *picker) pick(x int) op {
	return p.ops[sort.SearchInts(p.cum, x+1)]
}

func (p *picker) total() int { return p.cum[len(p.cum)-1] }

// parseWeights overrides the weights of a mix from "name=w,name=w".
func parseWeights(ops []op, spec string) ([]op, error) {
	out := append([]op(nil), ops...)
	if strings.TrimSpace(spec) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(spec, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		w, err := strconv.Atoi(v)
		if !ok || err != nil || w < 0 {
			return nil, fmt.Errorf("mix %q: want name=weight", kv)
		}
		found := false
		for i := range out {
			if out[i].name == name {
				out[i].weight, found = w, true
			}
		}
		if !found {
			return nil, fmt.Errorf("mix: no op %q", name)
		}
	}
	return out, nil
}

// clientState is what a client knows: its tokens and what it has seen.
type clientState struct {
	access, refresh string
	callIDs         []string // from the last call list
	agentIDs        []string
	nextCursor      string // of the last call list
	now             func() time.Time
}

// remember keeps at most 50 ids, the newest.
func remember(ids []string, more []string) []string {
	ids = append(ids, more...)
	if len(ids) > 50 {
		ids = ids[len(ids)-50:]
	}
	return ids
}

var (
	statuses = []string{"", "", "", "ended", "active"}
	outcomes = []string{"", "", "", "resolved", "escalated", "abandoned"}
)

// buildListCalls follows the last list's cursor half the time (scrolling
// on), and otherwise opens the first page, sometimes filtered.
func buildListCalls(s *clientState, r *rand.Rand) (request, bool) {
	q := url.Values{"limit": {"50"}}
	if s.nextCursor != "" && r.IntN(2) == 0 {
		q.Set("cursor", s.nextCursor)
	} else if st := statuses[r.IntN(len(statuses))]; st != "" {
		q.Set("status", st)
	} else if oc := outcomes[r.IntN(len(outcomes))]; oc != "" {
		q.Set("outcome", oc)
	}
	return request{name: "GET " + pathCalls, method: "GET", path: pathCalls + "?" + q.Encode(), harvest: harvestCalls}, true
}

func buildGetCall(s *clientState, r *rand.Rand) (request, bool) {
	if len(s.callIDs) == 0 {
		return request{}, false
	}
	id := s.callIDs[r.IntN(len(s.callIDs))]
	return request{name: "GET " + pathCalls + "/{id}", method: "GET", path: pathCalls + "/" + url.PathEscape(id)}, true
}

func buildListAgents(*clientState, *rand.Rand) (request, bool) {
	return request{name: "GET " + pathAgents, method: "GET", path: pathAgents, harvest: harvestAgents}, true
}

func buildGetAgent(s *clientState, r *rand.Rand) (request, bool) {
	if len(s.agentIDs) == 0 {
		return request{}, false
	}
	id := s.agentIDs[r.IntN(len(s.agentIDs))]
	return request{name: "GET " + pathAgents + "/{id}", method: "GET", path: pathAgents + "/" + url.PathEscape(id)}, true
}

// customerQueries match seeded names (dataset first and last names), a
// phone prefix, an email fragment and nothing.
var customerQueries = []string{"ada", "hopper", "grace", "knuth", "+1555", "customer1", "example.com", "zzz-nobody"}

func buildSearchCustomers(_ *clientState, r *rand.Rand) (request, bool) {
	q := url.Values{"q": {customerQueries[r.IntN(len(customerQueries))]}, "limit": {"20"}}
	return request{name: "GET " + pathCust, method: "GET", path: pathCust + "?" + q.Encode()}, true
}

// buildAnalytics asks for the last day by hour or the last 30 days by day,
// on whole hours, as a dashboard does (and so that its answer can be
// cached).
func buildAnalytics(s *clientState, r *rand.Rand) (request, bool) {
	to := s.now().UTC().Truncate(time.Hour).Add(time.Hour)
	from, bucket := to.Add(-24*time.Hour), "hour"
	if r.IntN(3) == 0 {
		from, bucket = to.Add(-30*24*time.Hour), "day"
	}
	q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "bucket": {bucket}}
	return request{name: "GET " + pathStats, method: "GET", path: pathStats + "?" + q.Encode()}, true
}

var similarTexts = []string{"what are your opening hours", "I was charged twice", "I want to cancel my subscription",
	"can I speak to a human", "my password reset email never arrived"}

func buildSimilar(_ *clientState, r *rand.Rand) (request, bool) {
	q := url.Values{"text": {similarTexts[r.IntN(len(similarTexts))]}, "k": {"5"}}
	return request{name: "GET " + pathSimilar, method: "GET", path: pathSimilar + "?" + q.Encode()}, true
}

func buildRefresh(s *clientState, _ *rand.Rand) (request, bool) {
	if s.refresh == "" {
		return request{}, false
	}
	return request{name: "POST " + pathRefresh, method: "POST", path: pathRefresh,
		body: map[string]string{"refresh_token": s.refresh}, harvest: harvestTokens}, true
}
