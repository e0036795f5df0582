package local

import (
	"context"
	"math"
	"unicode"
	"unicode/utf8"

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

// lexiconWords are English words of phone calls with their valence, -3 to
// 3. They are grouped by what they say about the caller, not by the topic
// of the call: on a customer-service line nearly every caller has a
// problem, so the words that only name it ("problem", "issue", "wrong",
// "late", "broken") weigh little, and the words of a caller's mood
// ("furious", "fed up", "disgraceful") weigh much.
var lexiconWords = map[string]float64{
	// thanks, satisfaction, relief
	"good": 1.5, "great": 2.5, "excellent": 3, "perfect": 2.5, "wonderful": 2.5, "amazing": 2.5, "awesome": 2.5,
	"fantastic": 2.5, "nice": 1.5, "happy": 2, "glad": 1.5, "pleased": 2, "love": 2.5, "lovely": 2, "loved": 2,
	"thanks": 1.5, "thank": 1.5, "thankyou": 1.5, "cheers": 1, "appreciate": 2, "appreciated": 2, "grateful": 2,
	"helpful": 2, "helped": 1.5, "fine": 0.8, "ok": 0.3, "okay": 0.3, "sure": 0.5, "yes": 0.3, "works": 1,
	"fixed": 1.5, "resolved": 1.5, "sorted": 1.5, "easy": 1.5, "quick": 1, "fast": 1, "friendly": 2, "kind": 1.5,
	"satisfied": 2, "brilliant": 2.5, "best": 2.5, "cool": 1, "right": 0.3, "enjoy": 2, "relieved": 2, "phew": 1,
	"welcome": 1, "worked": 1, "acceptable": 2, "superb": 3, "marvellous": 2.5, "marvelous": 2.5, "terrific": 2.5,
	"delighted": 3, "thrilled": 2.5, "excited": 2, "impressed": 2.5, "impressive": 2.5, "reassured": 2,
	"reassuring": 2, "reasonable": 1, "fair": 1, "handy": 1, "smooth": 1, "recommend": 1.5, "patient": 1,
	"care": 1, "cares": 1,

	// words that name the trouble the call is about: a fact more than a
	// mood. None weighs more than 1, so that one alone scores -0.38 at
	// most, short of a turn that reads as angry ("it's broken", "a bit of
	// back pain", "a formal complaint"); and however many there are, with
	// boosters or not, together they weigh no more (troubleCap): "it looks
	// wrong, it's really confusing" is a description, not anger.
	"problem": -0.5, "problems": -0.5, "issue": -0.3, "issues": -0.3, "wrong": -0.6, "late": -0.5,
	"waiting": -0.6, "waited": -0.6, "lost": -0.8, "broken": -1, "damaged": -1, "waste": -0.8, "slow": -1,
	"wasted": -1, "mess": -1, "sick": -1, "pain": -1, "lawyer": -1, "complaint": -1, "complaints": -1, "complain": -1,
	"stolen": -1, "confused": -1, "confusing": -1, "fault": -0.5, "hassle": -1, "nuisance": -1,
	"worries": -1, "worry": -1, "worried": -1, "concerned": -1, "concern": -0.8, "forever": -0.8,
	"freezing": -1, "struggling": -1,

	// displeasure, disappointment
	"bad": -1.5, "poor": -2, "worse": -2.5, "worst": -3, "fail": -2, "failed": -2, "failure": -2, "failing": -2,
	"unhappy": -2, "sad": -1.5, "disappointed": -2.5, "disappointing": -2.5, "disappointment": -2.5,
	"gutted": -2, "unfair": -2, "unreliable": -2, "inadequate": -2, "substandard": -2, "shoddy": -2.5,
	"sloppy": -2, "careless": -2, "unhelpful": -2.5, "useless": -2.5, "worthless": -2.5, "pointless": -2,
	"hopeless": -2.5, "unprofessional": -2.5, "incompetent": -3, "incompetence": -3, "clueless": -2,
	"nobody": -1, "ignored": -2, "ignoring": -2, "neglected": -2, "unacceptable": -3, "inexcusable": -3,
	"intolerable": -3, "unbearable": -3, "impossible": -1.5, "unbelievable": -1.5, "tired": -1.5,
	"embarrassing": -2, "amateurish": -2, "negligent": -2.5, "negligence": -2.5, "patronising": -2.5,
	"patronizing": -2.5, "condescending": -2.5, "overwhelmed": -2,

	// anger, exasperation, contempt
	"terrible": -3, "awful": -3, "horrible": -3, "dreadful": -3, "appalling": -3, "atrocious": -3,
	"abysmal": -3, "diabolical": -3, "horrendous": -3, "disgraceful": -3, "disgrace": -3, "shameful": -2.5,
	"shocking": -2.5, "outrageous": -3, "ridiculous": -2.5, "ludicrous": -2.5, "absurd": -2, "farce": -2.5,
	"shambles": -2.5, "pathetic": -2.5, "rubbish": -2, "garbage": -2, "nonsense": -2, "joke": -1.5,
	"nightmare": -2.5, "disaster": -2.5, "disastrous": -3, "chaos": -2, "hate": -3, "angry": -2.5, "mad": -2,
	"furious": -3, "livid": -3, "fuming": -3, "seething": -3, "irate": -3, "outraged": -3, "incensed": -3,
	"infuriating": -3, "infuriated": -3, "upset": -2, "annoyed": -2, "annoying": -2, "irritated": -2,
	"irritating": -2, "frustrated": -2.5, "frustrating": -2.5, "exasperated": -2.5, "exasperating": -2.5,
	"disgusted": -3, "disgusting": -3, "appalled": -3, "shocked": -2, "sucks": -2.5, "rude": -2.5,
	"disrespectful": -2.5, "insulting": -2.5, "stupid": -2.5, "grumpy": -1.5, "lie": -2, "lies": -2,
	"lied": -2.5, "lying": -2.5, "liar": -3, "liars": -3, "cheated": -2.5, "misled": -2, "scam": -3,
	"robbery": -2.5, "scandalous": -3, "shambolic": -2.5, "criminal": -2.5, "insane": -2, "idiot": -2.5,
	"idiots": -2.5, "cowboys": -2, "clowns": -2,

	// swearing
	"damn": -2, "hell": -2, "crap": -2.5, "bloody": -1.5, "shit": -2.5, "shitty": -2.5, "bullshit": -3,
	"fuck": -3, "fucking": -2, "pissed": -2.5,

	// distress, fear, hurt
	"hurt": -2, "hurts": -2, "scared": -2, "afraid": -2, "frightened": -2, "terrified": -3, "stressed": -2,
	"stressful": -2, "anxious": -1.5, "panicking": -2, "panic": -2, "desperate": -2, "distressed": -2.5,
	"distraught": -3, "devastated": -3, "heartbroken": -3, "miserable": -2.5, "helpless": -2, "crying": -2,
	"suffering": -2.5, "agony": -3, "dangerous": -2.5, "unsafe": -2.5,
}

// lexiconPhrases are runs of two or three words that mean more, or other,
// than their words: their valence replaces that of their words.
var lexiconPhrases = map[string]float64{
	"fed up": -2.5, "sick of": -2.5, "had enough": -2.5, "fobbed off": -2, "ripped off": -2.5, "rip off": -2.5,
	"let me down": -2.5, "let us down": -2.5,
	"pissed off": -3, "messed up": -2, "let down": -2, "a joke": -2, "waste of time": -2.5,
	"waste of money": -2.5, "thanks for nothing": -2.5, "no worries": 1.5, "no problem": 1.2,
	// exasperation: the end of the caller's patience
	"of my tether": -2.5, "wits end": -2.5, "wit end": -2.5, "last straw": -2.5, "beyond a joke": -2.5,
	"sick and tired": -3, "enough is enough": -2.5, "up to here": -2.5, "how dare": -2.5, "out of patience": -2.5,
	"lost patience": -2.5, "losing patience": -2.5, "driving me mad": -2.5,
	"driving me crazy": -2.5, "taking the mick": -2.5, "taking the piss": -3, "yeah right": -2,
	// politeness that holds anger back: "I'm trying to remain civil"
	// (not "with respect" alone: "with respect to my bill" is neutral)
	"remain civil": -2.5, "stay civil": -2.5, "keep my temper": -2.5, "all due respect": -1.5,
	"than a script": -1.5,
	// the agent not getting it: "you're not listening", "round in circles"
	"not listening": -2.5, "round in circles": -2.5, "in circles": -2, "getting nowhere": -2.5,
	"going nowhere": -2, "brick wall": -2, "head against": -2.5,
	// distress
	"not cope": -2, "in tears": -2.5, "beside myself": -2.5,
	// greetings are courtesy, not a mood: "Good afternoon."
	"good morning": 0, "good afternoon": 0, "good evening": 0, "good day": 0, "good night": 0,
}

// lexiconPhraseWords are the first words of the lexicon's phrases.
var lexiconPhraseWords = func() map[string]bool {
	m := make(map[string]bool)
	for p := range lexiconPhrases {
		for i := 0; i < len(p); i++ {
			if p[i] == ' ' {
				m[p[:i]] = true
				break
			}
		}
	}
	return m
}()

// negators flip the valence of the next few words ("not happy"). Every
// "n't" is read as "not"; the forms without apostrophe are here for
// transcripts that drop it.
var negators = map[string]bool{
	"not": true, "no": true, "never": true, "nothing": true, "neither": true, "nor": true, "without": true,
	"hardly": true, "barely": true, "cannot": true, "cant": true, "dont": true, "doesnt": true, "didnt": true,
	"isnt": true, "wasnt": true, "arent": true, "werent": true, "wont": true, "wouldnt": true, "couldnt": true,
	"shouldnt": true, "havent": true, "hasnt": true, "aint": true, "nobody": true, "none": true,
}

// boosters strengthen the next sentiment word ("very happy").
var boosters = map[string]float64{
	"very": 1.4, "really": 1.4, "so": 1.3, "extremely": 1.7, "absolutely": 1.6, "totally": 1.4, "completely": 1.5,
	"incredibly": 1.6, "super": 1.4, "too": 1.2, "quite": 1.1, "pretty": 1.1, "somewhat": 0.7,
	"slightly": 0.6, "bit": 0.7, "utterly": 1.6, "utter": 1.5, "absolute": 1.5, "complete": 1.4, "total": 1.4,
	"such": 1.3, "seriously": 1.4, "properly": 1.2, "bloody": 1.3,
}

// Irony. An utterance reads as ironic when it has praise and a sarcasm
// cue. The praise is a sentence that opens with a sarcasm opener and a
// positive word ("Oh great, ..."), which any cue makes ironic: "Oh great,
// it's late again", but not "Oh great, thanks again". Or it is a sentence
// of praise alone ("Wonderful.", "Just brilliant."), not of thanks, which
// takes a strong cue, not in a question: "as usual", "typical", "forever",
// "yet again", or "another" with a span of time: "Lovely. Another week
// without a washing machine." Praise that goes on ("Great, I'll try again
// later") and questions ("Perfect. Can I book another week?") are
// sincere far more often, and a cue in a question asks ("The same as
// usual? Oh good."). A mocking "..., then, shall I" makes an utterance
// ironic by itself: "Fantastic, I'll run my business from the library
// then, shall I".
var (
	sarcasmOpeners = map[string]bool{"oh": true, "yeah": true, "well": true, "wow": true}
	sarcasmCues    = map[string]bool{"again": true, "usual": true, "typical": true, "forever": true}
	// sarcasmSpans, after "another" ("another week", "another two
	// weeks"), are a strong cue ("another day" is as often a new
	// appointment).
	sarcasmSpans = map[string]bool{"minutes": true, "hour": true, "hours": true, "days": true, "week": true,
		"weeks": true, "month": true, "months": true, "year": true, "years": true, "delay": true}
	// counts may stand between "another" and a span: "another two weeks".
	counts = map[string]bool{"two": true, "three": true, "four": true, "five": true, "six": true, "few": true,
		"couple": true, "whole": true, "full": true}
	// thanks are not praise: "Thanks, I'll call again".
	thanks = map[string]bool{"thanks": true, "thank": true, "thankyou": true, "cheers": true, "appreciate": true,
		"appreciated": true, "grateful": true, "welcome": true}
)

// praiseValence is the least valence of a word of praise, which may open
// an ironic sentence ("great", "lovely"; not "good", "fine" or "okay").
const praiseValence = 2

const (
	// negationScope is how many words after a negator it reaches, within
	// the clause: a comma or a full stop ends it.
	negationScope = 3
	// negationFactor flips and damps a negated word: "not happy" is
	// negative but weaker than "unhappy"; "not bad" is mildly positive.
	negationFactor = -0.75
	// afterNegation strengthens a negated word that "at all" or "enough"
	// follows: "not happy at all", "not good enough", "not bad at all".
	afterNegation = 1.5
	// capsFactor strengthens a word in capitals ("I am NOT HAPPY").
	capsFactor = 1.3
	// bangFactor strengthens a whole utterance per "!", up to maxBangs.
	bangFactor = 0.1
	maxBangs   = 3
	// sarcasmFactor turns the positive words of an ironic utterance.
	sarcasmFactor = -0.75
	// butPositive and butNegative weigh what comes before a contrastive
	// "but": a positive clause is mostly courtesy or concession ("I
	// appreciate you're doing your best, but...", "thanks, but..."), a
	// negative one still counts for something ("it's a bit annoying, but
	// fine").
	butPositive = 0.25
	butNegative = 0.5
	// maxWordBytes is the longest word the lexicon reads.
	maxWordBytes = 24
	// troubleValence: a negative word that weighs no more than this only
	// names the trouble ("wrong", "broken", "confusing"; see lexiconWords).
	troubleValence = -1
	// troubleCap is the most that the words naming the trouble add up to
	// in an utterance, boosted or not: together they weigh as one does
	// alone, -0.38, so that a caller who only describes the trouble ("my
	// bill looks wrong, it's really confusing") does not read as angry.
	// Anger takes a word of mood ("annoyed", "fed up").
	troubleCap = -1
)

// LexiconSentiment is the offline sentiment scorer: an English word list
// with phrases ("fed up", "at the end of my tether"; greetings such as
// "good afternoon" are courtesy and weigh nothing), negation within a
// clause ("not happy", "I can't sleep, it hurts"), boosters ("very angry"),
// emphasis by capitals and "!", a contrastive "but" (what follows it
// counts more, and courtesy before it little: "I appreciate you're busy,
// but...") and cues of irony ("Oh great, late again", "Lovely. Another
// week without a washer."). The words that only name the trouble ("wrong",
// "broken", "confusing") weigh together no more than one of them alone, so
// that describing a problem does not read as anger; a word of mood
// ("annoyed", "fed up") does. It needs nothing, never fails, takes
// microseconds and allocates nothing, so it is the fallback of every cloud
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
	sum, ironic := lexiconSum(text, false)
	if ironic {
		sum, _ = lexiconSum(text, true)
	}
	return sum / math.Sqrt(sum*sum+lexiconAlpha)
}

