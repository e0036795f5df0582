package escalate

import (
	_ "embed"
	"hash/crc32"
	"math"
)

// The words model: a logistic regression over the words of what the caller
// has said so far, the offline reader of meaning that the keyword rules and
// topics are not. Where a topic needs its stakes and signs in frames that
// someone wrote down ("a medicine" and "taken two"), the model has weighed
// every word and pair of words of the labelled conversations in testdata
// against their labels, so "stairlift", "halfway" and "MS" count towards a
// person without anyone listing them.
//
// Features: each word of a caller turn (lower case, without apostrophes,
// as the frames read it) and each pair of neighbouring words in the turn,
// hashed (CRC-32) into wordsSize weights and counted as often as said; and
// the share of three misunderstandings the agent has had so far. The
// probability that the call needs a person is the logistic function of the
// bias plus the weights of everything said so far; the rule
// (store.EscalationRules.WordsRiskAbove) fires when it reaches its
// threshold.
//
// The weights are trained from the development files in testdata and
// nothing else, by TestWordsModelIsTrainedFromTheDevelopmentSets
// (words_train_test.go), which also checks that the committed weights are
// what that training gives: go test ./ai/escalate -run WordsModel -update
// writes them again. They are embedded: 2^14 + 2 little-endian float32
// (64 KiB), read in place, never copied to the heap.

// wordsBits is the size of the hashed feature space, as a power of two.
const wordsBits = 14

const (
	wordsSize     = 1 << wordsBits
	wordsFallback = wordsSize     // the weight of the misunderstandings' share
	wordsBias     = wordsSize + 1 // the bias
	wordsWeights  = wordsSize + 2
	// wordsFallbackCap is the number of misunderstandings the feature
	// counts up to.
	wordsFallbackCap = 3
)

//go:embed wordsmodel.bin
var wordsModel string

// wordsWeight is the model's weight i, read from the embedded bytes.
func wordsWeight(i int) float64 {
	j := 4 * i
	b := uint32(wordsModel[j]) | uint32(wordsModel[j+1])<<8 | uint32(wordsModel[j+2])<<16 | uint32(wordsModel[j+3])<<24
	return float64(math.Float32frombits(b))
}

var space = []byte{' '}

// wordFeatures calls f with the feature index of each word of ws and of
// each pair of neighbouring words, in order. The words must be normalized
// (span.n).
func wordFeatures(ws []span, f func(int)) {
	var prev []byte
	for i := range ws {
		if ws[i].brk {
			continue
		}
		w := ws[i].n
		f(int(crc32.ChecksumIEEE(w) % wordsSize))
		if prev != nil {
			h := crc32.Update(crc32.Update(crc32.ChecksumIEEE(prev), crc32.IEEETable, space), crc32.IEEETable, w)
			f(int(h % wordsSize))
		}
		prev = w
	}
}

// wordsRisk is the model's probability that a call needs a person, given
// the sum of the weights of its words so far and its misunderstandings.
func wordsRisk(sum float64, fallbacks int) float64 {
	return riskOf(wordsWeight(wordsBias), wordsWeight(wordsFallback), sum, fallbacks)
}

// riskOf is the logistic model itself, for weights bias and fallback (the
// embedded ones, or a trainer's).
func riskOf(bias, fallback, sum float64, fallbacks int) float64 {
	z := bias + sum + fallback*float64(min(fallbacks, wordsFallbackCap))/wordsFallbackCap
	return 1 / (1 + math.Exp(-z))
}

// wordsSaid adds the weights of the caller's words ws, normalized, to the
// call's sum.
func (p *Policy) wordsSaid(ws []span) {
	wordFeatures(ws, func(i int) { p.words.sum += wordsWeight(i) })
}

// wordsState is what a policy keeps of the words model over a call.
type wordsState struct {
	sum       float64 // the weights of every word and pair said so far
	fallbacks int     // the agent's misunderstandings so far, not only in a row
}

// WordsRisk is the words model's probability, 0 to 1, that the call so far
// needs a person.
func (p *Policy) WordsRisk() float64 { return wordsRisk(p.words.sum, p.words.fallbacks) }

// wordsFired reports whether the words model's rule fires now.
func (p *Policy) wordsFired() bool {
	th := p.rules.WordsRiskAbove
	return th > 0 && p.WordsRisk() >= th
}
