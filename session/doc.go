// Package session runs phone calls: the engine admits media streams, keeps the
// registry of live calls and drains them on shutdown; each call's Session owns
// its state in one goroutine and does the turn-taking, barge-in and the
// conversation with the transcriber, chat model and synthesizer it is given.
package session
