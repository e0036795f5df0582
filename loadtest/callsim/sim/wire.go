package sim

import (
	"encoding/json"
	"strconv"
	"time"
)

// The Telnyx media-stream frames the simulator sends, as docs/protocols/telnyx.md section 1
// describes them. sequence_number, media.chunk and media.timestamp are JSON
// strings holding integers; stream_id is at the top level.

// connectedFrame is the first frame of every stream (docs/protocols/telnyx.md 1.1).
const connectedFrame = `{"event":"connected","version":"1.0.0"}`

// startFrame mirrors docs/protocols/telnyx.md 1.2 field for field.
type startFrame struct {
	Event          string    `json:"event"`
	SequenceNumber string    `json:"sequence_number"`
	StreamID       string    `json:"stream_id"`
	Start          startBody `json:"start"`
}

type startBody struct {
	UserID           string            `json:"user_id"`
	CallControlID    string            `json:"call_control_id"`
	CallSessionID    string            `json:"call_session_id"`
	From             string            `json:"from"`
	To               string            `json:"to"`
	Tags             []string          `json:"tags"`
	ClientState      string            `json:"client_state"`
	CustomParameters map[string]string `json:"custom_parameters"`
	MediaFormat      mediaFormat       `json:"media_format"`
}

type mediaFormat struct {
	Encoding   string `json:"encoding"`
	SampleRate int    `json:"sample_rate"`
	Channels   int    `json:"channels"`
}

// identity is what a simulated call says about itself in start and stop.
type identity struct {
	streamID      string
	userID        string
	callControlID string
	callSessionID string
	from, to      string
	clientState   string
	params        map[string]string
}

// appendStart appends the start frame, always sequence number 1.
func appendStart(dst []byte, id *identity) []byte {
	b, err := json.Marshal(startFrame{
		Event:          "start",
		SequenceNumber: "1",
		StreamID:       id.streamID,
		Start: startBody{
			UserID:           id.userID,
			CallControlID:    id.callControlID,
			CallSessionID:    id.callSessionID,
			From:             id.from,
			To:               id.to,
			Tags:             []string{"callsim"},
			ClientState:      id.clientState,
			CustomParameters: id.params,
			MediaFormat:      mediaFormat{Encoding: "PCMU", SampleRate: 8000, Channels: 1},
		},
	})
	if err != nil {
		// Strings and a map of strings always marshal.
		panic("callsim: marshal start: " + err.Error())
	}
	return append(dst, b...)
}

// appendMedia appends an inbound media frame (docs/protocols/telnyx.md 1.3). payload is
// already base64; timestamp is the chunk's end in milliseconds since the
// stream started, as in the Telnyx example (chunk 6 at 120 ms).
func appendMedia(dst []byte, streamID string, seq, chunk int64, payload string) []byte {
	dst = append(dst, `{"event":"media","sequence_number":"`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `","stream_id":"`...)
	dst = append(dst, streamID...)
	dst = append(dst, `","media":{"track":"inbound","chunk":"`...)
	dst = strconv.AppendInt(dst, chunk, 10)
	dst = append(dst, `","timestamp":"`...)
	dst = strconv.AppendInt(dst, chunk*int64(frameDuration/time.Millisecond), 10)
	dst = append(dst, `","payload":"`...)
	dst = append(dst, payload...)
	return append(dst, `"}}`...)
}

// appendMarkEcho appends the echo of a server mark (docs/protocols/telnyx.md 1.5).
func appendMarkEcho(dst []byte, streamID string, seq int64, name string) []byte {
	dst = append(dst, `{"event":"mark","stream_id":"`...)
	dst = append(dst, streamID...)
	dst = append(dst, `","sequence_number":"`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `","mark":{"name":`...)
	dst = appendJSONString(dst, name)
	return append(dst, `}}`...)
}

// appendDTMF appends a key press (docs/protocols/telnyx.md 1.4).
func appendDTMF(dst []byte, streamID string, seq int64, at time.Time, digit string) []byte {
	dst = append(dst, `{"event":"dtmf","stream_id":"`...)
	dst = append(dst, streamID...)
	dst = append(dst, `","sequence_number":"`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `","occurred_at":"`...)
	dst = at.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","dtmf":{"digit":`...)
	dst = appendJSONString(dst, digit)
	return append(dst, `}}`...)
}

// appendStop appends the last frame of a stream (docs/protocols/telnyx.md 1.7).
func appendStop(dst []byte, id *identity, seq int64) []byte {
	dst = append(dst, `{"event":"stop","sequence_number":"`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `","stream_id":"`...)
	dst = append(dst, id.streamID...)
	dst = append(dst, `","stop":{"user_id":`...)
	dst = appendJSONString(dst, id.userID)
	dst = append(dst, `,"call_control_id":`...)
	dst = appendJSONString(dst, id.callControlID)
	return append(dst, `}}`...)
}

// appendJSONString appends s as a JSON string. Mark names come from the server,
// so quotes, backslashes and control characters are escaped; other bytes pass
// through unchanged.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
