// Package google is the client for Google's Gemini API text embeddings
// (gemini-embedding-001 through batchEmbedContents), behind failsafe-go
// timeouts, retries, a circuit breaker and a bulkhead. Its vectors are
// L2-normalised here, as Google normalises only full-size (3072) output.
//
// The wire format follows the Gemini API reference for batchEmbedContents
// (ai.google.dev/api/embeddings); the googletest subpackage is a fake
// server speaking the same wire. docs/protocols/llm.md, section 5, sets out
// the facts it relies on.
package google
