package media

import "encoding/binary"

// DecodeL16To decodes big-endian 16-bit PCM (L16, RFC 2586 / RFC 3551 section
// 4.5.11) from src into dst and returns the number of samples written,
// min(len(dst), len(src)/2). A trailing odd byte of src is ignored.
func DecodeL16To(dst []int16, src []byte) int {
	n := min(len(dst), len(src)/2)
	dst, src = dst[:n], src[:2*n]
	for i := range dst {
		dst[i] = int16(binary.BigEndian.Uint16(src[2*i:]))
	}
	return n
}

// EncodeL16To encodes samples from src as big-endian 16-bit PCM into dst and
// returns the number of bytes written, 2*min(len(dst)/2, len(src)).
func EncodeL16To(dst []byte, src []int16) int {
	n := min(len(dst)/2, len(src))
	dst, src = dst[:2*n], src[:n]
	for i, s := range src {
		binary.BigEndian.PutUint16(dst[2*i:], uint16(s))
	}
	return 2 * n
}

// DecodePCM16To decodes little-endian 16-bit PCM, the byte order of WAV files and
// most TTS engines, from src into dst and returns the number of samples written,
// min(len(dst), len(src)/2). A trailing odd byte of src is ignored.
func DecodePCM16To(dst []int16, src []byte) int {
	n := min(len(dst), len(src)/2)
	dst, src = dst[:n], src[:2*n]
	for i := range dst {
		dst[i] = int16(binary.LittleEndian.Uint16(src[2*i:]))
	}
	return n
}

// EncodePCM16To encodes samples from src as little-endian 16-bit PCM into dst
// and returns the number of bytes written, 2*min(len(dst)/2, len(src)).
func EncodePCM16To(dst []byte, src []int16) int {
	n := min(len(dst)/2, len(src))
	dst, src = dst[:2*n], src[:n]
	for i, s := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], uint16(s))
	}
	return 2 * n
}
