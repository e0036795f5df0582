package media

import "testing"

func TestCodecUnknownEncodingWritesNothing(t *testing.T) {
	if n := DecodeTo(make([]int16, 4), make([]byte, 4), EncodingUnknown); n != 0 {
		t.Errorf("DecodeTo(unknown) = %d, want 0", n)
	}
	if n := EncodeTo(make([]byte, 4), make([]int16, 4), Encoding(99)); n != 0 {
		t.Errorf("EncodeTo(99) = %d, want 0", n)
	}
}

func TestCodecDispatchReturnsUnits(t *testing.T) {
	tests := []struct {
		e           Encoding
		wantSamples int // from 8 bytes
		wantBytes   int // from 4 samples
	}{
		{EncodingPCMU, 8, 4},
		{EncodingPCMA, 8, 4},
		{EncodingL16, 4, 8},
		{EncodingPCM16, 4, 8},
	}
	for _, tt := range tests {
		t.Run(tt.e.String()+" counts samples decoded and bytes encoded", func(t *testing.T) {
			if n := DecodeTo(make([]int16, 16), make([]byte, 8), tt.e); n != tt.wantSamples {
				t.Errorf("DecodeTo = %d, want %d", n, tt.wantSamples)
			}
			if n := EncodeTo(make([]byte, 16), make([]int16, 4), tt.e); n != tt.wantBytes {
				t.Errorf("EncodeTo = %d, want %d", n, tt.wantBytes)
			}
		})
	}
}
