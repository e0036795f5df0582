// Package dataset generates the load tests' data set deterministically from
// a seed: an organization's agents, customers, ended calls with transcripts
// and learned patterns. storebench and apiload seed it; a reused database and
// an exact search agree on every embedding without keeping them, since
// pattern i's embedding is a function of (seed, i).
package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/iace/iace/store"
)

// Gen makes the data set. Its fields are set by New; Org and Prefix may be
// changed before use, to seed a second data set beside the first.
type Gen struct {
	// Org is the organization every row belongs to.
	Org store.OrgID
	// Prefix starts every generated id (ids are unique across IACE).
	Prefix    string
	Calls     int
	Turns     int // per call
	Patterns  int
	Customers int
	Agents    int
	Start     time.Time // the first call's start
	Span      time.Duration
	seed      uint64
	centres   [][]float64
}

// DefaultOrg is the organization of New's data set.
const DefaultOrg = store.OrgID("bench-org")

// Clusters is how many clusters pattern embeddings gather around.
const Clusters = 300

const noiseNorm = 0.6 // a pattern is its unit centre plus noise of about this length, renormalized

// New returns the generator of a data set: calls spread over 90 days from
// 2025-01-01, turns per call, patterns, a customer per five calls and ten
// agents.
func New(seed uint64, calls, turns, patterns int) *Gen {
	g := &Gen{
		Org: DefaultOrg, seed: seed, Calls: calls, Turns: turns, Patterns: patterns,
		Customers: max(1, calls/5), Agents: 10,
		Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Span: 90 * 24 * time.Hour,
	}
	g.centres = make([][]float64, Clusters)
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
func (g *Gen) around(r *rand.Rand, c int) []float32 {
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

// AgentID is agent i's id.
func (g *Gen) AgentID(i int) store.AgentID {
	return store.AgentID(fmt.Sprintf("%sagent-%02d", g.Prefix, i))
}

// CustomerID is customer i's id.
func (g *Gen) CustomerID(i int) store.CustomerID {
	return store.CustomerID(fmt.Sprintf("%scust-%07d", g.Prefix, i))
}

// CallID is call i's id.
func (g *Gen) CallID(i int) store.CallID {
	return store.CallID(fmt.Sprintf("%scall-%07d", g.Prefix, i))
}

// PatternID is pattern i's id.
func (g *Gen) PatternID(i int) store.PatternID {
	return store.PatternID(fmt.Sprintf("%spat-%07d", g.Prefix, i))
}

// Agent is agent i, with prompts, intents, tools and escalation rules.
func (g *Gen) Agent(i int) store.Agent {
	return store.Agent{
		ID: g.AgentID(i), OrgID: g.Org, Name: fmt.Sprintf("Agent %d", i),
		Greeting: "Hello, thanks for calling.", Fallback: "Sorry, could you say that again?",
		SystemPrompt: "You are a brief, friendly phone assistant.", Voice: "en-us", Language: "en",
		Intents:  []store.Intent{{Name: "hours", Keywords: []string{"hours", "open"}, Reply: "Nine to five."}},
		Settings: store.AgentSettings{Model: "llama-3.1-8b-instant", Temperature: 0.3, MaxTokens: 160},
		Tools:    []string{"transfer_to_human", "end_call"},
		Escalation: store.EscalationRules{Keywords: []string{"lawyer", "complaint"}, NegativeTurns: 3,
			SentimentBelow: -0.5, TransferOnDTMFZero: true},
		CreatedAt: g.Start.Add(-time.Hour), UpdatedAt: g.Start.Add(-time.Hour),
	}
}

// Customer is customer i.
func (g *Gen) Customer(i int) store.Customer {
	return store.Customer{
		ID: g.CustomerID(i), OrgID: g.Org, Phone: store.PhoneNumber(fmt.Sprintf("+1555%07d", i)),
		Name:  fmt.Sprintf("%s %s", firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]),
		Email: fmt.Sprintf("customer%d@example.com", i), Attributes: map[string]string{"plan": []string{"basic", "pro", "gold"}[i%3]},
		MemorySummary: "Called about billing before.",
		CreatedAt:     g.Start.Add(-time.Hour), UpdatedAt: g.Start.Add(-time.Hour),
	}
}

// Call is call i, ended: it starts at an evenly spread time over Span;
// four in five have a customer.
func (g *Gen) Call(i int) store.Call {
	r := rand.New(rand.NewPCG(g.seed, 2<<40+uint64(i)))
	started := g.Start.Add(time.Duration(int64(g.Span) / int64(g.Calls) * int64(i))).Truncate(time.Microsecond)
	answered := started.Add(2 * time.Second)
	dur := time.Duration(30+r.IntN(600)) * time.Second
	ended := started.Add(dur)
	c := store.Call{
		ID: g.CallID(i), OrgID: g.Org, AgentID: g.AgentID(r.IntN(g.Agents)),
		CallControlID: fmt.Sprintf("v3:bench-%d", i), CallSessionID: fmt.Sprintf("sess-%d", i),
		Direction: "incoming", From: store.PhoneNumber(fmt.Sprintf("+1555%07d", r.IntN(1e7))), To: "+15550000001",
		Status: store.CallEnded, Outcome: []store.Outcome{store.OutcomeResolved, store.OutcomeResolved, store.OutcomeEscalated, store.OutcomeAbandoned}[r.IntN(4)],
		EndReason: "hangup", StartedAt: started, AnsweredAt: &answered, EndedAt: &ended, Duration: dur,
		Sentiment: &store.Sentiment{Average: r.Float64()*2 - 1, Min: -0.5, Last: 0.2, Trend: 0.01, Turns: g.Turns / 2},
	}
	if r.IntN(5) > 0 {
		c.CustomerID = g.CustomerID(r.IntN(g.Customers))
	}
	return c
}

// Turn is turn seq of call i, which started at callStart: odd turns are the
// agent's (with a latency), even ones the caller's (with a sentiment).
func (g *Gen) Turn(call int, seq int, callStart time.Time) store.Turn {
	r := rand.New(rand.NewPCG(g.seed, 3<<40+uint64(call)*1024+uint64(seq)))
	sp := store.SpeakerCaller
	if seq%2 == 1 {
		sp = store.SpeakerAgent
	}
	start := callStart.Add(time.Duration(seq) * 4 * time.Second)
	t := store.Turn{
		CallID: g.CallID(call), Seq: seq, Speaker: sp, Text: phrases[r.IntN(len(phrases))],
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

// Pattern is pattern i: it belongs to cluster i mod Clusters; half are
// org-wide.
func (g *Gen) Pattern(i int) store.Pattern {
	r := rand.New(rand.NewPCG(g.seed, 4<<40+uint64(i)))
	p := store.Pattern{
		ID: g.PatternID(i), OrgID: g.Org, Kind: []string{"faq", "objection", "escalation"}[i%3],
		Trigger: fmt.Sprintf("caller asks about topic %d, variant %d", i%Clusters, i/Clusters), Response: "Here is what worked.",
		Uses: r.IntN(50), Embedding: g.around(r, i%Clusters),
		CreatedAt: g.Start.Add(time.Duration(i) * time.Second), UpdatedAt: g.Start.Add(time.Duration(i) * time.Second),
	}
	p.Successes = p.Uses / 2
	if r.IntN(2) == 0 {
		p.AgentID = g.AgentID(r.IntN(g.Agents))
	}
	return p
}

// Query is query j: a fresh point of a random cluster, not one of the
// patterns.
func (g *Gen) Query(j int) []float32 {
	r := rand.New(rand.NewPCG(g.seed, 5<<40+uint64(j)))
	return g.around(r, r.IntN(Clusters))
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
