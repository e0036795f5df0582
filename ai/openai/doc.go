// Package openai is the client for OpenAI-compatible chat and speech APIs:
// Groq by default, and OpenAI, vLLM, Ollama or llama.cpp by base URL. It streams
// chat completions over SSE with tool calls, synthesizes speech converted to
// the call's format, transcribes VAD-cut utterances (Whisper,
// /audio/transcriptions), embeds text (/embeddings) and scores sentiment in
// JSON mode, every request behind failsafe-go timeouts, retries, a
// circuit breaker and a bulkhead.
//
// The wire format follows the OpenAI API reference (platform.openai.com/docs/api-reference)
// as Groq's OpenAI-compatible endpoint serves it (console.groq.com/docs); the
// openaitest subpackage is a fake server speaking the same wire. The facts
// the client relies on are set out in docs/protocols/llm.md, whose sections
// the comments cite ("docs/protocols/llm.md section 1.4").
package openai
