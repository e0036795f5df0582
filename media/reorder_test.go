package media

import (
	"fmt"
	"slices"
	"testing"
)

// collect runs seqs through a Reorder and returns what came out: the seq of
// each frame (frames carry their seq as one byte) or -1 for a concealed one.
func collect(depth int, seqs []int64) ([]int64, ReorderStats) {
	var out []int64
	r := NewReorder(depth, func(f []byte, concealed bool) {
		if concealed {
			out = append(out, -1)
			return
		}
		out = append(out, int64(f[0]))
	})
	for _, s := range seqs {
		r.Push(s, []byte{byte(s)})
	}
	return out, r.Stats()
}

func TestReorder(t *testing.T) {
	tests := []struct {
		name  string
		depth int
		in    []int64
		out   []int64
		stats ReorderStats
	}{
		{"in order passes straight through", 2, []int64{1, 2, 3, 4}, []int64{1, 2, 3, 4}, ReorderStats{}},
		{"a swapped pair is put back", 2, []int64{1, 3, 2, 4}, []int64{1, 2, 3, 4}, ReorderStats{Reordered: 1}},
		{"a lost frame is concealed after depth later frames", 2, []int64{1, 3, 4, 5}, []int64{1, -1, 3, 4, 5}, ReorderStats{Concealed: 1}},
		{"a frame later than depth is dropped as late", 2, []int64{1, 3, 4, 2, 5}, []int64{1, -1, 3, 4, 5}, ReorderStats{Concealed: 1, Late: 1}},
		{"duplicates are dropped", 2, []int64{1, 3, 3, 2}, []int64{1, 2, 3}, ReorderStats{Duplicates: 1, Reordered: 1}},
		{"a duplicate of an emitted frame is late", 2, []int64{1, 2, 2, 3}, []int64{1, 2, 3}, ReorderStats{Late: 1}},
		{"a burst of loss is concealed frame by frame", 1, []int64{1, 5, 6}, []int64{1, -1, -1, -1, 5, 6}, ReorderStats{Concealed: 3}},
		// 29 may still come: 30 waits behind it until depth later frames arrive.
		{"a jump past the window conceals all but the last depth holes", 2, []int64{1, 30}, append([]int64{1}, slices.Repeat([]int64{-1}, 27)...), ReorderStats{Concealed: 27}},
		{"a huge jump resynchronises without a flood of silence", 2, []int64{1, 2, 1000, 1001}, []int64{1, 2, 1000, 1001}, ReorderStats{Resyncs: 1}},
		{"the stream may start at any number", 2, []int64{500, 502, 501}, []int64{500, 501, 502}, ReorderStats{Reordered: 1}},
		{"a stream that restarts at a lower number resynchronises", 2, []int64{1000, 1001, 1002, 1, 2, 3},
			[]int64{1000, 1001, 1002, 1, 2, 3}, ReorderStats{Resyncs: 1}},
		{"a frame a second late is still only late", 2, append(seqRange(1, 60), 9), seqRange(1, 60), ReorderStats{Late: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.out { // frames carry their seq in one byte
				if tt.out[i] >= 0 {
					tt.out[i] %= 256
				}
			}
			out, st := collect(tt.depth, tt.in)
			if fmt.Sprint(out) != fmt.Sprint(tt.out) {
				t.Errorf("out %v, want %v", out, tt.out)
			}
			if st != tt.stats {
				t.Errorf("stats %+v, want %+v", st, tt.stats)
			}
		})
	}
}

func TestReorderDoesNotAllocate(t *testing.T) {
	r := NewReorder(2, func([]byte, bool) {})
	frame := make([]byte, 160)
	seq := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		r.Push(seq^1, frame) // every pair swapped
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame", allocs)
	}
}

// TestReorderPassesInOrderFramesUncopied: a frame that arrives in turn is
// handed on as it came, and no slot buffer is allocated for a stream that
// never reorders (the memory of a thousand calls).
func TestReorderPassesInOrderFramesUncopied(t *testing.T) {
	frame := make([]byte, 160)
	var copied int
	r := NewReorder(2, func(f []byte, _ bool) {
		if &f[0] != &frame[0] {
			copied++
		}
	})
	for seq := int64(100); seq < 200; seq++ {
		r.Push(seq, frame)
	}
	if copied != 0 {
		t.Errorf("%d of 100 in-order frames were copied before being handed on", copied)
	}
	for i, s := range r.slots {
		if s.data != nil {
			t.Errorf("slot %d holds a %d-byte buffer after an in-order stream", i, cap(s.data))
		}
	}
	r.Push(201, frame) // 200 is missing: 201 waits, in a buffer of its own
	r.Push(200, frame)
	if copied != 2 {
		t.Errorf("%d frames copied around a swapped pair, want 2 (the waiting one and the one due)", copied)
	}
}

// seqRange is from, from+1, ..., to.
func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// TestAStrayChunkNumberDoesNotMuteTheCall: one frame whose chunk number is
// wildly off (a bug or a forged frame) must not make every later frame look
// late: the buffer resynchronises on the jump and again on the way back.
func TestAStrayChunkNumberDoesNotMuteTheCall(t *testing.T) {
	var got []int64
	r := NewReorder(2, func(f []byte, concealed bool) {
		if concealed {
			got = append(got, -1)
			return
		}
		got = append(got, int64(f[0])) // frames 1..100 carry their number
	})
	for _, s := range seqRange(1, 50) {
		r.Push(s, []byte{byte(s)})
	}
	r.Push(1e9, []byte{0})
	for _, s := range seqRange(51, 100) {
		r.Push(s, []byte{byte(s)})
	}
	var real []int64
	for _, s := range got {
		if s > 0 {
			real = append(real, s)
		}
	}
	if want := seqRange(1, 100); fmt.Sprint(real) != fmt.Sprint(want) {
		t.Errorf("frames out %v, want 1 to 100", real)
	}
	if st := r.Stats(); st.Late != 0 || st.Concealed != 0 {
		t.Errorf("stats %+v: no frame of 51 to 100 may be dropped as late or concealed", st)
	}
}

// BenchmarkReorder is one frame through the buffer, every pair swapped: the
// per-frame cost of reordering must not allocate.
func BenchmarkReorder(b *testing.B) {
	r := NewReorder(2, func([]byte, bool) {})
	frame := make([]byte, 160)
	b.ReportAllocs()
	seq := int64(0)
	for b.Loop() {
		seq++
		r.Push(seq^1, frame)
	}
}
