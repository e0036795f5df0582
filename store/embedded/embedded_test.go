package embedded

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/migrations"
	"github.com/iace/iace/store"
)

var _ store.Store = (*Store)(nil)

// openTest opens a fresh, migrated database in the test's temporary directory.
func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Path: filepath.Join(t.TempDir(), "iace.db"), Migrate: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// fixture is an organization with an agent and a customer.
type fixture struct {
	org      store.OrgID
	agent    store.Agent
	customer store.Customer
}

func newFixture(ctx context.Context, t testing.TB, s *Store, name string) fixture {
	t.Helper()
	o, err := s.CreateOrg(ctx, store.Organization{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAgent(ctx, store.Agent{OrgID: o.ID, Name: name + " agent", Greeting: "Hello"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateCustomer(ctx, store.Customer{OrgID: o.ID, Phone: "+15550000001", Name: name + " customer"})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{org: o.ID, agent: a, customer: c}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func TestOpen(t *testing.T) {
	ctx := t.Context()

	t.Run("refuses an empty path or a memory database", func(t *testing.T) {
		for _, p := range []string{"", ":memory:"} {
			_, err := Open(ctx, Config{Path: p})
			wantErr(t, err, store.ErrInvalid)
		}
	})

	t.Run("creates the directory and sets WAL, foreign keys and synchronous NORMAL", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a", "b", "iace.db")
		s, err := Open(ctx, Config{Path: path, Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		for _, db := range []struct {
			name string
			q    func(string) (string, error)
		}{
			{"writer", func(p string) (v string, err error) { return v, s.w.QueryRowContext(ctx, "PRAGMA "+p).Scan(&v) }},
			{"reader", func(p string) (v string, err error) { return v, s.r.QueryRowContext(ctx, "PRAGMA "+p).Scan(&v) }},
		} {
			for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "1", "busy_timeout": "5000"} {
				got, err := db.q(pragma)
				if err != nil || got != want {
					t.Errorf("%s: PRAGMA %s = %q, %v; want %q", db.name, pragma, got, err, want)
				}
			}
		}
		if _, err := s.r.ExecContext(ctx, `INSERT INTO orgs (id, name, created_at) VALUES ('x', 'x', 0)`); err == nil {
			t.Error("a reader connection wrote")
		}
	})

	t.Run("keeps the data across Close and a second Open", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "iace.db")
		s, err := Open(ctx, Config{Path: path, Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		f := newFixture(ctx, t, s, "acme")
		c := must[store.Call](t)(s.CreateCall(ctx, store.Call{OrgID: f.org, AgentID: f.agent.ID, CustomerID: f.customer.ID}))
		turns := []store.Turn{{Seq: 1, Speaker: store.SpeakerCaller, Text: "hello there", StartedAt: time.Now()}}
		if _, err := s.FinishCall(ctx, store.CallEnd{OrgID: f.org, CallID: c.ID, Outcome: store.OutcomeResolved, Turns: turns}); err != nil {
			t.Fatal(err)
		}
		p := must[store.Pattern](t)(s.CreatePattern(ctx, store.Pattern{OrgID: f.org, Trigger: "hi", Embedding: randomUnit(rand.New(rand.NewPCG(1, 1)))}))
		want := must[store.CallDetail](t)(s.GetCall(ctx, f.org, c.ID))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}

		s, err = Open(ctx, Config{Path: path, Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		got := must[store.CallDetail](t)(s.GetCall(ctx, f.org, c.ID))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("after reopen\n got %+v\nwant %+v", got, want)
		}
		hits := must[[]store.TranscriptHit](t)(firstPage(s.SearchTranscripts(ctx, f.org, "HELLO", store.Page{})))
		if len(hits) != 1 {
			t.Errorf("search after reopen: %d hits, want 1", len(hits))
		}
		sim := must[[]store.ScoredPattern](t)(s.SimilarPatterns(ctx, f.org, store.PatternFilter{}, p.Embedding, 1))
		if len(sim) != 1 || sim[0].Pattern.ID != p.ID || math.Abs(sim[0].Similarity-1) > 1e-5 {
			t.Errorf("similar after reopen: %+v", sim)
		}
	})
}

// The down migrations remove everything the up migrations made, and the up
// migration then applies again.
func TestMigrationsDownAndUp(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	newFixture(ctx, t, s, "acme")
	objects := func() int {
		t.Helper()
		var n int
		if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'goose%' AND name NOT LIKE 'sqlite_%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if objects() == 0 {
		t.Fatal("no schema after Open")
	}
	fsys, err := migrations.FS(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for range files { // Down rolls back one migration
		if err := migrations.Down(ctx, s.w, migrations.SQLite); err != nil {
			t.Fatal(err)
		}
	}
	if n := objects(); n != 0 {
		t.Errorf("%d schema objects left after down", n)
	}
	if err := migrations.Up(ctx, s.w, migrations.SQLite); err != nil {
		t.Fatal(err)
	}
	newFixture(ctx, t, s, "again")
}

// firstPage drops a list's cursor.
func firstPage[T any](items []T, _ string, err error) ([]T, error) { return items, err }

func second[T any](_ T, err error) error          { return err }
func third[T any](_ T, _ string, err error) error { return err }

func TestSearchTranscripts(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	a, b := newFixture(ctx, t, s, "a"), newFixture(ctx, t, s, "b")
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	texts := []string{
		"I want to cancel my order",        // 1
		"Cancellation fees? Cancel it!",    // 2
		"can you CANCEL the ORDER please",  // 3
		"ordering is cancelled",            // 4
		"L'ÉCOLE est fermée, cancel order", // 5
		"NOT OR AND \"quoted\" order*",     // 6
	}
	call := must[store.Call](t)(s.CreateCall(ctx, store.Call{OrgID: a.org, AgentID: a.agent.ID, StartedAt: base}))
	var turns []store.Turn
	for i, text := range texts {
		turns = append(turns, store.Turn{Seq: i + 1, Speaker: store.SpeakerCaller, Text: text, StartedAt: base.Add(time.Duration(i) * time.Second)})
	}
	if err := s.AppendTurns(ctx, a.org, call.ID, turns); err != nil {
		t.Fatal(err)
	}
	other := must[store.Call](t)(s.CreateCall(ctx, store.Call{OrgID: b.org, AgentID: b.agent.ID, StartedAt: base}))
	if err := s.AppendTurns(ctx, b.org, other.ID, []store.Turn{{Seq: 1, Speaker: store.SpeakerCaller, Text: "cancel order", StartedAt: base.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		words string
		want  []int // seqs, newest first
	}{
		{"cancel", []int{5, 3, 2, 1}},
		{"Cancel ORDER", []int{5, 3, 1}},
		{"order, cancel!", []int{5, 3, 1}},
		{"cancelled", []int{4}},
		{"canc", nil},
		{"école", []int{5}},
		{"FERMÉE", []int{5}},
		{"l", []int{5}},
		{"not or", []int{6}},
		{`"quoted"`, []int{6}},
		{"order*", []int{6, 5, 3, 1}},
		{"cancel -order", []int{5, 3, 1}},
		{" ,;- ", nil},
	} {
		hits := must[[]store.TranscriptHit](t)(firstPage(s.SearchTranscripts(ctx, a.org, tc.words, store.Page{})))
		var got []int
		for _, h := range hits {
			if h.CallID != call.ID || h.Turn.CallID != call.ID {
				t.Errorf("%q: hit of call %s", tc.words, h.CallID)
			}
			got = append(got, h.Turn.Seq)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("search %q: seqs %v, want %v", tc.words, got, tc.want)
		}
	}

	t.Run("pages newest turn first, then by call and seq", func(t *testing.T) {
		same := must[store.Call](t)(s.CreateCall(ctx, store.Call{OrgID: a.org, AgentID: a.agent.ID, StartedAt: base}))
		var more []store.Turn
		for i := range 9 {
			more = append(more, store.Turn{Seq: i + 1, Speaker: store.SpeakerAgent, Text: "refund", StartedAt: base.Add(time.Duration(i/3) * time.Second)})
		}
		if err := s.AppendTurns(ctx, a.org, same.ID, more); err != nil {
			t.Fatal(err)
		}
		var got []int
		cur := ""
		for {
			hits, next, err := s.SearchTranscripts(ctx, a.org, "refund", store.Page{Limit: 2, Cursor: cur})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				got = append(got, h.Turn.Seq)
			}
			if next == "" {
				break
			}
			cur = next
		}
		if want := []int{7, 8, 9, 4, 5, 6, 1, 2, 3}; !slices.Equal(got, want) {
			t.Errorf("seqs %v, want %v", got, want)
		}
	})
}

// SQLite's lower() and LIKE fold ASCII only; the store folds in Go.
func TestSearchCustomersFoldsUnicode(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	f := newFixture(ctx, t, s, "a")
	zoe := must[store.Customer](t)(s.CreateCustomer(ctx, store.Customer{OrgID: f.org, Name: "Zoë Åström", Phone: "+4670000001", Email: "ZOE@Example.SE"}))
	for _, q := range []string{"ÅSTRÖM", "zoË", "zoe@example.se", "Example.se"} {
		got := must[[]store.Customer](t)(firstPage(s.SearchCustomers(ctx, f.org, q, store.Page{})))
		if len(got) != 1 || got[0].ID != zoe.ID {
			t.Errorf("search %q: %+v", q, got)
		}
	}
	// The fields are searched apart: a query cannot span two of them.
	if got := must[[]store.Customer](t)(firstPage(s.SearchCustomers(ctx, f.org, "Åström+467", store.Page{}))); len(got) != 0 {
		t.Errorf("a query across name and phone matched %+v", got)
	}
}

func TestInputs(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	f := newFixture(ctx, t, s, "a")
	zero := make([]float32, store.EmbeddingDims)
	for name, err := range map[string]error{
		"a cursor that is not base64":      third(s.ListCalls(ctx, f.org, store.CallFilter{}, store.Page{Cursor: "%%%"})),
		"a cursor of another list":         third(s.ListCalls(ctx, f.org, store.CallFilter{}, store.Page{Cursor: cursor{List: listPatterns}.encode()})),
		"a search without a word":          third(s.SearchTranscripts(ctx, f.org, " \t ", store.Page{})),
		"k of 0":                           second(s.SimilarPatterns(ctx, f.org, store.PatternFilter{}, randomUnit(rand.New(rand.NewPCG(1, 1))), 0)),
		"the zero vector as a query":       second(s.SimilarPatterns(ctx, f.org, store.PatternFilter{}, zero, 5)),
		"an embedding holding NaN":         second(s.CreatePattern(ctx, store.Pattern{OrgID: f.org, Trigger: "t", Embedding: append(zero[1:], float32(math.NaN()))})),
		"a turn of another call":           s.AppendTurns(ctx, f.org, "c1", []store.Turn{{CallID: "c2", Seq: 1, Speaker: store.SpeakerAgent}}),
		"a path the driver would cut at ?": second(Open(ctx, Config{Path: filepath.Join(t.TempDir(), "a?b.db")})),
	} {
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", name, err)
		}
	}
}

// ListCalls reads a page with its agents and customers in one query,
// whatever the page size.
func TestListCallsIsOneQuery(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	f := newFixture(ctx, t, s, "a")
	for range 210 {
		must[store.Call](t)(s.CreateCall(ctx, store.Call{OrgID: f.org, AgentID: f.agent.ID, CustomerID: f.customer.ID}))
	}
	for _, limit := range []int{1, 50, 200} {
		before := s.queries.Load()
		items := must[[]store.CallListItem](t)(firstPage(s.ListCalls(ctx, f.org, store.CallFilter{}, store.Page{Limit: limit})))
		if n := s.queries.Load() - before; n != 1 || len(items) != limit {
			t.Errorf("a page of %d: %d items in %d queries", limit, len(items), n)
		}
		for _, it := range items {
			if it.Agent == nil || it.Customer == nil {
				t.Fatalf("item without agent or customer: %+v", it)
			}
		}
	}
}

// randomUnit is a random unit vector of EmbeddingDims dimensions.
func randomUnit(r *rand.Rand) []float32 {
	v := make([]float32, store.EmbeddingDims)
	var n float64
	for i := range v {
		v[i] = float32(r.NormFloat64())
		n += float64(v[i]) * float64(v[i])
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / math.Sqrt(n))
	}
	return v
}

// exactTop is the reference answer: cosine in float64, sorted.
func exactTop(ps []store.Pattern, q []float32, k int) []store.PatternID {
	type scored struct {
		id  store.PatternID
		sim float64
	}
	var all []scored
	for _, p := range ps {
		var d, nq, np float64
		for i := range q {
			d += float64(q[i]) * float64(p.Embedding[i])
			nq += float64(q[i]) * float64(q[i])
			np += float64(p.Embedding[i]) * float64(p.Embedding[i])
		}
		all = append(all, scored{p.ID, d / math.Sqrt(nq*np)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].sim > all[j].sim })
	var ids []store.PatternID
	for _, s := range all[:min(k, len(all))] {
		ids = append(ids, s.id)
	}
	return ids
}

func TestSimilarPatterns(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	a, b := newFixture(ctx, t, s, "a"), newFixture(ctx, t, s, "b")
	r := rand.New(rand.NewPCG(7, 7))
	kinds := []string{"faq", "objection"}
	var all []store.Pattern
	for i := range 300 {
		p := store.Pattern{OrgID: a.org, Kind: kinds[i%2], Trigger: fmt.Sprint("t", i), Embedding: randomUnit(r)}
		switch i % 3 {
		case 0:
			p.AgentID = a.agent.ID
		case 1:
			p.AgentID = "someone-else"
		}
		// Some vectors are not unit length: cosine must not care.
		if i%7 == 0 {
			for j := range p.Embedding {
				p.Embedding[j] *= 3
			}
		}
		all = append(all, must[store.Pattern](t)(s.CreatePattern(ctx, p)))
	}
	must[store.Pattern](t)(s.CreatePattern(ctx, store.Pattern{OrgID: b.org, Trigger: "b", Embedding: all[0].Embedding}))

	check := func(t *testing.T, f store.PatternFilter, candidates []store.Pattern) {
		t.Helper()
		for range 5 {
			q := randomUnit(r)
			got := must[[]store.ScoredPattern](t)(s.SimilarPatterns(ctx, a.org, f, q, 10))
			want := exactTop(candidates, q, 10)
			var ids []store.PatternID
			for i, g := range got {
				ids = append(ids, g.Pattern.ID)
				if i > 0 && g.Similarity > got[i-1].Similarity {
					t.Errorf("not best first at %d", i)
				}
				if len(g.Pattern.Embedding) != store.EmbeddingDims || g.Pattern.OrgID != a.org {
					t.Errorf("pattern %+v", g.Pattern.ID)
				}
			}
			if !slices.Equal(ids, want) {
				t.Errorf("filter %+v: %v, want %v", f, ids, want)
			}
		}
	}
	t.Run("ranks exactly like float64 cosine", func(t *testing.T) {
		check(t, store.PatternFilter{}, all)
	})
	t.Run("filters by agent (with org-wide patterns) and kind", func(t *testing.T) {
		var sel []store.Pattern
		for _, p := range all {
			if (p.AgentID == a.agent.ID || p.AgentID == "") && p.Kind == "faq" {
				sel = append(sel, p)
			}
		}
		check(t, store.PatternFilter{AgentID: a.agent.ID, Kind: "faq"}, sel)
	})
	t.Run("a pattern is its own best match, similarity 1", func(t *testing.T) {
		got := must[[]store.ScoredPattern](t)(s.SimilarPatterns(ctx, a.org, store.PatternFilter{}, all[42].Embedding, 1))
		if len(got) != 1 || got[0].Pattern.ID != all[42].ID || math.Abs(got[0].Similarity-1) > 1e-5 {
			t.Errorf("%+v", got)
		}
	})
	t.Run("follows creates, deletes and uses", func(t *testing.T) {
		q := randomUnit(r)
		p := must[store.Pattern](t)(s.CreatePattern(ctx, store.Pattern{OrgID: a.org, Trigger: "new", Embedding: q}))
		if err := s.RecordPatternUse(ctx, a.org, p.ID, true); err != nil {
			t.Fatal(err)
		}
		got := must[[]store.ScoredPattern](t)(s.SimilarPatterns(ctx, a.org, store.PatternFilter{}, q, 1))
		if len(got) != 1 || got[0].Pattern.ID != p.ID || got[0].Pattern.Uses != 1 || got[0].Pattern.Successes != 1 {
			t.Fatalf("after create: %+v", got)
		}
		if err := s.DeletePattern(ctx, a.org, p.ID); err != nil {
			t.Fatal(err)
		}
		got = must[[]store.ScoredPattern](t)(s.SimilarPatterns(ctx, a.org, store.PatternFilter{}, q, 1000))
		if len(got) != 100 {
			t.Errorf("after delete: %d patterns, want k capped at 100", len(got))
		}
		for _, g := range got {
			if g.Pattern.ID == p.ID {
				t.Error("deleted pattern found")
			}
		}
		check(t, store.PatternFilter{}, all)
	})
	t.Run("stays in its organization", func(t *testing.T) {
		got := must[[]store.ScoredPattern](t)(s.SimilarPatterns(ctx, b.org, store.PatternFilter{}, all[0].Embedding, 100))
		if len(got) != 1 || got[0].Pattern.OrgID != b.org {
			t.Errorf("%+v", got)
		}
	})
	t.Run("concurrent searches and writes agree with the database", func(t *testing.T) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(w), 1))
				for i := range 20 {
					if w == 0 {
						p := must[store.Pattern](t)(s.CreatePattern(ctx, store.Pattern{OrgID: a.org, Trigger: "c", Embedding: randomUnit(r)}))
						if i%2 == 0 {
							if err := s.DeletePattern(ctx, a.org, p.ID); err != nil {
								t.Error(err)
							}
						}
						continue
					}
					if _, err := s.SimilarPatterns(ctx, a.org, store.PatternFilter{}, randomUnit(r), 5); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM patterns WHERE org_id = ?`, a.org).Scan(&n); err != nil {
			t.Fatal(err)
		}
		got := must[[]store.ScoredPattern](t)(s.SimilarPatterns(ctx, a.org, store.PatternFilter{}, randomUnit(r), 100))
		snap := must[*orgVectors](t)(s.vec.snapshot(ctx, a.org, nil))
		if len(snap.ids) != n || len(got) != 100 {
			t.Errorf("index holds %d patterns, database %d", len(snap.ids), n)
		}
	})
}

// TestACallersLatestCallsAreReadFromTheirOwnIndex: the read at every
// call's start (ListCalls by customer and status) must not walk the
// organization's whole history: its plan searches the index with both
// equalities.
func TestACallersLatestCallsAreReadFromTheirOwnIndex(t *testing.T) {
	s := openTest(t)
	q := `EXPLAIN QUERY PLAN ` + listItemSelect + ` WHERE c.org_id = ? AND c.status = ? AND c.customer_id = ? ORDER BY c.started_at DESC, c.id DESC LIMIT ?`
	rows, err := s.r.QueryContext(t.Context(), q, "o", store.CallEnded, "cu", 5)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(plan) == 0 || !strings.Contains(plan[0], "calls_customer_status") {
		t.Errorf("plan %q: want the calls searched by calls_customer_status", plan)
	}
}
