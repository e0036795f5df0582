package predict

import (
	"fmt"
	"math"
	"time"
)

// Training minimums: below them an organisation stays on the Prior.
//
// A logistic regression wants about ten events of the rarer class per
// feature to be trusted without help (Peduzzi et al., 1996), which for 11
// features is over a hundred escalations, months of calls for a small
// organisation. The L2 penalty pulls weights towards zero where the data say
// little, so a quarter of that, 40 of each class, is enough to beat the
// Prior; below it a handful of escalations would decide the weights.
const (
	// MinExamples is the fewest labelled calls Train accepts.
	MinExamples = 100
	// MinClassExamples is the fewest calls Train accepts in each class of
	// each label: resolved and not, escalated and not.
	MinClassExamples = 40
)

// Example is one finished call: its features at the end and how it ended.
// A call can be neither resolved nor escalated (the caller hung up).
type Example struct {
	Features  Features `json:"features"`
	Resolved  bool     `json:"resolved"`
	Escalated bool     `json:"escalated"`
}

// Counts are an organisation's labelled calls by outcome.
type Counts struct {
	Total, Resolved, Escalated int
}

// CountExamples counts examples by outcome.
func CountExamples(examples []Example) Counts {
	c := Counts{Total: len(examples)}
	for i := range examples {
		if examples[i].Resolved {
			c.Resolved++
		}
		if examples[i].Escalated {
			c.Escalated++
		}
	}
	return c
}

// Enough reports whether the calls suffice to train a model: MinExamples in
// all and MinClassExamples on each side of both labels.
func (c Counts) Enough() bool {
	return c.Total >= MinExamples &&
		min(c.Resolved, c.Total-c.Resolved, c.Escalated, c.Total-c.Escalated) >= MinClassExamples
}

// TrainConfig tunes Train. Zero fields take the defaults named on them.
type TrainConfig struct {
	// Version is the new model's Version, from 1 (0 is the Prior).
	Version int
	// Now is the training time, recorded as TrainedAt: passed in, so that
	// Train reads no clock.
	Now time.Time
	// L2 is the penalty λ/2·Σw² on the standardised weights, added to the
	// summed log-loss; the intercept is not penalised. It is the precision
	// of a Gaussian prior on the weights: the default, 1, says a priori one
	// standard deviation of a feature moves the log-odds by about ±1, and
	// the data outweigh it as calls accumulate.
	L2 float64
	// MaxIterations bounds Newton's method; default 50 (it converges in
	// about ten).
	MaxIterations int
	// Tolerance ends training when half the squared Newton decrement, an
	// estimate of how far the loss still is from its minimum in nats, falls
	// below it; default 1e-9.
	Tolerance float64
}

// withDefaults fills zero fields and reports unusable ones.
func (c TrainConfig) withDefaults() (TrainConfig, error) {
	if c.Version < 1 {
		return c, fmt.Errorf("%w: version %d, want 1 or more (0 is the prior)", ErrInvalidConfig, c.Version)
	}
	if c.L2 == 0 {
		c.L2 = 1
	}
	if c.MaxIterations == 0 {
		c.MaxIterations = 50
	}
	if c.Tolerance == 0 {
		c.Tolerance = 1e-9
	}
	if !(c.L2 > 0) || math.IsInf(c.L2, 0) || c.MaxIterations < 0 || !(c.Tolerance > 0) {
		return c, fmt.Errorf("%w: L2 %v, max iterations %d, tolerance %v", ErrInvalidConfig, c.L2, c.MaxIterations, c.Tolerance)
	}
	return c, nil
}

