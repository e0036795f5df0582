// Package media holds the audio primitives of a call: formats and frames, G.711
// and L16 codecs, resampling, WAV files, the reorder buffer and the shared
// outbound pacer. It is the ground floor of IACE and imports none of its packages.
package media
