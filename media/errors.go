package media

import "errors"

// ErrUnsupportedEncoding is returned for an encoding or rate IACE cannot carry.
var ErrUnsupportedEncoding = errors.New("media: unsupported encoding")
