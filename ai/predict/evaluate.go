package predict

import (
	"cmp"
	"math"
	"slices"
)

// AUC returns the area under the ROC curve of scores against labels: the
// probability that a random positive scores above a random negative, a tie
// counting one half. It is computed from ranks (Mann-Whitney U) with tied
// scores sharing their average rank, in O(n log n). With no positive or no
// negative the area is undefined and AUC returns NaN, which fails every
// comparison with a threshold. It panics when the slices differ in length,
// a programming error.
func AUC(scores []float64, labels []bool) float64 {
	if len(scores) != len(labels) {
		panic("predict: AUC of different numbers of scores and labels")
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(scores[a], scores[b]) })
	var pos, neg int
	var rankSum float64 // of the positives, ranks from 1
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		if j == i {
			j++ // a NaN equals nothing, itself included: a group of one
		}
		avg := float64(i+1+j) / 2 // mean of the ranks i+1..j
		for _, k := range idx[i:j] {
			if labels[k] {
				pos++
				rankSum += avg
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	p, q := float64(pos), float64(neg)
	return (rankSum - p*(p+1)/2) / (p * q)
}

// Bin is one interval of predicted probability in a calibration table.
type Bin struct {
	// Lo and Hi bound the scores of the bin, [Lo, Hi), the last one closed.
	Lo, Hi float64
	// Count is how many scores fell in the bin.
	Count int
	// Predicted is the mean score in the bin, 0 for an empty bin.
	Predicted float64
	// Observed is the share of positive labels in the bin, 0 for an empty
	// bin.
	Observed float64
}

// Calibration splits [0, 1] into bins of equal width and returns, for each,
// the mean predicted probability and the observed rate of positives: a
// calibrated model has them close in every populated bin. Scores outside
// [0, 1] are clamped into it and NaN scores are skipped. It returns nil
// for bins < 1 and panics when the slices differ in length.
func Calibration(scores []float64, labels []bool, bins int) []Bin {
	if len(scores) != len(labels) {
		panic("predict: Calibration of different numbers of scores and labels")
	}
	if bins < 1 {
		return nil
	}
	out := make([]Bin, bins)
	w := 1 / float64(bins)
	for i := range out {
		out[i].Lo, out[i].Hi = float64(i)*w, float64(i+1)*w
	}
	out[bins-1].Hi = 1
	for i, s := range scores {
		if math.IsNaN(s) {
			continue
		}
		s = min(max(s, 0), 1) // before the conversion: int(±Inf) is not defined
		k := min(int(s*float64(bins)), bins-1)
		out[k].Count++
		out[k].Predicted += s
		if labels[i] {
			out[k].Observed++
		}
	}
	for i := range out {
		if c := float64(out[i].Count); c > 0 {
			out[i].Predicted /= c
			out[i].Observed /= c
		}
	}
	return out
}
