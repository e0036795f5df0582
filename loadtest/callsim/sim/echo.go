package sim

import (
	"encoding/base64"
	"math"
	"time"

	"github.com/iace/iace/media"
)

// echoLine makes a caller's line send back what the caller hears, as a
// phone line with no echo canceller does (Config.EchoDB): the agent's
// audio, placed at the time the playout queue plays it, comes back
// EchoDelay later at the gain, mixed into the frames the caller sends. It
// is owned by the call and guarded by its mu.
type echoLine struct {
	gain  float64
	h     []float64 // the hybrid's response, scaled by gain; nil: the audio itself
	delay int       // samples
	ring  []int16   // what plays, by sample from the start frame; len a power of two
	end   int       // one past the last sample placed
	// The caller's sample clock: frame k sent holds the 20 ms from
	// first + k frames, however late the shard woke to send it (a phone's
	// microphone and speaker run on one clock); first is -1 before the
	// first frame.
	first time.Duration
	sent  int
	frame [frameBytes]int16
	raw   [frameBytes]byte
}

// echoKept is what an echoLine holds of the agent's audio: more than the
// delay and the server's lead.
const echoKept = 1 << 14 // samples, 2 s

func newEchoLine(db float64, delay time.Duration, hybrid bool) *echoLine {
	e := &echoLine{gain: math.Pow(10, db/20), delay: samplesAt(delay), ring: make([]int16, echoKept), first: -1}
	if hybrid {
		e.h = hybridResponse()
		for k := range e.h {
			e.h[k] *= e.gain
		}
	}
	return e
}

// hybridResponse is the impulse response of a line's 2-4 wire hybrid, in
// the manner of the echo path models of ITU-T G.168 (not one of them): a
// ringing at 1 kHz that decays by 1/e every 7 samples over 6 ms, with no
// DC (a hybrid couples through a transformer), scaled so that no frequency
// comes back louder than it went out: the echo is at most the line's
// level under the agent at any frequency, and speech, most of whose energy
// lies under 1 kHz, comes back a few dB quieter than that.
func hybridResponse() []float64 {
	h := make([]float64, 48) // 6 ms at 8 kHz
	var mean float64
	for n := range h {
		h[n] = math.Exp(-float64(n)/7) * math.Sin(2*math.Pi*0.13*float64(n)+0.5)
		mean += h[n] / float64(len(h))
	}
	for n := range h {
		h[n] -= mean
	}
	var peak float64
	for f := 0.0; f <= 0.5; f += 1.0 / 512 {
		var re, im float64
		for n, v := range h {
			re += v * math.Cos(2*math.Pi*f*float64(n))
			im -= v * math.Sin(2*math.Pi*f*float64(n))
		}
		peak = max(peak, math.Hypot(re, im))
	}
	for n := range h {
		h[n] /= peak
	}
	return h
}

// place records pcm, which starts to play at offset at from the start
// frame; what lies between the audio before and at is silence.
func (e *echoLine) place(at time.Duration, pcm []int16) {
	i := samplesAt(at)
	if i < 0 {
		return
	}
	for k := max(e.end, i-echoKept); k < i; k++ {
		e.ring[k&(echoKept-1)] = 0
	}
	for k, v := range pcm {
		e.ring[(i+k)&(echoKept-1)] = v
	}
	e.end = max(e.end, i+len(pcm))
}

// cut silences what was due to play after offset at: the far end dropped
// it on a clear.
func (e *echoLine) cut(at time.Duration) {
	i := max(samplesAt(at), e.end-echoKept, 0)
	for k := i; k < e.end; k++ {
		e.ring[k&(echoKept-1)] = 0
	}
	e.end = min(e.end, max(i, 0))
}

// next returns payload, the next frame the caller sends, sent at offset
// now from the start frame, with the echo added (mix).
func (e *echoLine) next(now time.Duration, payload string) string {
	if e.first < 0 {
		e.first = now - frameDuration // the frame sent now holds the 20 ms before it
	}
	at := e.first + time.Duration(e.sent)*frameDuration
	e.sent++
	return e.mix(at, payload)
}

// played returns the sample of the agent's audio that played at j, 0
// where nothing did or it is no longer kept.
func (e *echoLine) played(j int) float64 {
	if j < 0 || j >= e.end || j < e.end-echoKept {
		return 0
	}
	return float64(e.ring[j&(echoKept-1)])
}

// mix returns payload (a base64 PCMU frame) with the echo of what played
// from offset at-delay on added, or payload itself when nothing played
// then.
func (e *echoLine) mix(at time.Duration, payload string) string {
	from := samplesAt(at) - e.delay
	if from+frameBytes <= e.end-echoKept || from >= e.end+len(e.h) || from+frameBytes <= 0 {
		return payload
	}
	n, err := base64.StdEncoding.Decode(e.raw[:], []byte(payload))
	if err != nil || n != frameBytes {
		return payload
	}
	media.DecodeULawTo(e.frame[:], e.raw[:])
	heard := false
	for k := range e.frame {
		v := e.played(from + k)
		if e.h != nil { // through the hybrid: what played over its response's span
			v = 0
			for m, hm := range e.h {
				v += hm * e.played(from+k-m)
			}
		} else {
			v *= e.gain
		}
		if v == 0 {
			continue
		}
		heard = true
		e.frame[k] = int16(max(math.MinInt16, min(math.MaxInt16, float64(e.frame[k])+v)))
	}
	if !heard {
		return payload
	}
	media.EncodeULawTo(e.raw[:], e.frame[:])
	return base64.StdEncoding.EncodeToString(e.raw[:])
}
