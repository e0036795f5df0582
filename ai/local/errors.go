package local

import "errors"

// Errors of the offline providers.
var (
	// ErrClosed is returned by a stream used after its Close.
	ErrClosed = errors.New("local: stream closed")
	// ErrEmptyText is returned for a speech request with nothing to say.
	ErrEmptyText = errors.New("local: empty text")
	// ErrTextTooLong is returned for a speech request over the configured limit.
	ErrTextTooLong = errors.New("local: text too long")
	// ErrBadVoice is returned for a voice name outside [a-zA-Z0-9_+-].
	ErrBadVoice = errors.New("local: invalid voice name")
)
