package sim

import "time"

// frameRef is a media frame on its way out: its numbers are fixed when it is
// generated, so a held or swapped frame arrives out of order as on a real
// network.
type frameRef struct {
	seq, chunk int64
	payload    string
}

// netem is a call's network trouble state, owned by its shard.
type netem struct {
	swap      frameRef
	swapping  bool
	held      []frameRef
	holdUntil time.Time
}

// burstChance is the per-frame probability that a burst starts: one every
// five seconds on average.
const burstChance = 1.0 / 250

// impair passes frame f through the configured loss, burst, reorder and
// duplication, appending what goes on the wire now to out.
func (c *call) impair(now time.Time, f frameRef, out []frameRef) []frameRef {
	cfg, n := c.cfg, &c.net
	if cfg.Loss > 0 && c.rng.Float64() < cfg.Loss {
		c.dropped++
		return out
	}
	if cfg.Burst {
		if n.holdUntil.IsZero() && c.rng.Float64() < burstChance {
			n.holdUntil = now.Add(time.Duration(100+c.rng.IntN(101)) * time.Millisecond)
		}
		if !n.holdUntil.IsZero() {
			if now.Before(n.holdUntil) {
				n.held = append(n.held, f)
				c.held++
				return out
			}
			out = append(out, n.held...)
			clear(n.held)
			n.held = n.held[:0]
			n.holdUntil = time.Time{}
		}
	}
	switch {
	case n.swapping:
		out = append(out, f, n.swap)
		n.swapping = false
		c.swapped++
	case cfg.Reorder > 0 && c.rng.Float64() < cfg.Reorder:
		n.swap, n.swapping = f, true
		return out
	default:
		out = append(out, f)
	}
	if cfg.Dup > 0 && c.rng.Float64() < cfg.Dup {
		out = append(out, f)
		c.dup++
	}
	return out
}
