package google

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/iace/iace/ai"
)

// Dimensions is the length of every vector Embed returns.
func (c *Client) Dimensions() int { return c.cfg.Dimensions }

type batchBody struct {
	Requests []embedRequest `json:"requests"`
}

type embedRequest struct {
	Model                string  `json:"model"`
	Content              content `json:"content"`
	TaskType             string  `json:"taskType,omitempty"`
	OutputDimensionality int     `json:"outputDimensionality"`
}

type content struct {
	Parts []part `json:"parts"`
}

type part struct {
	Text string `json:"text"`
}

type batchAnswer struct {
	Embeddings []struct {
		Values []float64 `json:"values"`
	} `json:"embeddings"`
}

// Embed returns one unit vector per text, in order, embedded with the
// configured task type. See EmbedTask.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return c.EmbedTask(ctx, c.cfg.TaskType, texts)
}

// EmbedTask returns one unit vector per text, in order, for the given task
// type (RETRIEVAL_DOCUMENT to index, RETRIEVAL_QUERY to search...). Texts
// longer than MaxTextBytes are cut; an empty text fails with ErrEmptyText.
// Texts go through batchEmbedContents in batches of BatchSize, one after the
// other; each batch is retried on its own and any failure fails the call.
func (c *Client) EmbedTask(ctx context.Context, taskType string, texts []string) ([][]float32, error) {
	inputs := make([]string, len(texts))
	for i, t := range texts {
		t = strings.TrimSpace(t)
		if t == "" {
			return nil, fmt.Errorf("google embed: text %d: %w", i, ErrEmptyText)
		}
		inputs[i] = capText(t, c.cfg.MaxTextBytes)
	}
	out := make([][]float32, 0, len(inputs))
	for start := 0; start < len(inputs); start += c.cfg.BatchSize {
		vecs, err := c.batch(ctx, taskType, inputs[start:min(start+c.cfg.BatchSize, len(inputs))])
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

func (c *Client) batch(ctx context.Context, taskType string, texts []string) ([][]float32, error) {
	model := "models/" + c.cfg.Model
	b := batchBody{Requests: make([]embedRequest, len(texts))}
	for i, t := range texts {
		b.Requests[i] = embedRequest{Model: model, Content: content{Parts: []part{{Text: t}}},
			TaskType: taskType, OutputDimensionality: c.cfg.Dimensions}
	}
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("google embed: %w", err)
	}
	data, err := c.post(ctx, "/models/"+url.PathEscape(c.cfg.Model)+":batchEmbedContents", body)
	if err != nil {
		return nil, err
	}
	var ans batchAnswer
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, fmt.Errorf("google embed: %w: %w", ErrMalformed, err)
	}
	if len(ans.Embeddings) != len(texts) {
		return nil, fmt.Errorf("google embed: %w: %d embeddings for %d texts", ErrMalformed, len(ans.Embeddings), len(texts))
	}
	out := make([][]float32, len(texts))
	for i, e := range ans.Embeddings {
		v, err := ai.UnitVector(e.Values, c.cfg.Dimensions)
		if err != nil {
			return nil, fmt.Errorf("google embed: %w: embedding %d: %w", ErrMalformed, i, err)
		}
		out[i] = v
	}
	c.m.texts.Add(float64(len(texts)))
	return out, nil
}

// capText cuts s to at most n bytes without splitting a rune.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimSpace(s[:n])
}
