// Package local holds the offline stand-ins for IACE's speech and language
// providers: a simulated transcriber, a rule-based chat agent, espeak-ng speech,
// a tone generator, a lexicon sentiment scorer and a hashed embedder. They need no network or API key, so the zero-setup
// server, the demos and the load tests run the full call loop with them.
package local