// lexiconSum adds up the valence of text's words. With ironic, its
// positive words count against it; it reports whether text looks ironic: a
// sentence that opens as praise, and a sarcasm cue anywhere (see
// sarcasmOpeners).
func lexiconSum(text string, ironic bool) (sum float64, looksIronic bool) {
	var (
		tok     = tokenizer{text: text}
		w       word
		prev    [2]word    // the two words before w in this clause, prev[0] the nearest
		prevVal [2]float64 // what they added to sum
		key     [3*maxWordBytes + 2]byte

		negLeft    int         // words the last negator still reaches
		negAt      int         // the index of that negator in the sentence
		negNever   bool        // that negator was "never"
		boost      float64 = 1 // from boosters, for the next word
		weight     float64 = 1 // 1, or more after "but"
		lastNeg    float64     // the last negated valence added, in this clause
		bangs      int
		trouble    float64 // what the words that only name the trouble added
		n          int     // words so far in the sentence
		opener     bool    // the sentence opened with a sarcasm opener
		loneLead   bool    // the sentence so far is "just", "how" or a booster
		lonePraise bool    // the sentence so far is a word of praise
		strong     bool    // a strong sarcasm cue in this sentence
		cue        bool    // any sarcasm cue in this sentence
		mock       bool    // "then, shall I": a mocking question that is not one
		thenShall  int     // 1 after "then" (across a comma), 2 after "then shall"
		sawOpener  bool    // an opener followed by a positive word
		sawPraise  bool    // a sentence of praise alone
		sawCue     bool    // any sarcasm cue
		sawStrong  bool    // a strong one, not in a question
	)
	clause := func() {
		negLeft, negNever, boost, lastNeg = 0, false, 1, 0
		prev[0].n, prev[1].n, prevVal = 0, 0, [2]float64{}
	}
	for {
		kind := tok.next(&w)
		if kind != tokWord && kind != tokComma {
			// the end of a sentence
			sawPraise = sawPraise || lonePraise
			sawStrong = sawStrong || strong && kind != tokAsk
			sawCue = sawCue || cue && kind != tokAsk // "it's the same as usual?" asks
			n, opener, loneLead, lonePraise, strong, cue, thenShall = 0, false, false, false, false, false, 0
		}
		if kind == tokEnd {
			break
		}
		if kind != tokWord {
			clause()
			if kind == tokBang {
				bangs++
			}
			continue
		}
		s := w.String() // map look-ups only: it does not escape
		n++
		if n == 1 && sarcasmOpeners[s] {
			opener = true
		}
		switch {
		case lexiconWords[s] >= praiseValence && !thanks[s] && (n == 1 || loneLead):
			lonePraise, loneLead = true, false
		case n == 1 && (s == "just" || s == "how" || boosters[s] != 0):
			loneLead = true
		default:
			lonePraise, loneLead = false, false
		}
		switch {
		case sarcasmCues[s] && !thanked(&prev[0]):
			cue = true
			strong = strong || s != "again" || prev[0].String() == "yet"
		case s == "another" && prev[0].String() == "yet",
			sarcasmSpans[s] && (prev[0].String() == "another" || isCount(&prev[0]) && prev[1].String() == "another"):
			cue, strong = true, true
		}
		switch {
		case s == "then" && n > 1: // not "Then shall I ring back?"
			thenShall = 1
		case s == "shall" && thenShall == 1:
			thenShall = 2
		case s == "i" && thenShall == 2:
			mock = true // "I'll just run my business from the library then, shall I"
			fallthrough
		default:
			thenShall = 0
		}
		added := 0.0
		if v, k := phraseEnding(&prev, &w, key[:]); k > 0 {
			// a phrase replaces what its words added; a negator before
			// it reaches it, one inside it ("no worries") does not
			for i := range k - 1 {
				sum -= prevVal[i]
			}
			added = v * weight
			if w.caps {
				added *= capsFactor
			}
			switch {
			case negLeft > 0 && negAt <= n-k:
				added *= negationFactor
				lastNeg = added
			case negLeft > 0:
				negLeft = 0 // the phrase's own: "no worries", "can't cope"
			}
			sum += added
			boost = 1
		} else {
			switch {
			case s == "but" || s == "however" || s == "although" || s == "though":
				// the clause before "but" matters less
				if sum > 0 {
					sum *= butPositive
					trouble *= butPositive
				} else {
					sum *= butNegative
					trouble *= butNegative
				}
				clause()
				weight = 1.5
				continue
			case negators[s]:
				negLeft, negAt, negNever, lastNeg = negationScope, n, s == "never", 0
				added = lexiconWords[s] * weight // "nobody" is sour itself
				sum += added
			case negNever && (s == "so" || s == "such"):
				// "I've never had such terrible service" strengthens
				negLeft, negNever = 0, false
				boost *= boosters[s]
			case boosters[s] != 0:
				boost *= boosters[s]
				added = lexiconWords[s] * weight // "bloody" is sour itself
				sum += added
			case lastNeg != 0 && (s == "enough" || (s == "all" && prev[0].String() == "at")):
				sum += lastNeg * (afterNegation - 1) // "not happy at all"
				lastNeg = 0
			default:
				if v, ok := lexiconWords[s]; ok {
					v *= boost * weight
					if w.caps {
						v *= capsFactor
					}
					if v > 0 && negLeft == 0 && opener && n <= 3 {
						sawOpener = true
					}
					switch {
					case v > 0 && ironic:
						v *= sarcasmFactor
					case negLeft > 0:
						v *= negationFactor
						lastNeg = v
					}
					if base := lexiconWords[s]; base < 0 && base >= troubleValence && v < 0 {
						trouble += v
					}
					sum += v
					added = v
				}
				boost = 1 // a booster reaches the next word only
				if negLeft > 0 {
					negLeft--
				}
			}
		}
		prev[1], prev[0] = prev[0], w
		prevVal[1], prevVal[0] = prevVal[0], added
	}
	if trouble < troubleCap {
		sum += troubleCap - trouble // the words of the trouble, together, as one
	}
	if bangs > 0 {
		sum *= 1 + bangFactor*float64(min(bangs, maxBangs))
	}
	return sum, sawOpener && sawCue || sawPraise && sawStrong || mock
}

