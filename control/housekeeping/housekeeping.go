// Package housekeeping deletes what the control plane no longer needs:
// refresh tokens long expired and webhook event ids older than any
// redelivery or replay. A Housekeeper runs on every node; the deletes are
// idempotent, so nodes need not agree on who runs them.
package housekeeping

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of Config.
const (
	DefaultPeriod = time.Hour
	// DefaultTokenGrace: a refresh token is deleted a day after it
	// expired (an expired token is refused anyway; the day keeps it for
	// an operator looking into a session).
	DefaultTokenGrace = 24 * time.Hour
	// DefaultEventRetention keeps webhook event ids for a day, which
	// covers Telnyx's redeliveries of an unacknowledged event.
	DefaultEventRetention = 24 * time.Hour
	DefaultTimeout        = 30 * time.Second

	// MinEventRetention is twice the webhook replay window (300 s either
	// side of telnyx-timestamp): an event first received as early as its
	// window allows can be replayed until 600 s later, and its id must
	// still be known then to refuse it.
	MinEventRetention = 2 * 300 * time.Second
)

// Store is what a Housekeeper deletes from (a store.Store).
type Store interface {
	PruneRefreshTokens(ctx context.Context, before time.Time) (int64, error)
	PruneWebhookEvents(ctx context.Context, before time.Time) (int64, error)
}

// Config configures a Housekeeper. Zero fields take the defaults above.
type Config struct {
	// Period is the time between two rounds; the first runs when Run starts.
	Period time.Duration
	// TokenGrace: refresh tokens expired for longer are deleted.
	TokenGrace time.Duration
	// EventRetention: webhook event ids recorded longer ago are deleted;
	// at least MinEventRetention.
	EventRetention time.Duration
	// Timeout bounds each delete.
	Timeout time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"period", c.Period}, {"token grace", c.TokenGrace}, {"event retention", c.EventRetention}, {"timeout", c.Timeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("housekeeping: %s is negative (%v)", d.name, d.v))
		}
	}
	if c.EventRetention > 0 && c.EventRetention < MinEventRetention {
		errs = append(errs, fmt.Errorf("housekeeping: event retention %v is shorter than %v: replayed webhooks would pass", c.EventRetention, MinEventRetention))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Period, DefaultPeriod)
	def(&c.TokenGrace, DefaultTokenGrace)
	def(&c.EventRetention, DefaultEventRetention)
	def(&c.Timeout, DefaultTimeout)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Housekeeper prunes a store every Config.Period.
type Housekeeper struct {
	cfg Config
	st  Store
	log *slog.Logger
}

// New returns a Housekeeper of st. It logs what it removed, and failures,
// to log (nil: slog.Default()).
func New(cfg Config, st Store, log *slog.Logger) (*Housekeeper, error) {
	if st == nil {
		return nil, errors.New("housekeeping: no store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Housekeeper{cfg: cfg.withDefaults(), st: st, log: log}, nil
}

// Run prunes at once, then every Config.Period, until ctx ends; then it
// returns nil. A failed delete is logged and tried again next period.
func (h *Housekeeper) Run(ctx context.Context) error {
	t := time.NewTicker(h.cfg.Period)
	defer t.Stop()
	for {
		h.prune(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// prune runs one round: both deletes, each bounded by Config.Timeout.
func (h *Housekeeper) prune(ctx context.Context) {
	now := h.cfg.Now()
	tokens, terr := h.delete(ctx, func(ctx context.Context) (int64, error) {
		return h.st.PruneRefreshTokens(ctx, now.Add(-h.cfg.TokenGrace))
	})
	events, eerr := h.delete(ctx, func(ctx context.Context) (int64, error) {
		return h.st.PruneWebhookEvents(ctx, now.Add(-h.cfg.EventRetention))
	})
	if ctx.Err() != nil {
		return // shutting down: nothing to report
	}
	if err := errors.Join(terr, eerr); err != nil {
		h.log.WarnContext(ctx, "housekeeping: prune failed; trying again next period", slog.Any("error", err), slog.Duration("period", h.cfg.Period))
	}
	h.log.InfoContext(ctx, "housekeeping: pruned", slog.Int64("refresh_tokens", tokens), slog.Int64("webhook_events", events))
}

func (h *Housekeeper) delete(ctx context.Context, del func(ctx context.Context) (int64, error)) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	return del(ctx)
}
