package media

import (
	"bytes"
	"math"
	"testing"
)

func TestLinearPCMByteOrder(t *testing.T) {
	samples := []int16{0x0102, -2, math.MaxInt16, math.MinInt16, 0}
	tests := []struct {
		name  string
		e     Encoding
		bytes []byte
	}{
		{"L16 is big-endian (RFC 2586)", EncodingL16, []byte{0x01, 0x02, 0xFF, 0xFE, 0x7F, 0xFF, 0x80, 0x00, 0, 0}},
		{"PCM16 is little-endian", EncodingPCM16, []byte{0x02, 0x01, 0xFE, 0xFF, 0xFF, 0x7F, 0x00, 0x80, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := make([]byte, 2*len(samples))
			if n := EncodeTo(enc, samples, tt.e); n != len(enc) {
				t.Fatalf("encoded %d bytes, want %d", n, len(enc))
			}
			if !bytes.Equal(enc, tt.bytes) {
				t.Errorf("encoded % X, want % X", enc, tt.bytes)
			}
			dec := make([]int16, len(samples))
			if n := DecodeTo(dec, tt.bytes, tt.e); n != len(samples) {
				t.Fatalf("decoded %d samples, want %d", n, len(samples))
			}
			for i := range dec {
				if dec[i] != samples[i] {
					t.Errorf("sample %d = %d, want %d", i, dec[i], samples[i])
				}
			}
		})
	}
}

func TestLinearPCMRoundTripsEverySample(t *testing.T) {
	all := make([]int16, 1<<16)
	for i := range all {
		all[i] = int16(i + math.MinInt16)
	}
	for _, e := range []Encoding{EncodingL16, EncodingPCM16} {
		buf := make([]byte, 2*len(all))
		EncodeTo(buf, all, e)
		back := make([]int16, len(all))
		DecodeTo(back, buf, e)
		for i := range all {
			if back[i] != all[i] {
				t.Fatalf("%s: %d round trips to %d", e, all[i], back[i])
			}
		}
	}
}

func TestLinearPCMCounts(t *testing.T) {
	tests := []struct {
		name             string
		dstSamples       int
		srcBytes         int
		wantDecoded      int
		encDstBytes      int
		encSrcSamples    int
		wantEncodedBytes int
	}{
		{"odd trailing byte is ignored", 10, 7, 3, 7, 10, 6},
		{"dst bounds the count", 2, 10, 2, 4, 10, 4},
		{"empty input", 10, 0, 0, 10, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, e := range []Encoding{EncodingL16, EncodingPCM16} {
				if n := DecodeTo(make([]int16, tt.dstSamples), make([]byte, tt.srcBytes), e); n != tt.wantDecoded {
					t.Errorf("%s decode = %d samples, want %d", e, n, tt.wantDecoded)
				}
				if n := EncodeTo(make([]byte, tt.encDstBytes), make([]int16, tt.encSrcSamples), e); n != tt.wantEncodedBytes {
					t.Errorf("%s encode = %d bytes, want %d", e, n, tt.wantEncodedBytes)
				}
			}
		})
	}
}
