package telnyx

import (
	"encoding/base64"
	"unicode/utf8"
)

// AppendMedia appends an outbound media frame carrying audio (raw codec bytes,
// a whole number of 20 ms frames) to dst (docs/protocols/telnyx.md 2.1). No stream_id is needed.
func AppendMedia(dst, audio []byte) []byte {
	dst = append(dst, mediaHead...)
	dst = base64.StdEncoding.AppendEncode(dst, audio)
	return append(dst, mediaTail...)
}

const (
	mediaHead  = `{"event":"media","media":{"payload":"`
	mediaTail  = `"}}`
	clearFrame = `{"event":"clear"}`
)

// mediaLen is the length of the media frame AppendMedia makes of n bytes of audio.
func mediaLen(n int) int {
	return len(mediaHead) + base64.StdEncoding.EncodedLen(n) + len(mediaTail)
}

// AppendMark appends a mark frame; Telnyx echoes it when the audio sent before
// it has played (docs/protocols/telnyx.md 2.3).
func AppendMark(dst []byte, name string) []byte {
	dst = append(dst, `{"event":"mark","mark":{"name":`...)
	dst = appendJSONString(dst, name)
	return append(dst, `}}`...)
}

// AppendClear appends a clear frame: Telnyx stops playback and empties its
// queue, echoing the marks still queued (docs/protocols/telnyx.md 2.4).
func AppendClear(dst []byte) []byte {
	return append(dst, clearFrame...)
}

// appendJSONString quotes s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
