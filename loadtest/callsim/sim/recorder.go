package sim

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/iace/iace/media"
)

// recorder keeps what one caller heard: each received message's samples at
// the time the playout queue plays them. A clear cuts off what had not played.
type recorder struct {
	segs []segment
}

type segment struct {
	at  int // first sample, counted from the start frame
	pcm []int16
}

// maxRecorded bounds one recording (10 minutes at 8 kHz).
const maxRecorded = 10 * 60 * sampleRate

func samplesAt(d time.Duration) int { return int(d * sampleRate / time.Second) }

// place records pcm starting to play at offset at.
func (r *recorder) place(at time.Duration, pcm []int16) {
	i := samplesAt(at)
	if i < 0 || i+len(pcm) > maxRecorded {
		return
	}
	r.segs = append(r.segs, segment{at: i, pcm: append([]int16(nil), pcm...)})
}

// cut drops everything due to play after offset at.
func (r *recorder) cut(at time.Duration) {
	i := samplesAt(at)
	keep := r.segs[:0]
	for _, s := range r.segs {
		if s.at >= i {
			continue
		}
		if end := s.at + len(s.pcm); end > i {
			s.pcm = s.pcm[:i-s.at]
		}
		keep = append(keep, s)
	}
	clear(r.segs[len(keep):])
	r.segs = keep
}

// render returns the recording with silence in the gaps.
func (r *recorder) render() []int16 {
	n := 0
	for _, s := range r.segs {
		n = max(n, s.at+len(s.pcm))
	}
	out := make([]int16, n)
	for _, s := range r.segs {
		copy(out[s.at:], s.pcm)
	}
	return out
}

func writeWAVFile(name string, pcm []int16) (err error) {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("callsim: save audio: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("callsim: save audio: %w", cerr)
		}
	}()
	w := bufio.NewWriter(f)
	if err := media.WriteWAV(w, sampleRate, pcm); err != nil {
		return fmt.Errorf("callsim: save audio %s: %w", name, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("callsim: save audio %s: %w", name, err)
	}
	return nil
}
