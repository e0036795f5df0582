package media

import "sync"

// BufferPool lends byte buffers to holders that need one only now and then:
// a call while its audio waits to go out, not for the minutes it listens.
// A holder keeps the box Get gave it beside the buffer it works in, and
// gives both back with Put, which allocates nothing.
type BufferPool struct {
	pool sync.Pool
	// Max bounds the buffers the pool keeps: one grown past it (a rare big
	// burst) is let go rather than lent to every holder after.
	Max int
}

// Get returns a box holding an empty buffer of capacity at least n.
func (p *BufferPool) Get(n int) *[]byte {
	box, _ := p.pool.Get().(*[]byte)
	if box == nil {
		box = new([]byte)
	}
	if cap(*box) < n {
		*box = make([]byte, 0, n)
	}
	return box
}

// Put gives b back in box, which came from Get; b may be another buffer
// than the one Get lent (one the holder was handed in exchange).
func (p *BufferPool) Put(box *[]byte, b []byte) {
	if cap(b) > p.Max {
		return
	}
	*box = b[:0]
	p.pool.Put(box)
}
