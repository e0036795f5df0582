// Package deepgram is the Deepgram client: live speech-to-text over the
// /v1/listen WebSocket and Aura text-to-speech over REST /v1/speak.
// Both go through failsafe-go (redial with backoff, retry before the first
// byte, a circuit breaker) and are tested against deepgramtest, a fake server
// that speaks the same wire protocol, as Deepgram's API reference
// (developers.deepgram.com) documents it; docs/protocols/deepgram.md sets out
// the facts the client relies on, and comments cite its sections (§1.2).
package deepgram
