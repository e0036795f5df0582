package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/iace/iace/store"
)

// gen makes the benchmark's data deterministically from a seed, so that a
// reused database and the exact search agree on every embedding without
// keeping them: pattern i's embedding is a function of (seed, i).
type gen struct {
	seed      uint64
	calls     int
	turns     int // per call
	patterns  int
	customers int
	agents    int
	centres   [][]float64
	start     time.Time // the first call's start
	span      time.Duration
}

const (
	benchOrg  = store.OrgID("bench-org")
	clusters  = 300
	noiseNorm = 0.6 // a pattern is its unit centre plus noise of about this length, renormalized
)

func newGen(seed uint64, calls, turns, patterns int) *gen {
	g := &gen{
		seed: seed, calls: calls, turns: turns, patterns: patterns,
		customers: max(1, calls/5), agents: 10,
		start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), span: 90 * 24 * time.Hour,
	}
	g.centres = make([][]float64, clusters)
	for c := range g.centres {
		r := rand.New(rand.NewPCG(seed, 1<<40+uint64(c)))
		v := make([]float64, store.EmbeddingDims)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		normalize(v)
		g.centres[c] = v
	}
	return g
}

func normalize(v []float64) {
	var n float64
	for _, x := range v {
		n += x * x
	}
	n = math.Sqrt(n)
	for i := range v {
		v[i] /= n
	}
}

// around returns a unit vector near centre c, drawn from r.
func (g *gen) around(r *rand.Rand, c int) []float32 {
	sigma := noiseNorm / math.Sqrt(store.EmbeddingDims)
	v := make([]float64, store.EmbeddingDims)
	for i, x := range g.centres[c] {
		v[i] = x + sigma*r.NormFloat64()
	}
	normalize(v)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func (g *gen) agentID(i int) store.AgentID { return store.AgentID(fmt.Sprintf("agent-%02d", i)) }
func (g *gen) customerID(i int) store.CustomerID {
	return store.CustomerID(fmt.Sprintf("cust-%07d", i))
}
func (g *gen) callID(i int) store.CallID       { return store.CallID(fmt.Sprintf("call-%07d", i)) }
func (g *gen) patternID(i int) store.PatternID { return store.PatternID(fmt.Sprintf("pat-%07d", i)) }

func (g *gen) agent(i int) store.Agent {
	return store.Agent{
		ID: g.agentID(i), OrgID: benchOrg, Name: fmt.Sprintf("Agent %d", i),
		Greeting: "Hello, thanks for calling.", Fallback: "Sorry, could you say that again?",
		SystemPrompt: "You are a brief, friendly phone assistant.", Voice: "en-us", Language: "en",
		Intents:  []store.Intent{{Name: "hours", Keywords: []string{"hours", "open"}, Reply: "Nine to five."}},
		Settings: store.AgentSettings{Model: "llama-3.1-8b-instant", Temperature: 0.3, MaxTokens: 160},
		Tools:    []string{"transfer_to_human", "end_call"},
		Escalation: store.EscalationRules{Keywords: []string{"lawyer", "complaint"}, NegativeTurns: 3,
			SentimentBelow: -0.5, TransferOnDTMFZero: true},
		CreatedAt: g.start.Add(-time.Hour), UpdatedAt: g.start.Add(-time.Hour),
	}
}

func (g *gen) customer(i int) store.Customer {
	return store.Customer{
		ID: g.customerID(i), OrgID: benchOrg, Phone: store.PhoneNumber(fmt.Sprintf("+1555%07d", i)),
		Name:  fmt.Sprintf("%s %s", firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]),
		Email: fmt.Sprintf("customer%d@example.com", i), Attributes: map[string]string{"plan": []string{"basic", "pro", "gold"}[i%3]},
		MemorySummary: "Called about billing before.",
		CreatedAt:     g.start.Add(-time.Hour), UpdatedAt: g.start.Add(-time.Hour),
	}
}

