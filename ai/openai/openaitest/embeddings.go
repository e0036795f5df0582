package openaitest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// EmbeddingsReply scripts one /embeddings answer; the vectors themselves are
// always derived from the texts (see Vector).
type EmbeddingsReply struct {
	FirstByteDelay time.Duration
	// Fault is a status fault, FaultCut or FaultMalformed (a body that is
	// not JSON).
	Fault      Fault
	RetryAfter time.Duration
	// Reverse sends the data items in reverse order, each with its index,
	// as the API allows.
	Reverse bool
	// Short drops the last item of the answer.
	Short bool
}

// EmbeddingsRequest is the body of an embeddings request. Input is a string
// or an array of strings (token arrays are not supported by the fake).
type EmbeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

// Texts returns the input as a list of strings.
func (e *EmbeddingsRequest) Texts() ([]string, error) {
	var one string
	if err := json.Unmarshal(e.Input, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(e.Input, &many); err != nil {
		return nil, fmt.Errorf("input must be a string or an array of strings: %w", err)
	}
	return many, nil
}

// nativeDims are the default sizes of the models the fake knows.
var nativeDims = map[string]int{"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
	"text-embedding-ada-002": 1536, "nomic-embed-text-v1_5": 768}

func (s *Server) serveEmbeddings(w http.ResponseWriter, r *http.Request, e *EmbeddingsRequest) {
	reply := s.nextEmbeddings()
	if !s.wait(r, reply.FirstByteDelay) {
		return
	}
	bad := func(msg string) { writeError(w, http.StatusBadRequest, "invalid_request_error", "", msg, nil) }
	if e == nil {
		bad("request body is not valid JSON")
		return
	}
	native, ok := nativeDims[e.Model]
	if !ok {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", e.Model), nil)
		return
	}
	texts, err := e.Texts()
	dims := native
	switch {
	case err != nil:
		bad(err.Error())
		return
	case len(texts) == 0 || len(texts) > 2048:
		bad(fmt.Sprintf("input must have 1 to 2048 items, got %d", len(texts)))
		return
	case e.EncodingFormat != "" && e.EncodingFormat != "float" && e.EncodingFormat != "base64":
		bad("encoding_format must be float or base64")
		return
	case e.Dimensions != nil && !strings.HasPrefix(e.Model, "text-embedding-3"):
		bad("This model does not support specifying dimensions.")
		return
	case e.Dimensions != nil && (*e.Dimensions < 1 || *e.Dimensions > native):
		bad(fmt.Sprintf("dimensions must be between 1 and %d", native))
		return
	case e.Dimensions != nil:
		dims = *e.Dimensions
	}
	for i, t := range texts {
		if t == "" {
			bad(fmt.Sprintf("'$.input[%d]' is invalid: empty string", i))
			return
		}
	}
	if writeFault(w, reply.Fault, reply.RetryAfter, e.Model) {
		return
	}
	switch reply.Fault {
	case FaultCut:
		cut()
	case FaultMalformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.01,`))
		return
	}
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	}
	data := make([]item, 0, len(texts))
	tokens := 0
	for i, t := range texts {
		// OpenAI's vectors are unit length at any size.
		data = append(data, item{Object: "embedding", Index: i, Embedding: normalize(Vector(t, dims))})
		tokens += len(strings.Fields(t))
	}
	if reply.Reverse {
		for i, j := 0, len(data)-1; i < j; i, j = i+1, j-1 {
			data[i], data[j] = data[j], data[i]
		}
	}
	if reply.Short {
		data = data[:len(data)-1]
	}
	writeJSON(w, map[string]any{"object": "list", "model": e.Model, "data": data,
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens}})
}

// Vector is the fake's deterministic embedding of text: a hashed bag of
// words (lower-cased, split at anything but letters and digits), each word
// adding +-1 at three hashed positions, so texts sharing words get similar
// vectors. It is not normalised; a text without words gets one position
// from the hash of the whole text.
func Vector(text string, dims int) []float64 {
	v := make([]float64, dims)
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) == 0 {
		words = []string{text}
	}
	for _, w := range words {
		h := fnv.New64a()
		_, _ = h.Write([]byte(w))
		sum := h.Sum64()
		for k := range 3 {
			bits := sum >> (k * 21)
			sign := 1.0
			if bits&1 == 1 {
				sign = -1
			}
			v[(bits>>1)%uint64(dims)] += sign
		}
	}
	return v
}

func normalize(v []float64) []float64 {
	var sum float64
	for _, x := range v {
		sum += x * x
	}
	if sum == 0 {
		return v
	}
	inv := 1 / math.Sqrt(sum)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * inv
	}
	return out
}
