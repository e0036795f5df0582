package media

import (
	"sync"

	"github.com/zaf/g711"
)

// G.711 (ITU-T G.711, RFC 3551 section 4.5.14) carries one 8-bit code per sample.
// Decoding uses the per-sample function of github.com/zaf/g711, itself a
// 256-entry table lookup. Encoding looks up a 64 KiB table indexed by the
// sample, filled from zaf/g711's per-sample encoder on first use: it is about
// four times faster than calling the encoder, whose bit counting and variable
// shifts cost several nanoseconds a sample. zaf/g711's slice functions
// allocate and are never used here.
var (
	ulawEncodeTable = sync.OnceValue(func() *[1 << 16]uint8 {
		var t [1 << 16]uint8
		for i := range t {
			t[i] = g711.EncodeUlawFrame(int16(uint16(i)))
		}
		return &t
	})
	alawEncodeTable = sync.OnceValue(func() *[1 << 16]uint8 {
		var t [1 << 16]uint8
		for i := range t {
			t[i] = g711.EncodeAlawFrame(int16(uint16(i)))
		}
		return &t
	})
)

// DecodeULawTo decodes mu-law codes from src into dst and returns the number of
// samples written, min(len(dst), len(src)). It does not allocate.
func DecodeULawTo(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, c := range src {
		dst[i] = g711.DecodeUlawFrame(c)
	}
	return n
}

// EncodeULawTo encodes samples from src into mu-law codes in dst and returns the
// number of codes written, min(len(dst), len(src)). It does not allocate.
func EncodeULawTo(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	t := ulawEncodeTable()
	for i, s := range src {
		dst[i] = t[uint16(s)]
	}
	return n
}

// DecodeALawTo decodes A-law codes from src into dst and returns the number of
// samples written, min(len(dst), len(src)). It does not allocate.
func DecodeALawTo(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, c := range src {
		dst[i] = g711.DecodeAlawFrame(c)
	}
	return n
}

// EncodeALawTo encodes samples from src into A-law codes in dst and returns the
// number of codes written, min(len(dst), len(src)). It does not allocate.
func EncodeALawTo(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	t := alawEncodeTable()
	for i, s := range src {
		dst[i] = t[uint16(s)]
	}
	return n
}
