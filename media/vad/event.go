package vad

import "strconv"

// Event is what a frame changed in the utterance state.
type Event uint8

// The events Process reports, at most one a frame. For one utterance they come
// in the order EventSpeechStart, EventBargeIn (if it lasts BargeInMin),
// EventSpeechEnd.
const (
	// EventNone means nothing changed.
	EventNone Event = iota
	// EventSpeechStart means MinSpeech of voiced audio began an utterance.
	EventSpeechStart
	// EventBargeIn means the utterance has lasted BargeInMin: long enough to
	// interrupt the agent. It fires at most once an utterance.
	EventBargeIn
	// EventSpeechEnd means MinSilence of unvoiced audio ended the utterance
	// (endpointing).
	EventSpeechEnd
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
	}
	return "Event(" + strconv.Itoa(int(e)) + ")"
}