// Train fits a Model to an organisation's labelled calls: the features are
// standardised over the examples, then each label's regression is fitted by
// Newton's method (iteratively reweighted least squares) on the L2-penalised
// log-loss. It fails with a *TooFewExamplesError when the calls are not
// Enough.
//
// Newton rather than gradient descent: with 12 parameters a step costs a pass or
// two over the calls and a 12×12 Cholesky solve, it needs no learning rate
// to tune, and it reaches the exact penalised optimum in about ten steps
// where gradient descent needs thousands and stops at an approximation that
// depends on its schedule. The penalty makes the loss strictly convex, so
// the optimum is unique and exists even on separable data, and a
// backtracking line search keeps every step downhill. The result depends
// only on the examples and their order: sums run sequentially.
//
// This is a small implementation rather than a library: gonum, the usual Go
// choice, offers matrices and general optimisers but no logistic regression,
// so it would save the 20-line Cholesky solve and bring a large module for it.
func Train(examples []Example, cfg TrainConfig) (Model, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Model{}, err
	}
	if c := CountExamples(examples); !c.Enough() {
		return Model{}, &TooFewExamplesError{Have: c}
	}
	n := len(examples)
	m := Model{Version: cfg.Version, TrainedAt: cfg.Now, Examples: n}
	x := make([]float64, n*NumFeatures)
	for i := range examples {
		v := examples[i].Features.Vector()
		copy(x[i*NumFeatures:], v[:])
	}
	m.Means, m.Scales = standardise(x)
	y := make([]bool, n)
	for i := range examples {
		y[i] = examples[i].Resolved
	}
	if m.Resolution, err = fit(x, y, cfg); err != nil {
		return Model{}, fmt.Errorf("resolution: %w", err)
	}
	for i := range examples {
		y[i] = examples[i].Escalated
	}
	if m.Escalation, err = fit(x, y, cfg); err != nil {
		return Model{}, fmt.Errorf("escalation: %w", err)
	}
	return m, nil
}

// standardise replaces each column of the row-major x by its z-score and
// returns the means and scales (population standard deviations) used. A
// constant column gets scale 1: it becomes all zeros, and the penalty then
// holds its weight at zero.
func standardise(x []float64) (means, scales [NumFeatures]float64) {
	n := float64(len(x) / NumFeatures)
	for r := 0; r < len(x); r += NumFeatures {
		for j := range NumFeatures {
			means[j] += x[r+j]
		}
	}
	for j := range means {
		means[j] /= n
	}
	for r := 0; r < len(x); r += NumFeatures {
		for j := range NumFeatures {
			d := x[r+j] - means[j]
			scales[j] += d * d
		}
	}
	for j := range scales {
		scales[j] = math.Sqrt(scales[j] / n)
		if scales[j] < 1e-12 {
			scales[j] = 1
		}
	}
	for r := 0; r < len(x); r += NumFeatures {
		for j := range NumFeatures {
			x[r+j] = (x[r+j] - means[j]) / scales[j]
		}
	}
	return means, scales
}

// params is the intercept followed by the weights.
const params = NumFeatures + 1

// fit runs damped Newton's method on the penalised log-loss of the
// standardised rows x against y.
func fit(x []float64, y []bool, cfg TrainConfig) (Logistic, error) {
	var beta, grad, step, cand [params]float64
	var hess [params * params]float64
	// Start at the base rate, so that the first step only has to find the
	// weights.
	pos := 0
	for _, v := range y {
		if v {
			pos++
		}
	}
	beta[0] = math.Log(float64(pos) / float64(len(y)-pos))
	loss := objective(x, y, &beta, cfg.L2)
	for range cfg.MaxIterations {
		gradHess(x, y, &beta, cfg.L2, &grad, &hess)
		if err := cholSolve(&hess, &grad, &step); err != nil {
			return Logistic{}, err
		}
		// grad·step is the squared Newton decrement: twice the loss the
		// quadratic model expects this step to remove.
		dec := dot(&grad, &step)
		if dec/2 <= cfg.Tolerance {
			return toLogistic(&beta), nil
		}
		moved := false
		for t := 1.0; t > 1e-12 && !moved; t /= 2 {
			for i := range cand {
				cand[i] = beta[i] + t*step[i]
			}
			// Armijo's sufficient decrease, with the usual constant 1e-4.
			if l := objective(x, y, &cand, cfg.L2); l <= loss-1e-4*t*dec {
				beta, loss, moved = cand, l, true
			}
		}
		if !moved {
			// No step lowers the loss beyond rounding: this is the optimum.
			return toLogistic(&beta), nil
		}
	}
	return Logistic{}, ErrNotConverged
}

