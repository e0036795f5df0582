package session

import (
	"strings"
	"unicode"
)

// continuations are words a sentence does not end on: a caller who stops
// after "I want to" or "um" has more to say, whatever punctuation the
// transcriber guessed.
var continuations = map[string]bool{
	"um": true, "uh": true, "er": true, "erm": true, "hmm": true, "and": true, "but": true, "or": true,
	"so": true, "because": true, "to": true, "the": true, "a": true, "an": true, "my": true, "your": true,
	"is": true, "are": true, "of": true, "for": true, "with": true, "that": true, "if": true, "then": true,
	"in": true, "on": true, "at": true, "like": true, "i": true, "it's": true, "was": true,
}

// endsTurn reports whether a final transcript sounds like the end of the
// caller's turn: it ends a sentence (a full stop, question or exclamation
// mark), or, from a transcriber that does not punctuate, the transcriber
// judged the speaker finished (speechFinal); and its last word is not one
// that a sentence goes on after. The session then answers at the VAD's
// first pause instead of waiting out the longer silence.
func endsTurn(text string, speechFinal bool) bool {
	text = strings.TrimSpace(text)
	if text == "" {
		return false
	}
	last := text[len(text)-1]
	punctuated := strings.ContainsAny(text, ".?!,;")
	switch {
	case last == '.' || last == '?' || last == '!':
		if strings.HasSuffix(text, "...") {
			return false // trailing off
		}
	case !punctuated && speechFinal:
	default:
		return false
	}
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
	return len(words) > 0 && !continuations[words[len(words)-1]]
}
