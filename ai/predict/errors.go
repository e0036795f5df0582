package predict

import (
	"errors"
	"fmt"
)

// Errors of training and of loading a stored model.
var (
	// ErrTooFewExamples is returned by Train for fewer labelled calls than
	// Counts.Enough asks; the organisation stays on the Prior.
	ErrTooFewExamples = errors.New("predict: too few labelled calls")
	// ErrNotConverged is returned by Train when Newton's method has not
	// reached the tolerance within TrainConfig.MaxIterations.
	ErrNotConverged = errors.New("predict: training did not converge")
	// ErrInvalidConfig is returned by Train for a TrainConfig it cannot use.
	ErrInvalidConfig = errors.New("predict: invalid training config")
	// ErrInvalidModel is returned for a stored model that does not fit this
	// build: another feature set, or values that are not finite.
	ErrInvalidModel = errors.New("predict: invalid model")
)

// TooFewExamplesError says which labels lacked examples; it matches
// ErrTooFewExamples.
type TooFewExamplesError struct {
	Have Counts
}

// Error implements error.
func (e *TooFewExamplesError) Error() string {
	return fmt.Sprintf("predict: %d labelled calls (%d resolved, %d escalated), need %d with at least %d of each class of both labels",
		e.Have.Total, e.Have.Resolved, e.Have.Escalated, MinExamples, MinClassExamples)
}

// Unwrap makes errors.Is(err, ErrTooFewExamples) hold.
func (e *TooFewExamplesError) Unwrap() error { return ErrTooFewExamples }
