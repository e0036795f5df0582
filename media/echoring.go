package media

import "time"

// An echoRing keeps the audio a playout sent, placed where the far end
// plays it: sample position t (samplesAt on the pacer's clock) holds what
// the far end plays at t. Positions nothing was sent for, and what a
// clear dropped at the far end, hold the codec's silence. It keeps
// echoKept, which covers what the far end still has queued (up to the
// hold's lead and a chunk) and what it played within the echo's return
// path, as the caller's echo canceller looks for it (400 ms).
type echoRing struct {
	buf  []byte // encoded audio, a whole number of samples, a power of two of them
	bps  int    // bytes a sample
	size int64  // samples in buf
	end  int64  // one past the last sample position written
	enc  Encoding
}

// echoKept is how much of the far end's timeline an echoRing holds, at
// least: 1 s.
const echoKept = time.Second

// newEchoRing returns a ring that holds silence up to sample position
// end (positions may be negative: the pacer's clock starts with the
// process).
func newEchoRing(f Format, end int64) *echoRing {
	size := int64(1)
	for size < int64(f.BytesPer(echoKept)/f.Encoding.BytesPerSample()) {
		size <<= 1
	}
	bps := f.Encoding.BytesPerSample()
	r := &echoRing{buf: make([]byte, size*int64(bps)), bps: bps, size: size, end: end, enc: f.Encoding}
	f.Encoding.FillSilence(r.buf)
	return r
}

// samplesAt returns the sample position of t on the pacer's clock at rate.
func samplesAt(t time.Duration, rate int) int64 {
	return int64(t/time.Second)*int64(rate) + int64(t%time.Second)*int64(rate)/int64(time.Second)
}

// put places audio (whole samples) at sample position pos; what lies
// between the last audio put and pos is silence.
func (r *echoRing) put(pos int64, audio []byte) {
	if pos > r.end {
		r.silence(max(r.end, pos-r.size), pos)
	}
	n := int64(len(audio) / r.bps)
	if n > r.size { // keep the end of it
		audio, pos, n = audio[int(n-r.size)*r.bps:], pos+n-r.size, r.size
	}
	at := int(pos & (r.size - 1) * int64(r.bps))
	k := copy(r.buf[at:], audio)
	copy(r.buf, audio[k:])
	r.end = max(r.end, pos+n)
}

// truncate silences what was placed from pos on: the far end dropped it.
func (r *echoRing) truncate(pos int64) {
	if pos < r.end {
		r.silence(max(pos, r.end-r.size), r.end)
		r.end = pos
	}
}

// silence fills the sample positions [from, to) (at most size of them)
// with silence.
func (r *echoRing) silence(from, to int64) {
	for from < to {
		at := from & (r.size - 1)
		n := min(to-from, r.size-at) // up to the end of buf
		r.enc.FillSilence(r.buf[at*int64(r.bps) : (at+n)*int64(r.bps)])
		from += n
	}
}

// read decodes the len(dst) samples from position pos into dst: zeros for
// positions not held (not yet written, or overwritten since).
func (r *echoRing) read(dst []int16, pos int64) {
	clear(dst)
	from, to := max(pos, r.end-r.size), min(pos+int64(len(dst)), r.end)
	for from < to {
		at := from & (r.size - 1)
		n := min(to-from, r.size-at) // up to the end of buf
		DecodeTo(dst[from-pos:from-pos+n], r.buf[at*int64(r.bps):(at+n)*int64(r.bps)], r.enc)
		from += n
	}
}
