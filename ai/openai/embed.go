package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iace/iace/ai"
)

// DefaultEmbeddingModel is OpenAI's small v3 embedding model. Groq serves no
// embedding model (docs/protocols/llm.md section 4), so an Embedder is pointed at OpenAI
// or a compatible local server.
const DefaultEmbeddingModel = "text-embedding-3-small"

// Defaults and limits of EmbedderConfig (docs/protocols/llm.md section 4: at most 2048
// inputs a request, 8192 tokens an input).
const (
	defaultEmbedDimensions = 768
	defaultEmbedBatch      = 100
	maxEmbedBatch          = 2048
	defaultEmbedTextBytes  = 8000
	defaultEmbedTimeout    = 10 * time.Second
)

// ErrEmptyText is returned by Embed for a text with nothing but white space:
// the API rejects empty inputs.
var ErrEmptyText = errors.New("openai: empty text")

// EmbedderConfig configures an Embedder. Zero fields take defaults.
type EmbedderConfig struct {
	// Model is the embedding model. Default text-embedding-3-small.
	Model string
	// Dimensions is the length of the vectors, sent as the dimensions
	// parameter. Default 768, the size the pattern store keeps.
	Dimensions int
	// OmitDimensions does not send the dimensions parameter, for models that
	// do not take it (before text-embedding-3, most local servers); their
	// native size must then equal Dimensions.
	OmitDimensions bool
	// BatchSize is the most texts sent in one request. Default 100, at
	// most 2048.
	BatchSize int
	// MaxTextBytes cuts longer texts (at a rune boundary) before sending.
	// Default 8000, about 2000 tokens of English.
	MaxTextBytes int
	// Timeout bounds one attempt. Default 10s.
	Timeout time.Duration
}

func (c EmbedderConfig) withDefaults() EmbedderConfig {
	c.Model = cmpOr(c.Model, DefaultEmbeddingModel)
	c.Dimensions = cmpOr(c.Dimensions, defaultEmbedDimensions)
	c.BatchSize = cmpOr(c.BatchSize, defaultEmbedBatch)
	c.MaxTextBytes = cmpOr(c.MaxTextBytes, defaultEmbedTextBytes)
	setDur(&c.Timeout, defaultEmbedTimeout)
	return c
}

// Validate reports every problem of a configuration with its defaults
// applied.
func (c EmbedderConfig) Validate() error {
	var errs []error
	if c.Dimensions < 1 || c.Dimensions > 16384 {
		errs = append(errs, fmt.Errorf("openai embed: dimensions %d out of range 1-16384", c.Dimensions))
	}
	if c.BatchSize < 1 || c.BatchSize > maxEmbedBatch {
		errs = append(errs, fmt.Errorf("openai embed: batch size %d out of range 1-%d", c.BatchSize, maxEmbedBatch))
	}
	if c.MaxTextBytes < 16 {
		errs = append(errs, fmt.Errorf("openai embed: max text bytes %d (want at least 16)", c.MaxTextBytes))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("openai embed: timeout %v is negative", c.Timeout))
	}
	return errors.Join(errs...)
}

// Embedder embeds texts with an OpenAI-compatible POST /embeddings. Its
// vectors are L2-normalised. It is safe for concurrent use.
type Embedder struct {
	cfg EmbedderConfig
	op  *unary
}

// NewEmbedder builds an embedder for the API of cfg (base URL, key,
// retries, breaker, bulkhead, metrics). It sends nothing.
func NewEmbedder(cfg Config, ec EmbedderConfig) (*Embedder, error) {
	cfg = cfg.withDefaults()
	ec = ec.withDefaults()
	if err := errors.Join(cfg.Validate(), ec.Validate()); err != nil {
		return nil, err
	}
	// An answer is at most about 20 bytes a value as JSON text.
	maxBody := int64(ec.BatchSize)*int64(ec.Dimensions)*24 + 64<<10
	op, err := newUnary(cfg, opEmbed, "/embeddings", ec.Timeout, maxBody)
	if err != nil {
		return nil, err
	}
	return &Embedder{cfg: ec, op: op}, nil
}

// Dimensions is the length of every vector Embed returns.
func (e *Embedder) Dimensions() int { return e.cfg.Dimensions }

// Close releases the idle connections of the embedder's own transport.
func (e *Embedder) Close() error {
	e.op.close()
	return nil
}

type embedBody struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
	Dimensions     int      `json:"dimensions,omitempty"`
}

type embedAnswer struct {
	Data []struct {
		Index     *int      `json:"index"`
		Embedding []float64 `json:"embedding"`
	} `json:"data"`
}

// Embed returns one unit vector per text, in order. Texts longer than
// MaxTextBytes are cut; an empty text fails with ErrEmptyText. Texts go in
// batches of BatchSize, one after the other; each batch is retried on its
// own, and any failure fails the whole call.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	inputs, err := prepareTexts(texts, e.cfg.MaxTextBytes)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, 0, len(inputs))
	for start := 0; start < len(inputs); start += e.cfg.BatchSize {
		batch := inputs[start:min(start+e.cfg.BatchSize, len(inputs))]
		vecs, err := e.batch(ctx, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// prepareTexts trims and caps texts, rejecting empty ones.
func prepareTexts(texts []string, maxBytes int) ([]string, error) {
	out := make([]string, len(texts))
	for i, t := range texts {
		t = strings.TrimSpace(t)
		if t == "" {
			return nil, fmt.Errorf("openai embed: text %d: %w", i, ErrEmptyText)
		}
		out[i] = capText(t, maxBytes)
	}
	return out, nil
}

func (e *Embedder) batch(ctx context.Context, texts []string) ([][]float32, error) {
	b := embedBody{Model: e.cfg.Model, Input: texts, EncodingFormat: "float"}
	if !e.cfg.OmitDimensions {
		b.Dimensions = e.cfg.Dimensions
	}
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("openai embed: %w", err)
	}
	data, err := e.op.post(ctx, "application/json", body)
	if err != nil {
		return nil, err
	}
	var ans embedAnswer
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, fmt.Errorf("openai embed: %w: %w", ErrMalformed, err)
	}
	if len(ans.Data) != len(texts) {
		return nil, fmt.Errorf("openai embed: %w: %d embeddings for %d texts", ErrMalformed, len(ans.Data), len(texts))
	}
	out := make([][]float32, len(texts))
	for _, d := range ans.Data {
		if d.Index == nil || *d.Index < 0 || *d.Index >= len(texts) || out[*d.Index] != nil {
			return nil, fmt.Errorf("openai embed: %w: missing, duplicate or out-of-range index", ErrMalformed)
		}
		v, err := ai.UnitVector(d.Embedding, e.cfg.Dimensions)
		if err != nil {
			return nil, fmt.Errorf("openai embed: %w: embedding %d: %w", ErrMalformed, *d.Index, err)
		}
		out[*d.Index] = v
	}
	return out, nil
}
