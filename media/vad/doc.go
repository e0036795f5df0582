// Package vad is a voice activity detector for telephone audio: it decides per
// PCM16 frame whether the caller speaks and turns those decisions into
// utterance events (speech start, barge-in, speech end) for the session engine.
//
// A frame is voiced when its energy above 300 Hz (the bottom of the telephone
// band; the high-pass filter removes mains hum and most of the rumble of brown
// noise) is ThresholdDB above an adaptive noise floor and above an absolute
// -55 dBFS, so digital silence and faint line noise never fire. The floor
// falls within a few frames to a quieter background and otherwise rises
// slowly, except that it is never below the quietest frame of the last two
// seconds, nor, when the level has stayed within 7 dB for half a second, below
// the quietest frame of that half second. Speech swings more than that between
// syllables; steady noise (fan, hum, white, pink or brown noise) does not. So
// noise present from the first frame never fires, and noise that starts
// abruptly mid-call causes at most one short utterance, without a barge-in:
// BargeIn waits until the level inside the utterance has swung by 7 dB.
//
// Voiced frames become events through MinSpeech, Hangover, MinSilence and
// BargeInMin (see Config). Every duration is counted from the audio itself,
// len(frame) / sampleRate; the detector reads no clock and is deterministic.
package vad
