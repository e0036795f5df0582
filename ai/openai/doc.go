// Package openai is the client for OpenAI-compatible chat and speech APIs:
// Groq by default, and OpenAI, vLLM, Ollama or llama.cpp by base URL. It streams
// chat completions over SSE with tool calls and synthesizes speech converted to
// the call's format, every request behind failsafe-go timeouts, retries, a
// circuit breaker and a bulkhead.
//
// The wire format follows ../shared/protocols/openai-groq-google.md; the
// openaitest subpackage is a fake server speaking the same wire.
package openai
