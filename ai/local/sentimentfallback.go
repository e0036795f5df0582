package local

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media/telemetry"
)

// SentimentScorer rates one caller utterance; cloud scorers (the Groq
// JSON-mode client) and the lexicon both have this method.
type SentimentScorer interface {
	Score(ctx context.Context, text string) (ai.Sentiment, error)
}

// Fallback reasons, the values of the reason label.
const (
	fallbackTimeout     = "timeout"     // the primary took longer than the timeout
	fallbackUnavailable = "unavailable" // the provider is down, rate limited or its breaker is open
	fallbackInvalid     = "invalid"     // an answer that failed validation, or a request it refused
	fallbackNone        = "none"        // no primary configured
	fallbackCanceled    = "canceled"    // the caller gave up first
)

// defaultSentimentTimeout bounds the primary: sentiment is off the critical
// path but a stale score is of little use to the escalation policy.
const defaultSentimentTimeout = 4 * time.Second

// SentimentFallbackConfig configures a SentimentWithFallback.
type SentimentFallbackConfig struct {
	// Timeout bounds the primary's whole answer, retries included. Default 4s.
	Timeout time.Duration
	// Registerer receives iace_local_sentiment_fallbacks_total; nil: not
	// registered.
	Registerer prometheus.Registerer
	// Logger logs fallbacks at debug level; nil: slog.Default().
	Logger *slog.Logger
}

// SentimentWithFallback asks a primary scorer and, whenever it fails, times
// out or answers something invalid, scores with the offline lexicon, so the
// caller always gets a score. It counts the fallbacks by reason. It is safe
// for concurrent use.
type SentimentWithFallback struct {
	primary   SentimentScorer
	lexicon   *LexiconSentiment
	timeout   time.Duration
	log       *slog.Logger
	fallbacks *prometheus.CounterVec
	n         atomic.Uint64
}

// NewSentimentWithFallback wraps primary; a nil primary (no provider
// configured) scores everything with the lexicon.
func NewSentimentWithFallback(primary SentimentScorer, cfg SentimentFallbackConfig) (*SentimentWithFallback, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultSentimentTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "local", Name: "sentiment_fallbacks_total",
		Help: "Utterances scored by the offline lexicon because the sentiment provider failed, by reason (timeout, unavailable, invalid, canceled, none)."},
		[]string{"reason"})
	c, err := telemetry.Register(cfg.Registerer, c)
	if err != nil {
		return nil, err
	}
	for _, r := range []string{fallbackTimeout, fallbackUnavailable, fallbackInvalid, fallbackNone, fallbackCanceled} {
		c.WithLabelValues(r) // exported as 0 from the start
	}
	return &SentimentWithFallback{primary: primary, lexicon: NewLexiconSentiment(), timeout: cfg.Timeout,
		log: cfg.Logger, fallbacks: c}, nil
}

// Score rates text with the primary, else with the lexicon. The error is
// always nil; Source tells which one scored.
func (s *SentimentWithFallback) Score(ctx context.Context, text string) (ai.Sentiment, error) {
	if s.primary == nil {
		return s.fallback(ctx, text, fallbackNone, nil)
	}
	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	sent, err := s.primary.Score(pctx, text)
	if err == nil {
		if verr := checkSentiment(sent); verr != nil {
			return s.fallback(ctx, text, fallbackInvalid, verr)
		}
		return sent, nil
	}
	reason := fallbackInvalid
	switch {
	case ctx.Err() != nil:
		reason = fallbackCanceled
	case errors.Is(err, context.DeadlineExceeded), pctx.Err() != nil:
		reason = fallbackTimeout
	case errors.Is(err, ai.ErrUnavailable):
		reason = fallbackUnavailable
	}
	return s.fallback(ctx, text, reason, err)
}

func (s *SentimentWithFallback) fallback(ctx context.Context, text, reason string, err error) (ai.Sentiment, error) {
	s.n.Add(1)
	s.fallbacks.WithLabelValues(reason).Inc()
	if err != nil {
		// The error names the provider's status or the validation, never
		// the caller's words.
		s.log.DebugContext(ctx, "sentiment fallback to lexicon", slog.String("reason", reason), slog.Any("error", err))
	}
	return s.lexicon.Score(ctx, text)
}

// Fallbacks is how many utterances the lexicon scored.
func (s *SentimentWithFallback) Fallbacks() uint64 { return s.n.Load() }

// checkSentiment rejects a score outside -1..1 or an unknown label.
func checkSentiment(s ai.Sentiment) error {
	if math.IsNaN(s.Score) || s.Score < -1 || s.Score > 1 {
		return errors.New("sentiment score outside -1..1")
	}
	switch s.Label {
	case ai.SentimentNegative, ai.SentimentNeutral, ai.SentimentPositive:
		return nil
	}
	return errors.New("unknown sentiment label")
}
