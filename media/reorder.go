package media

// Reorder puts frames that arrive out of order back in sequence and conceals
// the ones that never come. Telnyx does not guarantee frame order (docs/protocols/telnyx.md
// 1): frames carry a chunk counter. Reorder holds frames only while one is
// missing, at most Depth frames, so in-order streams pass through with no delay.
//
// It is driven by arrivals, not a clock: a hole is given up (concealed) once
// Depth later frames have arrived. A jump of more than about a second of
// frames, forward or back, starts over at the new position instead. Not
// safe for concurrent use.
type Reorder struct {
	depth   int64
	slots   []reorderSlot
	next    int64 // next sequence number to emit; -1 before the first frame
	maxSeen int64
	last    int // length of the last emitted frame, for concealment
	emit    func(frame []byte, concealed bool)
	stats   ReorderStats
}

type reorderSlot struct {
	seq  int64
	data []byte
	full bool
}

// ReorderStats counts what the buffer did.
type ReorderStats struct {
	// Reordered frames arrived after a later one and were put back in place.
	Reordered uint64
	// Late frames arrived after their place was concealed (or a second time
	// after being emitted) and were dropped.
	Late uint64
	// Duplicates arrived while a copy still waited in the buffer.
	Duplicates uint64
	// Concealed frames never arrived; the consumer filled them with silence.
	Concealed uint64
	// Resyncs are jumps too large to conceal or to call late, forward or
	// back (a stream restart, a long outage, a stray sequence number).
	Resyncs uint64
}

// reorderWindow is the number of slots; maxConcealRun bounds the silence a
// single jump may insert (1 s), past it the sequence is resynchronised.
// maxJump is the largest jump either way that is still the same stream
// position: further forward would be more silence than concealing is
// worth, further back is no late frame but a new position (a restart, or
// the way back from a stray number that would otherwise make every later
// frame late and mute the call).
const (
	reorderWindow = 16
	maxConcealRun = 50
	maxJump       = reorderWindow + maxConcealRun
)

// NewReorder returns a buffer that waits for at most depth frames (1 to 15)
// behind a missing one, calling emit for each frame in order. A concealed
// frame is emitted with concealed set and a nil frame; the consumer fills in
// silence of the usual frame length. emit must not keep frame.
func NewReorder(depth int, emit func(frame []byte, concealed bool)) *Reorder {
	depth = min(max(depth, 1), reorderWindow-1)
	// A slot's buffer is allocated the first time a frame waits in it: an
	// in-order stream never waits, and never allocates them.
	return &Reorder{depth: int64(depth), slots: make([]reorderSlot, reorderWindow), next: -1, emit: emit}
}

// Stats returns the counters so far.
func (r *Reorder) Stats() ReorderStats { return r.stats }

// Push adds the frame with sequence number seq and emits every frame that is
// now in order.
func (r *Reorder) Push(seq int64, frame []byte) {
	if r.next < 0 {
		r.next, r.maxSeen = seq, seq-1
	}
	if seq == r.next && r.maxSeen < seq {
		// The frame due, with nothing waiting behind it: the usual case
		// passes straight through, uncopied.
		r.next++
		r.maxSeen = seq
		r.last = len(frame)
		r.emit(frame, false)
		return
	}
	switch {
	case seq < r.next && r.next-seq <= maxJump:
		r.stats.Late++
		return
	case seq < r.next || seq-r.next >= maxJump:
		r.resync(seq)
	}
	for seq-r.next >= reorderWindow {
		r.advance()
	}
	s := &r.slots[seq%reorderWindow]
	if s.full && s.seq == seq {
		r.stats.Duplicates++
		return
	}
	if seq < r.maxSeen {
		r.stats.Reordered++
	}
	r.maxSeen = max(r.maxSeen, seq)
	s.seq, s.full = seq, true
	s.data = append(s.data[:0], frame...)
	for {
		s := &r.slots[r.next%reorderWindow]
		if (!s.full || s.seq != r.next) && r.maxSeen-r.next < r.depth {
			return
		}
		r.advance()
	}
}

// advance emits the frame at next, or conceals it, and moves on.
func (r *Reorder) advance() {
	s := &r.slots[r.next%reorderWindow]
	if s.full && s.seq == r.next {
		s.full = false
		r.last = len(s.data)
		r.emit(s.data, false)
	} else {
		r.stats.Concealed++
		r.emit(nil, true)
	}
	r.next++
}

// resync emits what is buffered, skipping holes, and restarts at seq.
func (r *Reorder) resync(seq int64) {
	r.stats.Resyncs++
	for ; r.next <= r.maxSeen; r.next++ {
		s := &r.slots[r.next%reorderWindow]
		if s.full && s.seq == r.next {
			s.full = false
			r.last = len(s.data)
			r.emit(s.data, false)
		}
	}
	r.next, r.maxSeen = seq, seq
}

// LastLen is the length of the last frame emitted, the size a concealed frame
// should take (0 before the first).
func (r *Reorder) LastLen() int { return r.last }
