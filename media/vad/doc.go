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
// A pitch tracker (pitch.go, voicing.go) decides whether the sound is a voice:
// the audio is decimated to about 2 kHz, and each voiced frame's normalized
// autocorrelation over lags of 70-400 Hz gives its periodicity and
// fundamental. A run is voiced speech when its pitch is continuous from frame
// to frame and moves, as intonation does; clicks, coughs, breath and rustle
// have no continuous pitch, and hum, buzz, knocks and chords hold theirs
// still. Only voiced speech barges in; other sounds get NotSpeech. The pitch
// also ends the turn: a fall at the end sounds finished (MinSilence), a
// level or rising end unfinished (MaxSilence).
//
// Voiced frames become events through MinSpeech, Hangover, MinSilence,
// MaxSilence, PauseMin, BargeInMin and BackchannelMax (see Config and Event). Every duration is counted from the audio itself,
// len(frame) / sampleRate; the detector reads no clock and is deterministic.
package vad
