package vad

import "strconv"

// Event is what a frame changed in the utterance state.
type Event uint8

// The events Process reports, at most one a frame. One utterance gives:
//
//   - EventSpeechStart, first;
//   - EventNotSpeech, at most once, and EventBargeIn, at most once, in
//     either order: NotSpeech after BargeIn never comes, BargeIn after
//     NotSpeech comes only when the sound stopped or was rejected and the
//     caller then speaks on within the same utterance (a new run);
//   - EventPause, once per pause of PauseMin, any number of times;
//   - EventSpeechEnd, last.
//
// A run is the sound of an utterance between two gaps of Hangover or more.
const (
	// EventNone means nothing changed.
	EventNone Event = iota
	// EventSpeechStart means MinSpeech of voiced audio began an utterance.
	EventSpeechStart
	// EventBargeIn means a run of the utterance is voiced speech (periodic,
	// with a moving pitch) and the utterance has lasted max(BargeInMin,
	// BackchannelMax) of voiced audio: a real interruption. It fires at
	// most once an utterance.
	EventBargeIn
	// EventSpeechEnd means MinSilence (the utterance sounds finished) or
	// MaxSilence (it sounds unfinished) of unvoiced audio ended the
	// utterance: endpointing.
	EventSpeechEnd
	// EventNotSpeech means the sound that started the utterance is not an
	// interruption: it stopped (a gap of Hangover) before BargeIn, or
	// after 200 ms of sound it had no pitch, or after 400 ms no voice's
	// pitch (a steady tone, a chord). A session that held the agent's
	// audio on SpeechStart resumes it. It fires at most once an utterance
	// and never after BargeIn; the utterance goes on and ends with
	// SpeechEnd, and speech that follows within it may still barge in.
	EventNotSpeech
	// EventPause means the caller has been silent for PauseMin (after the
	// Hangover) inside an utterance that has not ended: a session with a
	// final transcript that ends a sentence may answer now. It fires once
	// per pause, and not when SpeechEnd falls due on the same frame.
	EventPause
)

// String returns the event name used in logs and metric labels.
func (e Event) String() string {
	switch e {
	case EventNone:
		return "none"
	case EventSpeechStart:
		return "speech_start"
	case EventBargeIn:
		return "barge_in"
	case EventSpeechEnd:
		return "speech_end"
	case EventNotSpeech:
		return "not_speech"
	case EventPause:
		return "pause"
	}
	return "Event(" + strconv.Itoa(int(e)) + ")"
}
