package embedded

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

// latencies collects each operation's duration, to report percentiles next
// to the mean that ns/op gives.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	at := func(p float64) float64 {
		return float64(l[min(len(l)-1, int(p*float64(len(l))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), "p50-us")
	b.ReportMetric(at(0.95), "p95-us")
	b.ReportMetric(at(0.99), "p99-us")
}

// seedCalls writes n calls of org in one transaction, spread over agents and
// customers, each with turnsPerCall turns; it returns the call ids.
func seedCalls(b *testing.B, s *Store, org store.OrgID, agents []store.AgentID, customers []store.CustomerID, n, turnsPerCall int) []store.CallID {
	b.Helper()
	ctx := b.Context()
	ids := make([]store.CallID, n)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ins, err := s.insertTurnStmt(ctx, "seed")
	if err != nil {
		b.Fatal(err)
	}
	err = s.withTx(ctx, "seed", func(tx *sql.Tx) error {
		for i := range n {
			ids[i] = store.CallID(newID())
			var customer sql.NullString
			if i%4 != 0 {
				customer = nullString(string(customers[i%len(customers)]))
			}
			started := start.Add(time.Duration(i) * time.Minute)
			if _, err := tx.ExecContext(ctx, `INSERT INTO calls (id, org_id, agent_id, customer_id, call_control_id,
				from_number, to_number, status, outcome, started_at, ended_at, duration_us)
				VALUES (?, ?, ?, ?, ?, '+15550001111', '+15550002222', 'ended', 'resolved', ?, ?, 90000000)`,
				ids[i], org, agents[i%len(agents)], customer, "v3:"+newID(), micros(started), micros(started.Add(90*time.Second))); err != nil {
				return err
			}
			turns := make([]store.Turn, turnsPerCall)
			for j := range turns {
				speaker := store.SpeakerCaller
				if j%2 == 1 {
					speaker = store.SpeakerAgent
				}
				turns[j] = store.Turn{
					Seq: j + 1, Speaker: speaker, StartedAt: started.Add(time.Duration(j) * 5 * time.Second),
					EndedAt: started.Add(time.Duration(j)*5*time.Second + 4*time.Second),
					Text:    fmt.Sprintf("turn %d of call %d: I would like to know about my order and the delivery time", j, i),
					Latency: &store.Latency{EndpointMs: 200, STTMs: 150, LLMFirstToken: 300, TTSFirstByteMs: 120},
				}
			}
			if err := insertTurns(ctx, tx, ins, "seed", org, ids[i], turns, started); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return ids
}

// callsFixture is an organization with 5 agents, 1,000 customers and n calls.
func callsFixture(b *testing.B, n, turnsPerCall int) (*Store, store.OrgID, []store.CallID) {
	ctx := b.Context()
	s := openTest(b)
	o := must[store.Organization](b)(s.CreateOrg(ctx, store.Organization{Name: "bench"}))
	var agents []store.AgentID
	for i := range 5 {
		a := must[store.Agent](b)(s.CreateAgent(ctx, store.Agent{
			OrgID: o.ID, Name: fmt.Sprint("agent ", i), Greeting: "Hello", SystemPrompt: "Be brief.",
			Intents: []store.Intent{{Name: "hours", Keywords: []string{"hours"}, Reply: "Nine to five."}},
		}))
		agents = append(agents, a.ID)
	}
	var customers []store.CustomerID
	for i := range 1000 {
		c := must[store.Customer](b)(s.CreateCustomer(ctx, store.Customer{
			OrgID: o.ID, Phone: store.PhoneNumber(fmt.Sprintf("+1555%07d", i)), Name: fmt.Sprint("Customer ", i),
			Attributes: map[string]string{"tier": "gold"},
		}))
		customers = append(customers, c.ID)
	}
	return s, o.ID, seedCalls(b, s, o.ID, agents, customers, n, turnsPerCall)
}

// BenchmarkListCalls lists a page of 50 calls, with their agents and
// customers, from 10,000, at a random depth (by cursor).
func BenchmarkListCalls(b *testing.B) {
	ctx := b.Context()
	s, org, _ := callsFixture(b, 10_000, 0)
	// Cursors of every 10th page, to start from.
	var cursors []string
	cur := ""
	for i := 0; ; i++ {
		_, next, err := s.ListCalls(ctx, org, store.CallFilter{}, store.Page{Limit: 50, Cursor: cur})
		if err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			cursors = append(cursors, cur)
		}
		if next == "" {
			break
		}
		cur = next
	}
	var lat latencies
	i := 0
	for b.Loop() {
		t0 := time.Now()
		items, _, err := s.ListCalls(ctx, org, store.CallFilter{}, store.Page{Limit: 50, Cursor: cursors[i%len(cursors)]})
		lat = append(lat, time.Since(t0))
		if err != nil || len(items) != 50 || items[0].Agent == nil {
			b.Fatalf("%d items, %v", len(items), err)
		}
		i++
	}
	lat.report(b)
}

// BenchmarkGetCall reads a call with its agent, customer and 10 turns, among
// 10,000 calls and 100,000 turns.
func BenchmarkGetCall(b *testing.B) {
	ctx := b.Context()
	s, org, ids := callsFixture(b, 10_000, 10)
	r := rand.New(rand.NewPCG(1, 2))
	var lat latencies
	for b.Loop() {
		id := ids[r.IntN(len(ids))]
		t0 := time.Now()
		d, err := s.GetCall(ctx, org, id)
		lat = append(lat, time.Since(t0))
		if err != nil || len(d.Turns) != 10 {
			b.Fatalf("%d turns, %v", len(d.Turns), err)
		}
	}
	lat.report(b)
}

// BenchmarkAppendTurn appends one turn (one transaction, one commit) to a
// call, in a database of 1,000 calls and 10,000 turns.
func BenchmarkAppendTurn(b *testing.B) {
	ctx := b.Context()
	s, org, ids := callsFixture(b, 1_000, 10)
	call := ids[len(ids)-1]
	seq := 10
	var lat latencies
	for b.Loop() {
		seq++
		turn := []store.Turn{{
			Seq: seq, Speaker: store.SpeakerCaller, Text: "and how long does the delivery take to Berlin?",
			StartedAt: time.Now(), EndedAt: time.Now(), Latency: &store.Latency{STTMs: 140},
		}}
		t0 := time.Now()
		err := s.AppendTurns(ctx, org, call, turn)
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	lat.report(b)
}

// BenchmarkSimilarPatterns10k finds the top 5 of 10,000 patterns of 768
// dimensions, exactly. The first search loads the organization's
// embeddings into memory; it is reported apart, as load-ms.
func BenchmarkSimilarPatterns10k(b *testing.B) {
	ctx := b.Context()
	s := openTest(b)
	o := must[store.Organization](b)(s.CreateOrg(ctx, store.Organization{Name: "bench"}))
	r := rand.New(rand.NewPCG(3, 4))
	created := time.Now().UTC()
	err := s.withTx(ctx, "seed", func(tx *sql.Tx) error {
		for i := range 10_000 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO patterns (`+patternCols+`)
				VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?)`,
				newID(), o.ID, []string{"", "agent-1", "agent-2"}[i%3], []string{"faq", "objection"}[i%2],
				fmt.Sprint("trigger ", i), fmt.Sprint("response ", i), encodeVector(randomUnit(r)),
				micros(created), micros(created)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	queries := make([][]float32, 64)
	for i := range queries {
		queries[i] = randomUnit(r)
	}
	t0 := time.Now()
	if _, err := s.SimilarPatterns(ctx, o.ID, store.PatternFilter{}, queries[0], 5); err != nil {
		b.Fatal(err)
	}
	load := time.Since(t0)

	var lat latencies
	i := 0
	for b.Loop() {
		t0 := time.Now()
		got, err := s.SimilarPatterns(ctx, o.ID, store.PatternFilter{}, queries[i%len(queries)], 5)
		lat = append(lat, time.Since(t0))
		if err != nil || len(got) != 5 {
			b.Fatalf("%d patterns, %v", len(got), err)
		}
		i++
	}
	lat.report(b)
	b.ReportMetric(float64(load.Microseconds())/1e3, "load-ms")
}
