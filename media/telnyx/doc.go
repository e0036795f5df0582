// Package telnyx speaks the Telnyx media-stream WebSocket protocol in both
// directions: it parses connected, start, media, dtmf, mark, error and stop frames
// without allocating on the media path, and writes media, mark and clear frames.
// The wire facts it follows are Telnyx's "Media Streaming over WebSockets"
// developer documentation (developers.telnyx.com), bidirectional RTP mode;
// docs/protocols/telnyx.md, sections 1 and 2, sets them out with their sources.
package telnyx
