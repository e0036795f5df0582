package session

import "strings"

// sentenceSplitter cuts streamed model text into sentences, so each can be
// spoken as soon as it is complete while the model writes the next.
type sentenceSplitter struct {
	buf strings.Builder
}

// minSentence keeps "Dr." or "1." from being spoken as a sentence of its own.
const minSentence = 12

// push adds text and returns the sentences it completed.
func (s *sentenceSplitter) push(text string, out []string) []string {
	s.buf.WriteString(text)
	for {
		cur := s.buf.String()
		cut := sentenceEnd(cur)
		if cut < 0 {
			return out
		}
		if sent := strings.TrimSpace(cur[:cut]); sent != "" {
			out = append(out, sent)
		}
		rest := cur[cut:]
		s.buf.Reset()
		s.buf.WriteString(rest)
	}
}

// flush returns what is left as the last sentence.
func (s *sentenceSplitter) flush() string {
	t := strings.TrimSpace(s.buf.String())
	s.buf.Reset()
	return t
}

// sentenceEnd returns the index just past the first sentence end in s: a .!?
// (or a newline) followed by white space, after at least minSentence bytes;
// -1 when there is none yet.
func sentenceEnd(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\n':
			if i > 0 {
				return i + 1
			}
		case '.', '!', '?', ';':
			if i+1 < len(s) && (s[i+1] == ' ' || s[i+1] == '\n') && i+1 >= minSentence {
				return i + 1
			}
		}
	}
	return -1
}

// splitSentences cuts a whole text into sentences.
func splitSentences(text string) []string {
	var s sentenceSplitter
	out := s.push(text, nil)
	if last := s.flush(); last != "" {
		out = append(out, last)
	}
	return out
}

// heardPrefix returns the words of text a caller heard when frac of its audio
// had played: speech runs roughly evenly over the words.
func heardPrefix(text string, frac float64) string {
	if frac >= 1 {
		return text
	}
	if frac <= 0 {
		return ""
	}
	words := strings.Fields(text)
	n := int(float64(len(words))*frac + 0.5)
	return strings.Join(words[:n], " ")
}
