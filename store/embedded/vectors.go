package embedded

import (
	"context"
	"encoding/binary"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/iace/iace/store"

	"golang.org/x/sync/singleflight"
)

// encodeVector is v as a BLOB of little-endian float32.
func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// decodeVectorTo reads a BLOB of little-endian float32 into dst, which is
// len(b)/4 long.
func decodeVectorTo(dst []float32, b []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// vectorIndex holds, per organization, a decoded copy of its patterns'
// embeddings, so that SimilarPatterns scans memory rather than decoding
// every BLOB on every query. An organization's copy is loaded on its first
// search and then kept in step with pattern writes; each copy is an
// immutable snapshot, replaced whole, so a search never holds a lock.
type vectorIndex struct {
	mu   sync.Mutex
	orgs map[store.OrgID]*orgVectors
	// gen counts each organization's pattern writes; a load stores its
	// snapshot only if no write happened while it read.
	gen   map[store.OrgID]uint64
	loads singleflight.Group
}

func newVectorIndex() *vectorIndex {
	return &vectorIndex{orgs: map[store.OrgID]*orgVectors{}, gen: map[store.OrgID]uint64{}}
}

// orgVectors is one organization's patterns, as a search needs them. Row i
// is ids[i], its embedding vecs[i*dims:(i+1)*dims] and the inverse of that
// embedding's length inv[i] (0 for a zero vector).
//
// Snapshots built by with share their backing arrays with the snapshot they
// extend: an older snapshot only reads its first len(ids) rows, which the
// append never touches. withStatus, which changes a row, copies the one
// array it changes.
type orgVectors struct {
	ids      []store.PatternID
	agents   []store.AgentID
	kinds    []string
	statuses []store.PatternStatus
	vecs     []float32
	inv      []float32
}

const dims = store.EmbeddingDims

// snapshot returns org's vectors, loading them with load on first use.
func (x *vectorIndex) snapshot(ctx context.Context, org store.OrgID, load func(context.Context) (*orgVectors, error)) (*orgVectors, error) {
	x.mu.Lock()
	v, gen := x.orgs[org], x.gen[org]
	x.mu.Unlock()
	if v != nil {
		return v, nil
	}
	// Keyed by generation too, so a search after a write never joins a
	// load that began before it.
	res, err, _ := x.loads.Do(string(org)+"\x00"+strconv.FormatUint(gen, 10), func() (any, error) {
		v, err := load(ctx)
		if err != nil {
			return nil, err
		}
		x.mu.Lock()
		if x.gen[org] == gen && x.orgs[org] == nil {
			x.orgs[org] = v
		}
		x.mu.Unlock()
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*orgVectors), nil
}

// update applies a committed pattern write to org's snapshot, if one is
// loaded. Writes of one organization must be applied in commit order, one
// at a time (the Store serializes pattern writes); change must be idempotent
// and may not modify its argument.
func (x *vectorIndex) update(org store.OrgID, change func(*orgVectors) *orgVectors) {
	x.mu.Lock()
	x.gen[org]++
	cur := x.orgs[org]
	x.mu.Unlock()
	if cur == nil {
		return
	}
	next := change(cur) // outside the lock: a removal copies the whole snapshot
	x.mu.Lock()
	if x.orgs[org] == cur {
		x.orgs[org] = next
	} else {
		// A load stored a snapshot meanwhile; it may or may not have seen
		// the write, so drop it and let the next search load again.
		delete(x.orgs, org)
	}
	x.mu.Unlock()
}

// with returns v plus (or with replaced) a pattern.
func (v *orgVectors) with(p *store.Pattern) *orgVectors {
	next := v.without(p.ID)
	if next == v {
		// Not there: extend v's arrays (see orgVectors).
		next = &orgVectors{ids: v.ids, agents: v.agents, kinds: v.kinds, statuses: v.statuses, vecs: v.vecs, inv: v.inv}
	}
	next.ids = append(next.ids, p.ID)
	next.agents = append(next.agents, p.AgentID)
	next.kinds = append(next.kinds, p.Kind)
	next.statuses = append(next.statuses, p.Status)
	next.vecs = append(next.vecs, p.Embedding...)
	next.inv = append(next.inv, invNorm(p.Embedding))
	return next
}

// without returns v less a pattern, or v itself when it is not there.
func (v *orgVectors) without(id store.PatternID) *orgVectors {
	at := -1
	for i, x := range v.ids {
		if x == id {
			at = i
			break
		}
	}
	if at < 0 {
		return v
	}
	n := len(v.ids) - 1
	next := &orgVectors{
		ids:      make([]store.PatternID, 0, n+1),
		agents:   make([]store.AgentID, 0, n+1),
		kinds:    make([]string, 0, n+1),
		statuses: make([]store.PatternStatus, 0, n+1),
		vecs:     make([]float32, 0, (n+1)*dims),
		inv:      make([]float32, 0, n+1),
	}
	next.ids = append(append(next.ids, v.ids[:at]...), v.ids[at+1:]...)
	next.agents = append(append(next.agents, v.agents[:at]...), v.agents[at+1:]...)
	next.kinds = append(append(next.kinds, v.kinds[:at]...), v.kinds[at+1:]...)
	next.statuses = append(append(next.statuses, v.statuses[:at]...), v.statuses[at+1:]...)
	next.vecs = append(append(next.vecs, v.vecs[:at*dims]...), v.vecs[(at+1)*dims:]...)
	next.inv = append(append(next.inv, v.inv[:at]...), v.inv[at+1:]...)
	return next
}

// withStatus returns v with a pattern's status changed, or v itself when
// the pattern is not there or has that status already. The new snapshot
// has its own copy of the statuses and shares the rest, which it does not
// change.
func (v *orgVectors) withStatus(id store.PatternID, status store.PatternStatus) *orgVectors {
	at := slices.Index(v.ids, id)
	if at < 0 || v.statuses[at] == status {
		return v
	}
	// Full slice expressions: an append to the new snapshot (with) must
	// not write into arrays the old one may be extended through too.
	n := len(v.ids)
	next := &orgVectors{ids: v.ids[:n:n], agents: v.agents[:n:n], kinds: v.kinds[:n:n],
		statuses: slices.Clone(v.statuses[:n]), vecs: v.vecs[: n*dims : n*dims], inv: v.inv[:n:n]}
	next.statuses[at] = status
	return next
}

// embedding returns row i's embedding (shared: do not modify).
func (v *orgVectors) embedding(i int) []float32 { return v.vecs[i*dims : (i+1)*dims : (i+1)*dims] }

// invNorm is 1/|v|, 0 for a zero vector.
func invNorm(v []float32) float32 {
	n := dot(v, v)
	if n == 0 {
		return 0
	}
	return float32(1 / math.Sqrt(float64(n)))
}

// dot is the dot product of two vectors of the same length. Eight partial
// sums break the dependency chain of a single accumulator, which is what
// bounds a naive loop, and keep float32 rounding small over 768 terms.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa, bb := a[i:i+8:i+8], b[i:i+8:i+8]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
		s4 += aa[4] * bb[4]
		s5 += aa[5] * bb[5]
		s6 += aa[6] * bb[6]
		s7 += aa[7] * bb[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// hit is a row of a snapshot with its similarity to the query.
type hit struct {
	row int
	id  store.PatternID
	sim float32
}

// worse orders hits: lower similarity, then, for a stable order among
// equals, the larger id.
func worse(a, b hit) bool {
	if a.sim != b.sim {
		return a.sim < b.sim
	}
	return a.id > b.id
}

// parallelRows is the snapshot size from which a search splits its scan
// across the CPUs: below it, starting goroutines costs more than it saves.
const parallelRows = 4096

// search returns the k rows most similar to q (cosine) that pass f, best
// first. It scans every row: exact, no index. A large snapshot is scanned
// in GOMAXPROCS parts at once, each keeping its own top k.
func (v *orgVectors) search(f store.PatternFilter, q []float32, k int) []hit {
	qinv := invNorm(q)
	n := len(v.ids)
	parts := min(runtime.GOMAXPROCS(0), n/(parallelRows/2))
	var top []hit
	if parts < 2 {
		top = v.scan(f, q, qinv, k, 0, n)
	} else {
		tops := make([][]hit, parts)
		var wg sync.WaitGroup
		for p := range parts {
			wg.Go(func() { tops[p] = v.scan(f, q, qinv, k, p*n/parts, (p+1)*n/parts) })
		}
		wg.Wait()
		top = make([]hit, 0, k*parts)
		for _, t := range tops {
			top = append(top, t...)
		}
	}
	slices.SortFunc(top, func(a, b hit) int {
		if worse(b, a) {
			return -1
		}
		if worse(a, b) {
			return 1
		}
		return 0
	})
	return top[:min(k, len(top))]
}

// scan returns, in no order, the k best rows of [lo, hi) that pass f.
func (v *orgVectors) scan(f store.PatternFilter, q []float32, qinv float32, k, lo, hi int) []hit {
	top := make([]hit, 0, k) // a min-heap by worse: top[0] is the worst kept
	for i := lo; i < hi; i++ {
		if f.AgentID != "" && v.agents[i] != "" && v.agents[i] != f.AgentID {
			continue
		}
		if f.Kind != "" && v.kinds[i] != f.Kind {
			continue
		}
		if f.Status != "" && v.statuses[i] != f.Status {
			continue
		}
		h := hit{row: i, id: v.ids[i], sim: dot(q, v.vecs[i*dims:(i+1)*dims]) * v.inv[i] * qinv}
		if len(top) < k {
			top = append(top, h)
			siftUp(top, len(top)-1)
			continue
		}
		if worse(top[0], h) {
			top[0] = h
			siftDown(top, 0)
		}
	}
	return top
}

func siftUp(h []hit, i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !worse(h[i], h[parent]) {
			return
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func siftDown(h []hit, i int) {
	for {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && worse(h[l], h[least]) {
			least = l
		}
		if r < len(h) && worse(h[r], h[least]) {
			least = r
		}
		if least == i {
			return
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}
