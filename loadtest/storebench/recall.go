package main

import (
	"context"
	"runtime"
	"slices"
	"sync"

	"github.com/iace/iace/loadtest/storebench/dataset"
	"github.com/iace/iace/store"
)

// recall measures recall@k of SimilarPatterns against an exact search in Go
// over every embedding (regenerated from the seed), without a filter and
// with an agent filter (the agent's patterns and the org-wide ones).
func recall(ctx context.Context, s store.Store, g *dataset.Gen, c config) (plain, filtered float64, err error) {
	embs := make([][]float32, g.Patterns)
	agents := make([]store.AgentID, g.Patterns)
	parallel(g.Patterns, func(i int) {
		p := g.Pattern(i)
		embs[i], agents[i] = p.Embedding, p.AgentID
	})
	type query struct {
		q     []float32
		agent store.AgentID
		exact []int
	}
	qs := make([]query, c.recallN)
	for j := range qs {
		qs[j] = query{q: g.Query(3_000_000 + j)}
		if j%2 == 1 {
			qs[j].agent = g.AgentID(j % g.Agents)
		}
	}
	parallel(len(qs), func(j int) {
		qs[j].exact = exactTopK(embs, agents, qs[j].q, qs[j].agent, c.k)
	})
	var sum [2]float64
	var n [2]int
	for _, q := range qs {
		got, err := s.SimilarPatterns(ctx, benchOrg, store.PatternFilter{AgentID: q.agent}, q.q, c.k)
		if err != nil {
			return 0, 0, err
		}
		want := map[store.PatternID]bool{}
		for _, i := range q.exact {
			want[g.PatternID(i)] = true
		}
		hit := 0
		for _, sp := range got {
			if want[sp.Pattern.ID] {
				hit++
			}
		}
		b := 0
		if q.agent != "" {
			b = 1
		}
		sum[b] += float64(hit) / float64(len(q.exact))
		n[b]++
	}
	return sum[0] / float64(max(n[0], 1)), sum[1] / float64(max(n[1], 1)), nil
}

// exactTopK returns the indexes of the k embeddings most similar to q
// (cosine: the vectors are unit length), among the agent's and the org-wide
// ones when agent is set.
func exactTopK(embs [][]float32, agents []store.AgentID, q []float32, agent store.AgentID, k int) []int {
	type scored struct {
		i   int
		sim float64
	}
	top := make([]scored, 0, k+1)
	for i, e := range embs {
		if agent != "" && agents[i] != agent && agents[i] != "" {
			continue
		}
		var dot float64
		for d, x := range e {
			dot += float64(x) * float64(q[d])
		}
		if len(top) == k && dot <= top[k-1].sim {
			continue
		}
		top = append(top, scored{i, dot})
		slices.SortFunc(top, func(a, b scored) int {
			switch {
			case a.sim > b.sim:
				return -1
			case a.sim < b.sim:
				return 1
			}
			return 0
		})
		if len(top) > k {
			top = top[:k]
		}
	}
	out := make([]int, len(top))
	for i, t := range top {
		out[i] = t.i
	}
	return out
}

// parallel runs fn(0..n-1) on every CPU.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				fn(i)
			}
		})
	}
	wg.Wait()
}
