package media

import (
	"math"
	"sync"

	"github.com/zaf/g711"
)

// NoLevelDB is the level of no audio, or of digital silence, in dBFS.
const NoLevelDB = -200

// fullScale2 is the mean square of a full-scale square wave: 0 dBFS.
const fullScale2 = 32768.0 * 32768.0

// The squares of the G.711 codes' linear values: a level needs no decoding.
var (
	ulawSquares = sync.OnceValue(func() *[256]float32 { return squares(g711.DecodeUlawFrame) })
	alawSquares = sync.OnceValue(func() *[256]float32 { return squares(g711.DecodeAlawFrame) })
)

func squares(decode func(uint8) int16) *[256]float32 {
	var t [256]float32
	for i := range t {
		v := float32(decode(uint8(i)))
		t[i] = v * v
	}
	return &t
}

// LoudestFrameDB returns the level, in dBFS (0 dBFS = a full-scale square
// wave), of the loudest frame of frameBytes in audio (the last one may be
// short), or NoLevelDB for none. Every other sample is read: a level needs
// no more, and it halves the work. It does not allocate.
func LoudestFrameDB(audio []byte, enc Encoding, frameBytes int) float64 {
	if frameBytes <= 0 {
		return NoLevelDB
	}
	var best float64 // mean square
	switch enc {
	case EncodingPCMU, EncodingPCMA:
		t := ulawSquares()
		if enc == EncodingPCMA {
			t = alawSquares()
		}
		for len(audio) > 0 {
			f := audio[:min(len(audio), frameBytes)]
			audio = audio[len(f):]
			var sum float32
			n := 0
			for i := 0; i < len(f); i += 2 {
				sum += t[f[i]]
				n++
			}
			best = max(best, float64(sum)/float64(n))
		}
	case EncodingL16, EncodingPCM16:
		hi, lo := 0, 1 // L16 is big-endian
		if enc == EncodingPCM16 {
			hi, lo = 1, 0
		}
		for len(audio) > 0 {
			f := audio[:min(len(audio), frameBytes)]
			audio = audio[len(f):]
			var sum float64
			n := 0
			for i := 0; i+1 < len(f); i += 4 { // every other sample
				x := float64(int16(uint16(f[i+hi])<<8 | uint16(f[i+lo]))) //nolint:gosec // G115: two bytes of a 16-bit sample, reinterpreted as signed on purpose
				sum += x * x
				n++
			}
			if n > 0 {
				best = max(best, sum/float64(n))
			}
		}
	default:
		return NoLevelDB
	}
	if best/fullScale2 <= 1e-10 {
		return NoLevelDB
	}
	return 10 * math.Log10(best/fullScale2)
}
