package ai

import (
	"errors"
	"fmt"
	"math"
)

// UnitVector checks that v has dims finite values, not all zero, and
// returns it scaled to length 1 as float32: embeddings are compared by dot
// product, so every embedder hands them out normalised.
func UnitVector(v []float64, dims int) ([]float32, error) {
	if len(v) != dims {
		return nil, fmt.Errorf("%d values, want %d", len(v), dims)
	}
	var sum float64
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, errors.New("a value is not finite")
		}
		sum += x * x
	}
	if sum == 0 {
		return nil, errors.New("zero vector")
	}
	inv := 1 / math.Sqrt(sum)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x * inv)
	}
	return out, nil
}