// call i starts at an evenly spread time; four in five have a customer.
func (g *gen) call(i int) store.Call {
	r := rand.New(rand.NewPCG(g.seed, 2<<40+uint64(i)))
	started := g.start.Add(time.Duration(int64(g.span) / int64(g.calls) * int64(i))).Truncate(time.Microsecond)
	answered := started.Add(2 * time.Second)
	dur := time.Duration(30+r.IntN(600)) * time.Second
	ended := started.Add(dur)
	c := store.Call{
		ID: g.callID(i), OrgID: benchOrg, AgentID: g.agentID(r.IntN(g.agents)),
		CallControlID: fmt.Sprintf("v3:bench-%d", i), CallSessionID: fmt.Sprintf("sess-%d", i),
		Direction: "incoming", From: store.PhoneNumber(fmt.Sprintf("+1555%07d", r.IntN(1e7))), To: "+15550000001",
		Status: store.CallEnded, Outcome: []store.Outcome{store.OutcomeResolved, store.OutcomeResolved, store.OutcomeEscalated, store.OutcomeAbandoned}[r.IntN(4)],
		EndReason: "hangup", StartedAt: started, AnsweredAt: &answered, EndedAt: &ended, Duration: dur,
		Sentiment: &store.Sentiment{Average: r.Float64()*2 - 1, Min: -0.5, Last: 0.2, Trend: 0.01, Turns: g.turns / 2},
	}
	if r.IntN(5) > 0 {
		c.CustomerID = g.customerID(r.IntN(g.customers))
	}
	return c
}

func (g *gen) turn(call int, seq int, callStart time.Time) store.Turn {
	r := rand.New(rand.NewPCG(g.seed, 3<<40+uint64(call)*1024+uint64(seq)))
	sp := store.SpeakerCaller
	if seq%2 == 1 {
		sp = store.SpeakerAgent
	}
	start := callStart.Add(time.Duration(seq) * 4 * time.Second)
	t := store.Turn{
		CallID: g.callID(call), Seq: seq, Speaker: sp, Text: phrases[r.IntN(len(phrases))],
		StartedAt: start, EndedAt: start.Add(3 * time.Second),
	}
	if sp == store.SpeakerCaller {
		s := r.Float64()*2 - 1
		t.Sentiment = &s
	} else {
		t.Latency = &store.Latency{EndpointMs: 300, STTMs: 100 + r.IntN(100), LLMFirstToken: 200 + r.IntN(300), TTSFirstByteMs: 80 + r.IntN(80), OverheadMs: 3}
	}
	return t
}

// pattern i belongs to cluster i mod clusters; half are org-wide.
func (g *gen) pattern(i int) store.Pattern {
	r := rand.New(rand.NewPCG(g.seed, 4<<40+uint64(i)))
	p := store.Pattern{
		ID: g.patternID(i), OrgID: benchOrg, Kind: []string{"faq", "objection", "escalation"}[i%3],
		Trigger: fmt.Sprintf("caller asks about topic %d, variant %d", i%clusters, i/clusters), Response: "Here is what worked.",
		Uses: r.IntN(50), Embedding: g.around(r, i%clusters),
		CreatedAt: g.start.Add(time.Duration(i) * time.Second), UpdatedAt: g.start.Add(time.Duration(i) * time.Second),
	}
	p.Successes = p.Uses / 2
	if r.IntN(2) == 0 {
		p.AgentID = g.agentID(r.IntN(g.agents))
	}
	return p
}

// query j is a fresh point of a random cluster, not one of the patterns.
func (g *gen) query(j int) []float32 {
	r := rand.New(rand.NewPCG(g.seed, 5<<40+uint64(j)))
	return g.around(r, r.IntN(clusters))
}

var firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Dennis", "Margaret", "John"}
var lastNames = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Ritchie", "Hamilton", "Backus", "Martin", "Nguyen", "Okafor"}

var phrases = []string{
	"Hello, thanks for calling. How can I help you today?",
	"I would like to check the status of my order.",
	"Can you tell me your order number please?",
	"I was charged twice on my last invoice.",
	"Let me look into that refund for you.",
	"What are your opening hours on Saturday?",
	"We are open Monday to Friday, nine to five.",
	"I want to cancel my subscription.",
	"I am sorry to hear that. May I ask why?",
	"The delivery arrived damaged.",
	"Could I speak to a human please?",
	"Of course, let me connect you to a colleague.",
	"My password reset email never arrived.",
	"I can resend it now. Please check your spam folder.",
	"How much does the premium plan cost?",
	"The premium plan is twenty dollars a month.",
	"Thank you, that is all. Goodbye.",
	"Is there anything else I can help you with?",
}