func toLogistic(beta *[params]float64) Logistic {
	l := Logistic{Intercept: beta[0]}
	copy(l.Weights[:], beta[1:])
	return l
}

func dot(a, b *[params]float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// linear is beta's log-odds for the standardised row r.
func linear(beta *[params]float64, r []float64) float64 {
	s := beta[0]
	for j, v := range r[:NumFeatures] {
		s += beta[j+1] * v
	}
	return s
}

// objective is the summed log-loss plus the penalty; softplus(η) - y·η is
// the log-loss of one row written so that it neither overflows nor loses
// precision for large |η|.
func objective(x []float64, y []bool, beta *[params]float64, l2 float64) float64 {
	var s float64
	for i, label := range y {
		eta := linear(beta, x[i*NumFeatures:])
		s += softplus(eta)
		if label {
			s -= eta
		}
	}
	for _, w := range beta[1:] {
		s += l2 / 2 * w * w
	}
	return s
}

func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// gradHess sets grad to minus the objective's gradient (the direction that
// lowers it) and hess to its Hessian, XᵀWX + λI. The intercept gets a
// vanishing ridge instead of λ so that the matrix stays positive definite
// when every prediction has saturated.
func gradHess(x []float64, y []bool, beta *[params]float64, l2 float64, grad *[params]float64, hess *[params * params]float64) {
	*grad = [params]float64{}
	*hess = [params * params]float64{}
	var row [params]float64
	row[0] = 1
	for i, label := range y {
		copy(row[1:], x[i*NumFeatures:(i+1)*NumFeatures])
		mu := sigmoid(linear(beta, row[1:]))
		w := mu * (1 - mu)
		r := -mu
		if label {
			r = 1 - mu
		}
		for a := range params {
			grad[a] += r * row[a]
			wa := w * row[a]
			for b := a; b < params; b++ {
				hess[a*params+b] += wa * row[b]
			}
		}
	}
	hess[0] += 1e-9
	for a := 1; a < params; a++ {
		grad[a] -= l2 * beta[a]
		hess[a*params+a] += l2
	}
	for a := range params {
		for b := range a {
			hess[a*params+b] = hess[b*params+a]
		}
	}
}

// cholSolve solves h·x = g for the symmetric positive definite h by a
// Cholesky factorisation, overwriting h with its lower factor.
func cholSolve(h *[params * params]float64, g, x *[params]float64) error {
	for j := range params {
		d := h[j*params+j]
		for k := range j {
			d -= h[j*params+k] * h[j*params+k]
		}
		if !(d > 0) {
			return fmt.Errorf("%w: Hessian not positive definite", ErrNotConverged)
		}
		d = math.Sqrt(d)
		h[j*params+j] = d
		for i := j + 1; i < params; i++ {
			s := h[i*params+j]
			for k := range j {
				s -= h[i*params+k] * h[j*params+k]
			}
			h[i*params+j] = s / d
		}
	}
	// Forward: L·u = g, then back: Lᵀ·x = u.
	for i := range params {
		s := g[i]
		for k := range i {
			s -= h[i*params+k] * x[k]
		}
		x[i] = s / h[i*params+i]
	}
	for i := params - 1; i >= 0; i-- {
		s := x[i]
		for k := i + 1; k < params; k++ {
			s -= h[k*params+i] * x[k]
		}
		x[i] = s / h[i*params+i]
	}
	return nil
}
