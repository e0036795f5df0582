// Package learn turns finished calls into patterns: the questions callers
// asked with the answers that resolved them, and what callers said before
// their calls went to a human. An Extractor finds the candidates in a call's
// transcript (a deterministic Heuristic offline, or an LLM in JSON mode
// that falls back to it), and a Learner embeds each one and merges it into
// its near-duplicate among the agent's patterns, or stores it as a new one.
package learn
