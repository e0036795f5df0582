package sim

import "time"

// playout models Telnyx's playback queue for one call (docs/protocols/telnyx.md 2.3-2.5):
// received audio plays at real time in the order it arrived, a mark comes back
// when the audio queued before it has finished playing (at once when nothing
// is queued), and clear drops the queue and returns every mark still queued.
//
// It holds no audio, only the time at which the queued audio runs out, and
// takes the current time as an argument so tests drive it with any clock.
// It is not safe for concurrent use.
type playout struct {
	end   time.Time // when the queued audio finishes; not after now = idle
	marks []queuedMark
}

type queuedMark struct {
	name string
	due  time.Time
}

// media queues d of audio arriving at now. It returns when that audio starts
// playing and, if the queue had run dry, how long it had been silent
// (idle is true even on the first audio ever, with gap 0).
func (p *playout) media(now time.Time, d time.Duration) (start time.Time, idle bool, gap time.Duration) {
	if p.end.After(now) {
		start = p.end
	} else {
		start, idle = now, true
		if !p.end.IsZero() {
			gap = now.Sub(p.end)
		}
	}
	p.end = start.Add(d)
	return start, idle, gap
}

// mark queues a mark arriving at now. It reports whether the mark is to be
// echoed at once because nothing is queued before it.
func (p *playout) mark(now time.Time, name string) (echoNow bool) {
	if !p.end.After(now) {
		return true
	}
	p.marks = append(p.marks, queuedMark{name: name, due: p.end})
	return false
}

// due appends to dst the names of the marks whose audio has played by now, in
// order, and removes them. atTail reports that the last of them sat at the end
// of the queue: nothing had been queued after it, so the agent's audio ended
// there.
func (p *playout) due(now time.Time, dst []string) (names []string, atTail bool) {
	n := 0
	for n < len(p.marks) && !p.marks[n].due.After(now) {
		dst = append(dst, p.marks[n].name)
		atTail = !p.marks[n].due.Before(p.end)
		n++
	}
	if n > 0 {
		rest := copy(p.marks, p.marks[n:])
		clear(p.marks[rest:])
		p.marks = p.marks[:rest]
	}
	return dst, atTail
}

// clear drops the queued audio at now and appends every queued mark to dst.
func (p *playout) clear(now time.Time, dst []string) []string {
	for _, m := range p.marks {
		dst = append(dst, m.name)
	}
	clear(p.marks)
	p.marks = p.marks[:0]
	if p.end.After(now) {
		p.end = now
	}
	return dst
}

// busy reports whether audio is still playing at now.
func (p *playout) busy(now time.Time) bool { return p.end.After(now) }

// pending returns how many marks wait for their audio to play.
func (p *playout) pending() int { return len(p.marks) }
