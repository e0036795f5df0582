package openai

import (
	"testing"

	"github.com/iace/iace/ai"
)

// FuzzParseSentiment feeds the model's answer parser arbitrary completions:
// it must never panic, and what it accepts must be a valid sentiment.
func FuzzParseSentiment(f *testing.F) {
	for _, seed := range []string{
		`{"choices":[{"message":{"content":"{\"score\":-0.8,\"label\":\"negative\"}"},"finish_reason":"stop"}]}`,
		`{"choices":[{"message":{"content":"{\"score\":0.1,\"label\":\"neutral\",\"reason\":\"x\"}"},"finish_reason":"stop"}]}`,
		`{"choices":[{"message":{"content":"{\"score\":2,\"label\":\"positive\"}"}}]}`,
		`{"choices":[{"message":{"content":null}}]}`,
		`{"choices":[]}`,
		`not json`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseSentiment(data)
		if err != nil {
			return
		}
		if s.Score < -1 || s.Score > 1 || (s.Label != ai.SentimentNegative && s.Label != ai.SentimentNeutral && s.Label != ai.SentimentPositive) {
			t.Fatalf("accepted %+v", s)
		}
	})
}
