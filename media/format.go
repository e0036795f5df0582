package media

import (
	"fmt"
	"strings"
	"time"
)

// FrameDuration is the length of one telephony frame. Telnyx sends and accepts
// audio in multiples of it (20 ms to 30 s per outbound chunk).
const FrameDuration = 20 * time.Millisecond

// Encoding is an audio encoding carried on a media stream.
type Encoding uint8

// The encodings IACE can decode and encode.
const (
	EncodingUnknown Encoding = iota
	// EncodingPCMU is G.711 mu-law, one byte a sample (RFC 3551 section 4.5.14).
	EncodingPCMU
	// EncodingPCMA is G.711 A-law, one byte a sample.
	EncodingPCMA
	// EncodingL16 is 16-bit linear PCM in network byte order (big-endian, RFC 2586).
	EncodingL16
	// EncodingPCM16 is 16-bit linear PCM in little-endian order, as WAV files
	// and most TTS engines produce it. It never appears on the Telnyx wire.
	EncodingPCM16
)

// ParseEncoding reads a Telnyx media_format.encoding name (case-insensitive).
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToUpper(s) {
	case "PCMU", "AUDIO/X-MULAW", "MULAW", "ULAW":
		return EncodingPCMU, nil
	case "PCMA", "AUDIO/X-ALAW", "ALAW":
		return EncodingPCMA, nil
	case "L16":
		return EncodingL16, nil
	case "PCM16", "LINEAR16":
		return EncodingPCM16, nil
	}
	return EncodingUnknown, fmt.Errorf("%w: %q", ErrUnsupportedEncoding, s)
}

// String returns the Telnyx name of the encoding.
func (e Encoding) String() string {
	switch e {
	case EncodingPCMU:
		return "PCMU"
	case EncodingPCMA:
		return "PCMA"
	case EncodingL16:
		return "L16"
	case EncodingPCM16:
		return "PCM16"
	}
	return "unknown"
}

// BytesPerSample is the size of one mono sample in this encoding.
func (e Encoding) BytesPerSample() int {
	switch e {
	case EncodingPCMU, EncodingPCMA:
		return 1
	case EncodingL16, EncodingPCM16:
		return 2
	}
	return 0
}

// SilenceByte is the byte that encodes digital silence: 0xFF for mu-law, 0xD5
// for A-law, 0x00 for linear PCM (docs/protocols/telnyx.md 2.1).
func (e Encoding) SilenceByte() byte {
	switch e {
	case EncodingPCMU:
		return 0xFF
	case EncodingPCMA:
		return 0xD5
	}
	return 0
}

// Format describes a mono audio stream.
type Format struct {
	Encoding   Encoding
	SampleRate int
}

// PCMU8k is the default telephony format: G.711 mu-law at 8 kHz.
var PCMU8k = Format{Encoding: EncodingPCMU, SampleRate: 8000}

// String prints the format as "PCMU/8000".
func (f Format) String() string { return fmt.Sprintf("%s/%d", f.Encoding, f.SampleRate) }

// Validate reports whether the format is one IACE can carry.
func (f Format) Validate() error {
	if f.Encoding == EncodingUnknown || f.Encoding.BytesPerSample() == 0 {
		return ErrUnsupportedEncoding
	}
	switch f.SampleRate {
	case 8000, 16000, 22050, 24000, 48000:
		return nil
	}
	return fmt.Errorf("%w: sample rate %d", ErrUnsupportedEncoding, f.SampleRate)
}

// BytesPer returns how many bytes hold d of audio, rounded down to whole samples.
func (f Format) BytesPer(d time.Duration) int {
	return int(int64(f.SampleRate)*int64(d)/int64(time.Second)) * f.Encoding.BytesPerSample()
}

// FrameBytes is the size of one 20 ms frame: 160 for G.711 at 8 kHz.
func (f Format) FrameBytes() int { return f.BytesPer(FrameDuration) }

// Duration returns how long n bytes of this format play.
func (f Format) Duration(n int) time.Duration {
	bps := f.Encoding.BytesPerSample() * f.SampleRate
	if bps == 0 {
		return 0
	}
	return time.Duration(int64(n) * int64(time.Second) / int64(bps))
}

// FillSilence writes the encoding's silence into every byte of dst.
func (e Encoding) FillSilence(dst []byte) {
	s := e.SilenceByte()
	for i := range dst {
		dst[i] = s
	}
}
