package trainer

import (
	"errors"
	"fmt"
	"time"

	"github.com/iace/iace/ai/predict"
	"github.com/iace/iace/store"
)

// Defaults of Config.
const (
	// DefaultRefresh: a cached model is read again after five minutes, a
	// small delay for a model trained on another node, and one cheap read
	// per organization and node every five minutes.
	DefaultRefresh     = 5 * time.Minute
	DefaultLoadTimeout = 5 * time.Second
	// DefaultLoadRetry: after a failed read the next ask tries again in 30 s
	// rather than after a whole Refresh.
	DefaultLoadRetry = 30 * time.Second
	// DefaultCheckEvery bounds how long an organization whose calls may have
	// come through other nodes waits for its next check.
	DefaultCheckEvery   = 5 * time.Minute
	DefaultTrainTimeout = time.Minute
	// DefaultMaxExamples: 5,000 calls are about 30 times what a model of
	// 11 features needs, a few hundred kilobytes to read and milliseconds
	// to fit; older calls would mostly slow the model in following a change.
	DefaultMaxExamples = 5000
	DefaultHoldOut     = 0.2
	DefaultMaxPending  = 1024
	// DefaultNewCalls and DefaultGrowth are predict.Retrainer's defaults,
	// spelled out because the Trainer also uses them to read no more calls
	// than can make a training due.
	DefaultNewCalls = 50
	DefaultGrowth   = 0.2
)

// Config tunes a Trainer. Zero fields take the defaults above.
type Config struct {
	// Refresh is how long a cached model is served before it is read again.
	Refresh time.Duration
	// LoadTimeout bounds one read of a stored model.
	LoadTimeout time.Duration
	// LoadRetry is how long a failed read waits to be tried again.
	LoadRetry time.Duration
	// CheckEvery: an organization whose last check found no training due is
	// checked again once as many calls as could make it due have been
	// Applied on this node, or at its next call after CheckEvery (the calls
	// of the other nodes are not counted here).
	CheckEvery time.Duration
	// TrainTimeout bounds one check with its training: reads, fit, save.
	TrainTimeout time.Duration
	// MaxExamples caps the labelled calls a training reads, newest first;
	// at least predict.MinExamples, at most store.MaxLabelledCalls.
	MaxExamples int
	// HoldOut is the share of the calls kept out of the fit to measure the
	// model, more than 0 and at most one half.
	HoldOut float64
	// MaxPending bounds the organizations waiting for a check; beyond it
	// Applied drops and counts.
	MaxPending int
	// NewCalls and Growth are the predict.Retrainer rule.
	NewCalls int
	Growth   float64
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"refresh", c.Refresh}, {"load timeout", c.LoadTimeout}, {"load retry", c.LoadRetry},
		{"check interval", c.CheckEvery}, {"train timeout", c.TrainTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("trainer: %s is negative (%v)", d.name, d.v))
		}
	}
	if c.MaxExamples != 0 && (c.MaxExamples < predict.MinExamples || c.MaxExamples > store.MaxLabelledCalls) {
		errs = append(errs, fmt.Errorf("trainer: max examples %d, want %d to %d", c.MaxExamples, predict.MinExamples, store.MaxLabelledCalls))
	}
	if c.HoldOut != 0 && !(c.HoldOut > 0 && c.HoldOut <= 0.5) {
		errs = append(errs, fmt.Errorf("trainer: hold-out share %v, want more than 0 and at most 0.5", c.HoldOut))
	}
	if c.MaxPending < 0 || c.NewCalls < 0 || c.Growth < 0 {
		errs = append(errs, fmt.Errorf("trainer: max pending %d, new calls %d and growth %v must not be negative", c.MaxPending, c.NewCalls, c.Growth))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Refresh, DefaultRefresh)
	def(&c.LoadTimeout, DefaultLoadTimeout)
	def(&c.LoadRetry, min(DefaultLoadRetry, c.Refresh))
	def(&c.CheckEvery, DefaultCheckEvery)
	def(&c.TrainTimeout, DefaultTrainTimeout)
	if c.MaxExamples == 0 {
		c.MaxExamples = DefaultMaxExamples
	}
	if c.HoldOut == 0 {
		c.HoldOut = DefaultHoldOut
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.NewCalls == 0 {
		c.NewCalls = DefaultNewCalls
	}
	if c.Growth == 0 {
		c.Growth = DefaultGrowth
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