// isCount reports whether w may count a span of time: "two", "a few",
// "48".
func isCount(w *word) bool {
	if counts[w.String()] {
		return true
	}
	b := w.bytes()
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// thanked reports whether w is "thanks" or "you", as before "again" in
// "thanks again" or "thank you again": gratitude, not irony.
func thanked(w *word) bool {
	s := w.String()
	return s == "thanks" || s == "you"
}

// phraseEnding looks for a phrase of the lexicon that ends with w after
// the words in prev; it returns its valence and its length in words (0:
// none). key is scratch space.
func phraseEnding(prev *[2]word, w *word, key []byte) (float64, int) {
	if prev[0].n == 0 || w.long {
		return 0, 0
	}
	if prev[1].n > 0 && lexiconPhraseWords[prev[1].String()] {
		k := append(append(append(append(append(key[:0], prev[1].bytes()...), ' '), prev[0].bytes()...), ' '), w.bytes()...)
		if v, ok := lexiconPhrases[string(k)]; ok {
			return v, 3
		}
	}
	if lexiconPhraseWords[prev[0].String()] {
		k := append(append(append(key[:0], prev[0].bytes()...), ' '), w.bytes()...)
		if v, ok := lexiconPhrases[string(k)]; ok {
			return v, 2
		}
	}
	return 0, 0
}

// word is one word as the lexicon reads it: lower-cased, without
// apostrophes.
type word struct {
	b    [maxWordBytes]byte
	n    int  // bytes in b
	long bool // longer than b holds: it matches nothing
	caps bool // written in capitals, two letters or more ("NOT")
}

func (w *word) bytes() []byte { return w.b[:w.n] }

// String is the word; map look-ups with it do not allocate once inlined,
// but a caller that keeps it must copy it.
func (w *word) String() string {
	if w.long {
		return ""
	}
	return string(w.b[:w.n])
}

// Token kinds.
const (
	tokEnd   = iota
	tokWord  // a word, in the word passed to next
	tokComma // , ; : or a dash: the end of a clause
	tokStop  // . or an ellipsis: the end of a sentence
	tokAsk   // ?: the end of a question
	tokBang  // !: the end of an emphatic sentence
)

// tokenizer splits text into words and the punctuation that ends clauses
// and sentences. It reads "n't" as a word "not" ("isn't" -> "is not"),
// drops "'s" ("nothing's" -> "nothing") and other apostrophes ("I'm" ->
// "im").
type tokenizer struct {
	text    string
	pos     int
	not     bool // a "not" from "n't" is due
	notCaps bool
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func isApostrophe(r rune) bool { return r == '\'' || r == '\u2019' }

// next reads the next token into w (words only) and returns its kind.
func (t *tokenizer) next(w *word) int {
	if t.not {
		t.not = false
		w.n, w.long, w.caps = copy(w.b[:], "not"), false, t.notCaps
		return tokWord
	}
	for t.pos < len(t.text) {
		r, size := utf8.DecodeRuneInString(t.text[t.pos:])
		if isWordRune(r) {
			break
		}
		t.pos += size
		switch r {
		case ',', ';', ':', '\u2013', '\u2014':
			return tokComma
		case '.', '\u2026':
			return tokStop
		case '?':
			return tokAsk
		case '!':
			return tokBang
		}
	}
	if t.pos >= len(t.text) {
		return tokEnd
	}
	w.n, w.long = 0, false
	letters, upper, apos := 0, 0, -1
	for t.pos < len(t.text) {
		r, size := utf8.DecodeRuneInString(t.text[t.pos:])
		if isApostrophe(r) {
			// inside a word only: "don't", not a closing quote
			r2, _ := utf8.DecodeRuneInString(t.text[t.pos+size:])
			if !unicode.IsLetter(r2) {
				break
			}
			apos = w.n
			t.pos += size
			continue
		}
		if !isWordRune(r) {
			break
		}
		t.pos += size
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
		switch {
		case r < utf8.RuneSelf && w.n < len(w.b):
			c := t.text[t.pos-size] // the rune is this one ASCII byte
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			w.b[w.n] = c
			w.n++
		case r >= utf8.RuneSelf && w.n+utf8.RuneLen(unicode.ToLower(r)) <= len(w.b):
			w.n += utf8.EncodeRune(w.b[w.n:], unicode.ToLower(r))
		default:
			w.long = true
		}
	}
	w.caps = letters >= 2 && upper == letters
	if !w.long && apos >= 1 && apos == w.n-1 && w.b[w.n-1] == 's' {
		w.n-- // "nothing's fixed", "it's": the word, less its "'s"
	}
	if !w.long && apos >= 1 && apos == w.n-1 && w.b[w.n-1] == 't' && w.b[w.n-2] == 'n' {
		w.n -= 2 // "don't" -> "do" and a "not" next
		t.not, t.notCaps = true, w.caps
		if w.n == 0 {
			t.not = false
			w.n = copy(w.b[:], "not")
		}
	}
	return tokWord
}
