package local

import (
	"context"
	"math"
	"strings"
	"unicode"

	"github.com/iace/iace/ai"
)

// LexiconSource is the Source of the lexicon's scores.
const LexiconSource = "lexicon"

// lexiconMaxBytes caps the text the lexicon reads; one utterance is far
// shorter.
const lexiconMaxBytes = 8 << 10

// lexiconAlpha normalises a raw sum s to s/sqrt(s*s+alpha) in (-1, 1), as
// VADER does; a small alpha lets one strong word ("furious", -3) reach a
// clearly negative score on its own.
const lexiconAlpha = 6

// words are English words of phone calls with their valence, -3 to 3.
var words = map[string]float64{
	// positive
	"good": 1.5, "great": 2.5, "excellent": 3, "perfect": 2.5, "wonderful": 2.5, "amazing": 2.5, "awesome": 2.5,
	"fantastic": 2.5, "nice": 1.5, "happy": 2, "glad": 1.5, "pleased": 2, "love": 2.5, "lovely": 2,
	"thanks": 1.5, "thank": 1.5, "appreciate": 2, "helpful": 2, "fine": 0.8, "ok": 0.3, "okay": 0.3, "sure": 0.5,
	"yes": 0.3, "works": 1, "fixed": 1.5, "resolved": 1.5, "easy": 1.5, "quick": 1, "fast": 1, "friendly": 2,
	"satisfied": 2, "brilliant": 2.5, "best": 2.5, "cool": 1, "right": 0.3, "enjoy": 2, "relieved": 2, "welcome": 1,
	"worked": 1, "acceptable": 1,
	// negative
	"bad": -2, "terrible": -3, "awful": -3, "horrible": -3, "worst": -3, "hate": -3, "angry": -2.5, "mad": -2,
	"furious": -3, "upset": -2, "annoyed": -2, "annoying": -2, "frustrated": -2.5, "frustrating": -2.5,
	"disappointed": -2.5, "disappointing": -2.5, "unhappy": -2, "sad": -1.5, "useless": -2.5, "ridiculous": -2.5,
	"unacceptable": -3, "wrong": -1.5, "broken": -2, "problem": -1.5, "problems": -1.5, "issue": -1, "issues": -1,
	"complaint": -2, "complain": -2, "late": -1, "slow": -1.5, "waiting": -1,
	"waited": -1, "rude": -2.5, "nobody": -1, "stupid": -2.5, "confused": -1.5, "confusing": -1.5,
	"worse": -2.5, "poor": -2, "fail": -2, "failed": -2, "failure": -2, "lost": -1.5, "scam": -3, "lawyer": -2,
	"sick": -1.5, "hurt": -2, "pain": -2, "damn": -2, "hell": -2, "sucks": -2.5, "crap": -2.5, "waste": -2,
	"hurts": -2, "nightmare": -2.5, "worried": -1.5, "stolen": -2, "damaged": -2, "mess": -1.5, "grumpy": -1.5,
}

// negators flip the valence of the next few words ("not happy"). Every
// "n't" is read as "not" (sentimentWords); the forms without apostrophe are here
// for transcripts that drop it.
var negators = map[string]bool{
	"not": true, "no": true, "never": true, "nothing": true, "neither": true, "nor": true, "without": true,
	"hardly": true, "barely": true, "cannot": true, "cant": true, "dont": true, "doesnt": true, "didnt": true,
	"isnt": true, "wasnt": true, "arent": true, "werent": true, "wont": true, "wouldnt": true, "couldnt": true,
	"shouldnt": true, "havent": true, "hasnt": true, "aint": true,
}

// boosters strengthen the next sentiment word ("very happy").
var boosters = map[string]float64{
	"very": 1.4, "really": 1.4, "so": 1.3, "extremely": 1.7, "absolutely": 1.6, "totally": 1.4, "completely": 1.5,
	"incredibly": 1.6, "super": 1.4, "too": 1.2, "quite": 1.1, "pretty": 1.1, "somewhat": 0.7,
	"slightly": 0.6, "bit": 0.7,
}

// negationScope is how many words after a negator it reaches.
const negationScope = 3

// negationFactor flips and damps a negated word: "not happy" is negative
// but weaker than "unhappy"; "not bad" is mildly positive.
const negationFactor = -0.75

// LexiconSentiment is the offline sentiment scorer: a small English word
// list with negation ("not happy"), boosters ("very angry") and a
// contrastive "but" (what follows it counts more). It needs nothing, never
// fails and takes microseconds, so it is the fallback of every cloud
// scorer. It is safe for concurrent use.
type LexiconSentiment struct{}

// NewLexiconSentiment returns the lexicon scorer.
func NewLexiconSentiment() *LexiconSentiment { return &LexiconSentiment{} }

// Score rates text; the error is always nil.
func (*LexiconSentiment) Score(_ context.Context, text string) (ai.Sentiment, error) {
	s := lexiconScore(text)
	return ai.Sentiment{Score: s, Label: ai.SentimentLabel(s), Source: LexiconSource}, nil
}

// lexiconScore is the normalised valence of text, in (-1, 1).
func lexiconScore(text string) float64 {
	if len(text) > lexiconMaxBytes {
		text = text[:lexiconMaxBytes]
	}
	var (
		sum     float64
		negLeft int     // words the last negator still reaches
		boost   float64 = 1
		weight  float64 = 1 // 1, or more after "but"
	)
	for _, w := range sentimentWords(text) {
		switch {
		case w == "but" || w == "however" || w == "although":
			sum *= 0.5 // the clause before "but" matters less
			weight, negLeft, boost = 1.5, 0, 1
			continue
		case negators[w]:
			negLeft = negationScope
			continue
		case boosters[w] != 0:
			boost *= boosters[w]
			continue
		}
		if v, ok := words[w]; ok {
			v *= boost * weight
			if negLeft > 0 {
				v *= negationFactor
			}
			sum += v
		}
		boost = 1 // a booster reaches the next word only
		if negLeft > 0 {
			negLeft--
		}
	}
	return sum / math.Sqrt(sum*sum+lexiconAlpha)
}

// apostrophes reads "n't" as "not" ("isn't" -> "is not") and drops the
// other apostrophes ("I'm" -> "im").
var apostrophes = strings.NewReplacer("n't", " not", "n\u2019t", " not", "'", "", "\u2019", "")

// sentimentWords lower-cases text and splits it into words.
func sentimentWords(text string) []string {
	text = apostrophes.Replace(strings.ToLower(text))
	return strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}
