package main

import (
	"context"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/store"
)

// sentimentBudget bounds the scoring of a finished call's caller turns: the
// record waits for it, and the lexicon answers what the model has not.
const sentimentBudget = 3 * time.Second

// scoreSentiment scores each caller turn the session has not scored while
// the call ran (at most four at once), writes the score on the turn and
// returns the call's summary over every caller turn; nil without caller
// turns.
func scoreSentiment(ctx context.Context, sc local.SentimentScorer, turns []store.Turn) *store.Sentiment {
	var idx, all []int
	for i, t := range turns {
		if t.Speaker == store.SpeakerCaller && strings.TrimSpace(t.Text) != "" {
			all = append(all, i)
			if t.Sentiment == nil {
				idx = append(idx, i)
			}
		}
	}
	if len(all) == 0 || sc == nil && len(idx) > 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, sentimentBudget)
	defer cancel()
	scores := make([]float64, len(idx))
	var g errgroup.Group
	g.SetLimit(4)
	for k, i := range idx {
		g.Go(func() error {
			s, _ := sc.Score(ctx, turns[i].Text) // a scorer with a fallback always answers
			scores[k] = s.Score
			return nil
		})
	}
	_ = g.Wait()
	for k, i := range idx {
		v := scores[k]
		turns[i].Sentiment = &v
	}
	every := make([]float64, len(all))
	for k, i := range all {
		every[k] = *turns[i].Sentiment
	}
	return summarize(every)
}

// summarize is the sentiment summary of a call's caller turn scores, in
// order: mean, minimum, last, and the least-squares slope per turn.
func summarize(scores []float64) *store.Sentiment {
	s := &store.Sentiment{Min: scores[0], Last: scores[len(scores)-1], Turns: len(scores), Trend: ai.Trend(scores)}
	var sum float64
	for _, v := range scores {
		sum += v
		s.Min = min(s.Min, v)
	}
	s.Average = sum / float64(len(scores))
	return s
}
