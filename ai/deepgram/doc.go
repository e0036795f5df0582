// Package deepgram is the Deepgram client: live speech-to-text over the
// /v1/listen WebSocket and Aura text-to-speech over REST /v1/speak.
// Both go through failsafe-go (redial with backoff, retry before the first
// byte, a circuit breaker) and are tested against deepgramtest, a fake server
// that speaks the same wire protocol (../../shared/protocols/deepgram.md).
package deepgram
