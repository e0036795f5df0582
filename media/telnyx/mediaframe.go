package telnyx

import "bytes"

// parseMediaFrame is Parse's path for the frame that makes up almost all of
// a stream: a media frame, 50 a second per call. It reads the frame in one
// pass, keeping nothing between frames, and sets ev only when it took the
// frame whole. It takes a frame only in the plain shape Telnyx sends: one
// JSON object whose fields are strings without escapes, integers, and the
// media object, each named once. Anything else (another event, an escape,
// a nested value it does not know, malformed JSON) it leaves, returning
// false, to the general parser, which decides. What it takes, the general
// parser reads the same way: TestParseMediaFramePathAgreesWithTheGeneralOne
// and FuzzParseMediaFrame hold them to that.
func (p *Parser) parseMediaFrame(msg []byte, ev *Event) (handled bool, err error) {
	s := frameScanner{b: msg}
	var (
		event, seq, track, chunk, stamp, payload []byte
		seqNum, chunkNum, stampNum               bool // the value was a JSON number, not a string
		hasMedia                                 bool
	)
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "event":
			return event == nil && s.str(&event)
		case "sequence_number":
			return seq == nil && s.intOrString(&seq, &seqNum)
		case "media":
			if hasMedia {
				return false
			}
			hasMedia = true
			return s.object(func(key []byte) bool {
				switch string(key) {
				case "track":
					return track == nil && s.str(&track)
				case "chunk":
					return chunk == nil && s.intOrString(&chunk, &chunkNum)
				case "timestamp":
					return stamp == nil && s.intOrString(&stamp, &stampNum)
				case "payload":
					return payload == nil && s.str(&payload)
				}
				return s.skipScalar()
			})
		}
		return s.skipScalar()
	})
	if !ok || !s.end() || string(event) != "media" || !hasMedia || payload == nil {
		return false, nil
	}
	// The general parser's integers: a string of up to 18 digits, or a
	// JSON number in int64 (digits only here: the scanner takes no other).
	num := func(b []byte, isNum bool) (int64, bool) {
		if isNum {
			return atoiSigned(b)
		}
		return atoi(b)
	}
	seqN, chunkN, stampN := int64(-1), int64(-1), int64(-1)
	if seq != nil {
		if seqN, ok = num(seq, seqNum); !ok {
			return false, nil // the general parser says why
		}
	}
	if chunk != nil {
		if chunkN, ok = num(chunk, chunkNum); !ok {
			return false, nil
		}
	}
	if stamp != nil {
		if n, ok := num(stamp, stampNum); ok { // a timestamp that is not one is left out
			stampN = n
		}
	}
	ev.Kind, ev.Seq = EventMedia, seqN
	md := &ev.Media
	md.Track = TrackInbound
	if len(track) > 0 && track[0] == 'o' {
		md.Track = TrackOutbound
	}
	md.Chunk, md.Timestamp = chunkN, stampN
	return true, p.decodePayload(payload, md)
}

// atoiSigned reads a JSON integer of up to 18 digits, with its sign.
func atoiSigned(b []byte) (int64, bool) {
	if len(b) > 0 && b[0] == '-' {
		n, ok := atoi(b[1:])
		return -n, ok
	}
	return atoi(b)
}

// frameScanner reads the plain JSON of a media frame; each method returns
// false for what it does not take.
type frameScanner struct {
	b []byte
	i int
}

func (s *frameScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next reads c after white space.
func (s *frameScanner) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end says whether only white space is left.
func (s *frameScanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// object reads an object, calling field with each key once the scanner is
// at its value; field reads the value.
func (s *frameScanner) object(field func(key []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		var key []byte
		if !s.str(&key) || !s.next(':') || !field(key) {
			return false
		}
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// str reads a string without escapes into *v (never nil once read).
func (s *frameScanner) str(v *[]byte) bool {
	if !s.next('"') {
		return false
	}
	n := bytes.IndexByte(s.b[s.i:], '"')
	if n < 0 {
		return false
	}
	b := s.b[s.i : s.i+n : s.i+n]
	if bytes.IndexByte(b, '\\') >= 0 {
		return false
	}
	*v, s.i = b, s.i+n+1
	return true
}

// intOrString reads a string without escapes, or an integer (isNum set).
func (s *frameScanner) intOrString(v *[]byte, isNum *bool) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '"' {
		return s.str(v)
	}
	*isNum = true
	return s.integer(v)
}

// integer reads -?[0-9]+ with no leading zero, up to a delimiter.
func (s *frameScanner) integer(v *[]byte) bool {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n := s.i - digits
	if n == 0 || (n > 1 && s.b[digits] == '0') {
		return false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ' ', '\t', '\n', '\r':
		default:
			return false // a fraction, an exponent, or garbage
		}
	}
	*v = s.b[start:s.i:s.i]
	return true
}

// skipScalar passes over a field this path does not read: a string
// without escapes or an integer.
func (s *frameScanner) skipScalar() bool {
	var v []byte
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '"' {
		return s.str(&v)
	}
	return s.integer(&v)
}
