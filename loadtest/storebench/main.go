// Command storebench seeds a store with a production-sized data set and
// measures the latency of the reads and writes a call makes (list calls, a
// call with its transcript, one turn, similar patterns) and the recall of
// the approximate pattern search against an exact one.
//
//	go run ./loadtest/storebench -backend postgres -calls 100000 -turns-per-call 10 -patterns 100000
//	go run ./loadtest/storebench -backend embedded -calls 100000 -turns-per-call 10 -patterns 10000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/iace/iace/loadtest/storebench/dataset"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
	"github.com/iace/iace/store/postgres"
)

type config struct {
	backend  string
	url      string
	schema   string
	path     string
	calls    int
	turns    int
	patterns int
	n        int
	recallN  int
	k        int
	seed     uint64
	reuse    bool
	jsonOut  bool
}

func main() {
	var c config
	flag.StringVar(&c.backend, "backend", "postgres", "postgres or embedded")
	flag.StringVar(&c.url, "url", envOr("IACE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL URL (postgres backend)")
	flag.StringVar(&c.schema, "schema", "iace_bench", "PostgreSQL schema the data set lives in (dropped and re-created when seeding)")
	flag.StringVar(&c.path, "path", filepath.Join(os.TempDir(), "iace-storebench.db"), "database file (embedded backend)")
	flag.IntVar(&c.calls, "calls", 100000, "calls to seed")
	flag.IntVar(&c.turns, "turns-per-call", 10, "turns per call")
	flag.IntVar(&c.patterns, "patterns", 100000, "patterns to seed (768-dimensional embeddings)")
	flag.IntVar(&c.n, "n", 1000, "measured operations of each kind")
	flag.IntVar(&c.recallN, "recall-queries", 200, "queries for recall@k")
	flag.IntVar(&c.k, "k", 5, "similar patterns per query")
	flag.Uint64Var(&c.seed, "seed", 1, "data set seed")
	flag.BoolVar(&c.reuse, "reuse", false, "use the data set already seeded (same flags) instead of seeding")
	flag.BoolVar(&c.jsonOut, "json", false, "print the report as JSON")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storebench:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// report is what one run measured.
type report struct {
	Backend     string        `json:"backend"`
	CPUs        int           `json:"cpus"`
	Calls       int           `json:"calls"`
	Turns       int           `json:"turns"`
	Patterns    int           `json:"patterns"`
	Seeded      bool          `json:"seeded"`
	SeedTime    time.Duration `json:"seed_ns"`
	SeedSteps   []step        `json:"seed_steps"`
	Ops         []opStats     `json:"ops"`
	Recall      float64       `json:"recall_at_k"`
	RecallAgent float64       `json:"recall_at_k_agent_filter"`
	K           int           `json:"k"`
}

type step = dataset.Step

type opStats struct {
	Name string        `json:"name"`
	N    int           `json:"n"`
	P50  time.Duration `json:"p50_ns"`
	P95  time.Duration `json:"p95_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
}

func run(ctx context.Context, c config, w io.Writer) error {
	if c.calls < 1 || c.turns < 1 || c.patterns < c.k || c.n < 1 {
		return errors.New("need at least one call, one turn per call, k patterns and one operation")
	}
	g := dataset.New(c.seed, c.calls, c.turns, c.patterns)
	rep := report{Backend: c.backend, CPUs: runtime.NumCPU(), Calls: c.calls, Turns: c.calls * c.turns, Patterns: c.patterns, K: c.k}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "storebench: "+format+"\n", args...) }

	var (
		s   store.Store
		err error
	)
	start := time.Now()
	switch c.backend {
	case "postgres":
		if !c.reuse {
			logf("seeding PostgreSQL schema %s with COPY", c.schema)
			if rep.SeedSteps, err = seedPostgres(ctx, c, g, logf); err != nil {
				return err
			}
			rep.Seeded = true
		}
		s, err = postgres.Open(ctx, postgres.Config{URL: c.url, Schema: c.schema, MaxConns: 4})
	case "embedded":
		if !c.reuse {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if err := os.Remove(c.path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
		}
		var es *embedded.Store
		es, err = embedded.Open(ctx, embedded.Config{Path: c.path, Migrate: true})
		s = es
		if err == nil && !c.reuse {
			logf("seeding %s through the store API", c.path)
			rep.SeedSteps, err = dataset.Seed(ctx, s, g, "Bench", 1, logf)
			rep.Seeded = true
		}
	default:
		return fmt.Errorf("unknown backend %q (postgres or embedded)", c.backend)
	}
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	if rep.Seeded {
		rep.SeedTime = time.Since(start)
		logf("seeded in %v", rep.SeedTime.Round(time.Millisecond))
	}
	if _, err := s.GetOrg(ctx, benchOrg); err != nil {
		return fmt.Errorf("the data set is not there (run without -reuse): %w", err)
	}

	if rep.Ops, err = measure(ctx, s, g, c, logf); err != nil {
		return err
	}
	logf("recall@%d over %d queries (exact search in Go over %d embeddings)", c.k, c.recallN, c.patterns)
	if rep.Recall, rep.RecallAgent, err = recall(ctx, s, g, c); err != nil {
		return err
	}
	if c.jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(w, rep)
	return nil
}

// measure runs each operation c.n times after a warm-up, one at a time.
func measure(ctx context.Context, s store.Store, g *dataset.Gen, c config, logf func(string, ...any)) ([]opStats, error) {
	r := rand.New(rand.NewPCG(c.seed, 99))
	// Appended turns continue each call's seqs, above those of any earlier
	// run on a reused data set.
	appendSeq := c.turns + 1 + int(time.Now().Unix()%1_000_000)*100
	// Each operation prepares its arguments (a 768-dimensional query, a
	// turn) untimed and returns the timed call.
	ops := []struct {
		name    string
		prepare func(i int) func() error
	}{
		{"list-calls first page of 50 (agent, customer)", func(int) func() error {
			// The newest calls, as the calls page opens.
			return func() error {
				items, _, err := s.ListCalls(ctx, benchOrg, store.CallFilter{}, store.Page{Limit: 50})
				if err == nil && (len(items) != 50 || items[0].Agent == nil) {
					err = fmt.Errorf("a first page of %d calls, or without the agent", len(items))
				}
				return err
			}
		}},
		{"list-calls page of 50 at a random depth", func(int) func() error {
			// A page starting anywhere in the history, as scrolling reaches it.
			to := g.Start.Add(time.Duration(r.Int64N(int64(g.Span))))
			return func() error {
				items, _, err := s.ListCalls(ctx, benchOrg, store.CallFilter{To: to}, store.Page{Limit: 50})
				if err == nil && len(items) > 0 && items[0].Agent == nil {
					err = errors.New("a listed call has no agent")
				}
				return err
			}
		}},
		{"list-calls page of 50 at a random depth, agent filter", func(int) func() error {
			to := g.Start.Add(time.Duration(r.Int64N(int64(g.Span))))
			f := store.CallFilter{AgentID: g.AgentID(r.IntN(g.Agents)), To: to}
			return func() error {
				_, _, err := s.ListCalls(ctx, benchOrg, f, store.Page{Limit: 50})
				return err
			}
		}},
		{"get-call with transcript", func(int) func() error {
			id := g.CallID(r.IntN(g.Calls))
			return func() error {
				d, err := s.GetCall(ctx, benchOrg, id)
				if err == nil && len(d.Turns) < g.Turns {
					err = fmt.Errorf("call %s has %d turns", d.Call.ID, len(d.Turns))
				}
				return err
			}
		}},
		{"append-turns (one turn)", func(i int) func() error {
			call := i % g.Calls
			t := g.Turn(call, appendSeq+i/g.Calls, g.Call(call).StartedAt)
			t.Text = "An appended turn of the benchmark."
			return func() error { return s.AppendTurns(ctx, benchOrg, g.CallID(call), []store.Turn{t}) }
		}},
		{fmt.Sprintf("similar-patterns top-%d", c.k), func(i int) func() error {
			q := g.Query(1_000_000 + i)
			return func() error {
				_, err := s.SimilarPatterns(ctx, benchOrg, store.PatternFilter{}, q, c.k)
				return err
			}
		}},
		{fmt.Sprintf("similar-patterns top-%d, agent filter", c.k), func(i int) func() error {
			q, f := g.Query(2_000_000+i), store.PatternFilter{AgentID: g.AgentID(i % g.Agents)}
			return func() error {
				_, err := s.SimilarPatterns(ctx, benchOrg, f, q, c.k)
				return err
			}
		}},
	}
	out := make([]opStats, 0, len(ops))
	warm := max(20, c.n/20)
	next := 0 // operation index, unique across the run
	for _, op := range ops {
		logf("measuring %s", op.name)
		for range warm {
			if err := op.prepare(next)(); err != nil {
				return nil, fmt.Errorf("%s: %w", op.name, err)
			}
			next++
		}
		d := make([]time.Duration, c.n)
		for i := range c.n {
			fn := op.prepare(next)
			next++
			t0 := time.Now()
			err := fn()
			d[i] = time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op.name, err)
			}
		}
		slices.Sort(d)
		pct := func(p float64) time.Duration { return d[int(p*float64(len(d)-1))] }
		out = append(out, opStats{Name: op.name, N: c.n, P50: pct(0.50), P95: pct(0.95), P99: pct(0.99), Max: d[len(d)-1]})
	}
	return out, nil
}

func printReport(w io.Writer, r report) {
	fmt.Fprintf(w, "backend %s, %d CPUs: %d calls, %d turns, %d patterns (%d dimensions, %d clusters)\n",
		r.Backend, r.CPUs, r.Calls, r.Turns, r.Patterns, store.EmbeddingDims, dataset.Clusters)
	if r.Seeded {
		fmt.Fprintf(w, "seeded in %v:", r.SeedTime.Round(100*time.Millisecond))
		for _, s := range r.SeedSteps {
			fmt.Fprintf(w, " %s %v;", s.Name, s.Took.Round(100*time.Millisecond))
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "reused the data set seeded before")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tn\tp50\tp95\tp99\tmax\t")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }
	for _, o := range r.Ops {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", o.Name, o.N, ms(o.P50), ms(o.P95), ms(o.P99), ms(o.Max))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "recall@%d against exact search: %.4f (no filter), %.4f (agent filter)\n", r.K, r.Recall, r.RecallAgent)
}

// benchOrg is the data set's organization.
const benchOrg = dataset.DefaultOrg
