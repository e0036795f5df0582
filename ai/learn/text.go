package learn

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// words are the lower-cased words of s (letters and digits), nil for none.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
}

// sameText reports whether two texts say the same words, whatever the case,
// punctuation and spacing.
func sameText(a, b string) bool {
	wa, wb := words(a), words(b)
	if len(wa) == 0 || len(wa) != len(wb) {
		return false
	}
	for i := range wa {
		if wa[i] != wb[i] {
			return false
		}
	}
	return true
}

// smallTalk are the words that carry no question: greetings, thanks,
// goodbyes, acknowledgements and fillers.
var smallTalk = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`hi hello hey there good morning afternoon evening day
		thanks thank you much very so bye goodbye ok okay yes yeah yep no nope sure great fine
		alright all right cool perfect please that that's it is for now um uh hmm er ah oh well
		just a the and i i'm me my we it's this was have nice welcome appreciate cheers bye-bye`) {
		smallTalk[w] = true
	}
}

// contentWords counts the words of s that are not small talk.
func contentWords(s string) int {
	n := 0
	for _, w := range words(s) {
		if !smallTalk[w] {
			n++
		}
	}
	return n
}

// clean readies a caller's or an agent's words to be kept: white space
// collapsed, tokens that look personal replaced (an e-mail address by
// "[email]", any token with three digits or more, a phone, order, card or
// account number, by "[number]", a run of them by one), and cut at
// n bytes on a word boundary.
func clean(s string, n int) string {
	fields := strings.Fields(s)
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		switch {
		case strings.Contains(f, "@") && strings.Contains(f, "."):
			f = "[email]"
		case digits(f) >= 3:
			f = "[number]"
		}
		if f == "[number]" && len(out) > 0 && out[len(out)-1] == f {
			continue
		}
		out = append(out, f)
	}
	return cut(strings.Join(out, " "), n)
}

func digits(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

// cut shortens s to at most n bytes, at the last space that fits if there
// is one, else at a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if i := strings.LastIndexByte(s[:n+1], ' '); i > 0 {
		return strings.TrimSpace(s[:i])
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
