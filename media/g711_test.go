package media

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/zaf/g711"
)

func TestG711KnownValues(t *testing.T) {
	tests := []struct {
		name string
		code byte
		law  Encoding
		want int16
	}{
		{"mu-law 0xFF is silence", 0xFF, EncodingPCMU, 0},
		{"mu-law 0x7F is negative zero", 0x7F, EncodingPCMU, 0},
		{"mu-law 0x80 is the positive peak", 0x80, EncodingPCMU, 32124},
		{"mu-law 0x00 is the negative peak", 0x00, EncodingPCMU, -32124},
		{"A-law 0xD5 is the smallest positive step", 0xD5, EncodingPCMA, 8},
		{"A-law 0x55 is the smallest negative step", 0x55, EncodingPCMA, -8},
		{"A-law 0xAA is the positive peak", 0xAA, EncodingPCMA, 32256},
		{"A-law 0x2A is the negative peak", 0x2A, EncodingPCMA, -32256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst [1]int16
			if n := DecodeTo(dst[:], []byte{tt.code}, tt.law); n != 1 {
				t.Fatalf("DecodeTo wrote %d samples, want 1", n)
			}
			if dst[0] != tt.want {
				t.Errorf("decode 0x%02X = %d, want %d", tt.code, dst[0], tt.want)
			}
		})
	}
}

func TestG711SilenceEncodesToSilenceByte(t *testing.T) {
	for _, e := range []Encoding{EncodingPCMU, EncodingPCMA} {
		var dst [1]byte
		EncodeTo(dst[:], []int16{0}, e)
		if dst[0] != e.SilenceByte() {
			t.Errorf("%s: encode(0) = 0x%02X, want silence byte 0x%02X", e, dst[0], e.SilenceByte())
		}
		var s [1]int16
		DecodeTo(s[:], dst[:], e)
		if s[0] < -8 || s[0] > 8 {
			t.Errorf("%s: silence byte decodes to %d, want near 0", e, s[0])
		}
	}
}

// TestG711AgreesWithZaf checks every code and every int16 against the slice API
// of github.com/zaf/g711, the reference this package wraps.
func TestG711AgreesWithZaf(t *testing.T) {
	codes := make([]byte, 256)
	for i := range codes {
		codes[i] = byte(i)
	}
	all := make([]int16, 1<<16)
	allLE := make([]byte, 2<<16)
	for i := range all {
		all[i] = int16(i + math.MinInt16)
		binary.LittleEndian.PutUint16(allLE[2*i:], uint16(all[i]))
	}
	laws := []struct {
		name   string
		e      Encoding
		decode func([]byte) []byte
		encode func([]byte) []byte
	}{
		{"mu-law", EncodingPCMU, g711.DecodeUlaw, g711.EncodeUlaw},
		{"A-law", EncodingPCMA, g711.DecodeAlaw, g711.EncodeAlaw},
	}
	for _, law := range laws {
		t.Run(law.name+" decodes all 256 codes like zaf/g711", func(t *testing.T) {
			got := make([]int16, 256)
			if n := DecodeTo(got, codes, law.e); n != 256 {
				t.Fatalf("decoded %d samples, want 256", n)
			}
			gotLE := make([]byte, 512)
			EncodePCM16To(gotLE, got)
			if want := law.decode(codes); !bytes.Equal(gotLE, want) {
				t.Error("decoded samples differ from zaf/g711")
			}
		})
		t.Run(law.name+" encodes all 65536 samples like zaf/g711", func(t *testing.T) {
			got := make([]byte, len(all))
			if n := EncodeTo(got, all, law.e); n != len(all) {
				t.Fatalf("encoded %d codes, want %d", n, len(all))
			}
			want := law.encode(allLE)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("encode(%d) = 0x%02X, want 0x%02X", all[i], got[i], want[i])
				}
			}
		})
		t.Run(law.name+" round trips every code", func(t *testing.T) {
			pcm := make([]int16, 256)
			DecodeTo(pcm, codes, law.e)
			back := make([]byte, 256)
			EncodeTo(back, pcm, law.e)
			for i := range codes {
				var a, b [1]int16
				DecodeTo(a[:], codes[i:i+1], law.e)
				DecodeTo(b[:], back[i:i+1], law.e)
				// mu-law has two zeros (0x7F, 0xFF); both must decode alike.
				if a != b {
					t.Errorf("code 0x%02X re-encodes to 0x%02X, decoding %d vs %d", codes[i], back[i], a[0], b[0])
				}
			}
		})
	}
}

func TestG711LengthIsTheShorterBuffer(t *testing.T) {
	tests := []struct {
		name        string
		dstN, srcN  int
		wantDecoded int
		wantEncoded int
	}{
		{"dst shorter than src", 3, 10, 3, 3},
		{"src shorter than dst", 10, 4, 4, 4},
		{"empty src", 10, 0, 0, 0},
		{"empty dst", 0, 10, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, e := range []Encoding{EncodingPCMU, EncodingPCMA} {
				pcm := make([]int16, tt.dstN)
				for i := range pcm {
					pcm[i] = 12345
				}
				if n := DecodeTo(pcm, make([]byte, tt.srcN), e); n != tt.wantDecoded {
					t.Errorf("%s decode wrote %d, want %d", e, n, tt.wantDecoded)
				}
				for i := tt.wantDecoded; i < len(pcm); i++ {
					if pcm[i] != 12345 {
						t.Errorf("%s decode wrote past n at %d", e, i)
					}
				}
				if n := EncodeTo(make([]byte, tt.dstN), make([]int16, tt.srcN), e); n != tt.wantEncoded {
					t.Errorf("%s encode wrote %d, want %d", e, n, tt.wantEncoded)
				}
			}
		})
	}
}

func TestG711DoesNotAllocate(t *testing.T) {
	src := make([]byte, 160)
	pcm := make([]int16, 160)
	allocs := testing.AllocsPerRun(100, func() {
		DecodeULawTo(pcm, src)
		EncodeULawTo(src, pcm)
		DecodeALawTo(pcm, src)
		EncodeALawTo(src, pcm)
	})
	if allocs != 0 {
		t.Errorf("G.711 codecs allocate %v times a frame, want 0", allocs)
	}
}

func BenchmarkDecodeULaw160(b *testing.B) {
	src := make([]byte, 160)
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]int16, 160)
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		DecodeULawTo(dst, src)
	}
}

func BenchmarkEncodeULaw160(b *testing.B) {
	src := make([]int16, 160)
	for i := range src {
		src[i] = int16(i * 397)
	}
	dst := make([]byte, 160)
	EncodeULawTo(dst, src) // warm up: builds the table
	b.ReportAllocs()
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		EncodeULawTo(dst, src)
	}
}
