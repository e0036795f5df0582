package local

import (
	"context"
	"errors"
	"hash/fnv"
	"strings"
	"unicode"

	"github.com/iace/iace/ai"
)

// HashEmbedder is the offline embedder: a hashed bag of words and of
// character trigrams, signed, at a fixed number of dimensions and unit
// length. Texts that share words (or most of a word) get close vectors,
// which is enough for the similar-pattern search of a quick-start or a test;
// it knows no synonyms, so a cloud embedder serves production.
type HashEmbedder struct {
	dims int
}

// maxEmbedTextBytes caps the text an embedding reads.
const maxEmbedTextBytes = 8000

// NewHashEmbedder returns an embedder of dims dimensions.
func NewHashEmbedder(dims int) (*HashEmbedder, error) {
	if dims < 16 {
		return nil, errors.New("local: embedder dimensions below 16")
	}
	return &HashEmbedder{dims: dims}, nil
}

// Dimensions is the length of every vector.
func (e *HashEmbedder) Dimensions() int { return e.dims }

// Embed returns one unit vector per text. It fails only on an empty text.
func (e *HashEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if strings.TrimSpace(t) == "" {
			return nil, errors.New("local: empty text to embed")
		}
		out[i] = e.vector(t)
	}
	return out, nil
}

func (e *HashEmbedder) vector(text string) []float32 {
	if len(text) > maxEmbedTextBytes {
		text = text[:maxEmbedTextBytes]
	}
	v := make([]float64, e.dims)
	add := func(feature string, weight float64) {
		h := fnv.New64a()
		_, _ = h.Write([]byte(feature))
		sum := h.Sum64()
		if sum&1 == 1 {
			weight = -weight
		}
		v[(sum>>1)%uint64(e.dims)] += weight //nolint:gosec // G115: dims is a positive vector length, checked in NewHashEmbedder
	}
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for _, w := range words {
		add("w:"+w, 1)
		padded := " " + w + " "
		for j := 0; j+3 <= len(padded); j++ {
			add("t:"+padded[j:j+3], 0.3)
		}
	}
	if len(words) == 0 {
		add("x:"+text, 1)
	}
	out, err := ai.UnitVector(v, e.dims)
	if err != nil { // words whose features cancel out: any fixed unit vector
		out = make([]float32, e.dims)
		out[0] = 1
	}
	return out
}
