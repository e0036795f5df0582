package local

import (
	"math"
	"testing"
)

func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestHashEmbedderRanksSharedWordsCloser(t *testing.T) {
	e, err := NewHashEmbedder(768)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := e.Embed(t.Context(), []string{
		"When are you open on Saturday?",
		"are you open on saturdays",
		"How much does the premium plan cost?",
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if len(v) != 768 || math.Abs(n-1) > 1e-5 {
			t.Fatalf("vector %d: %d dims, norm² %f", i, len(v), n)
		}
	}
	near, far := cosine(vs[0], vs[1]), cosine(vs[0], vs[2])
	if near < 0.6 || far > 0.3 || near <= far {
		t.Fatalf("similar questions %.2f, unrelated %.2f", near, far)
	}
	if _, err := e.Embed(t.Context(), []string{"  "}); err == nil {
		t.Fatal("an empty text was embedded")
	}
}
