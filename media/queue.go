package media

import "sync"

// FrameQueue is a bounded queue of frames between a reader that must never
// block and a consumer that may be slow: when it is full the oldest frame is
// dropped and counted. Frames are copied into preallocated slots, so steady
// operation does not allocate. Safe for one producer and one consumer.
type FrameQueue struct {
	mu      sync.Mutex
	slots   [][]byte
	head    int // index of the oldest frame
	n       int
	dropped uint64
	ready   chan struct{}
}

// NewFrameQueue returns a queue of capacity frames, each slot preallocated for
// frameBytes (it grows for larger frames).
func NewFrameQueue(capacity, frameBytes int) *FrameQueue {
	capacity = max(capacity, 1)
	q := &FrameQueue{slots: make([][]byte, capacity), ready: make(chan struct{}, 1)}
	for i := range q.slots {
		q.slots[i] = make([]byte, 0, frameBytes)
	}
	return q
}

// Push copies frame into the queue, dropping the oldest frame if it is full,
// and wakes the consumer. It reports whether a frame was dropped.
func (q *FrameQueue) Push(frame []byte) (dropped bool) {
	q.mu.Lock()
	if q.n == len(q.slots) {
		q.head = (q.head + 1) % len(q.slots)
		q.n--
		q.dropped++
		dropped = true
	}
	i := (q.head + q.n) % len(q.slots)
	q.slots[i] = append(q.slots[i][:0], frame...)
	q.n++
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default: // the consumer has a wake-up pending already
	}
	return dropped
}

// Pop copies the oldest frame into dst (grown if needed) and returns it; ok is
// false when the queue is empty.
func (q *FrameQueue) Pop(dst []byte) (frame []byte, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return dst[:0], false
	}
	frame = dst[:0]
	frame = append(frame, q.slots[q.head]...)
	q.head = (q.head + 1) % len(q.slots)
	q.n--
	return frame, true
}

// Ready is signalled after Push; the consumer drains with Pop until empty.
func (q *FrameQueue) Ready() <-chan struct{} { return q.ready }

// Len returns the number of frames waiting.
func (q *FrameQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Dropped returns how many frames were dropped because the queue was full.
func (q *FrameQueue) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
