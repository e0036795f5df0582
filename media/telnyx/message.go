package telnyx

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/iace/iace/media"
)

// EventKind is the value of a frame's top-level "event" field.
type EventKind uint8

// The frames Telnyx sends to a media-stream server (docs/protocols/telnyx.md 1).
const (
	EventUnknown EventKind = iota
	EventConnected
	EventStart
	EventMedia
	EventDTMF
	EventMark
	EventError
	EventStop
)

var eventNames = [...]string{"unknown", "connected", "start", "media", "dtmf", "mark", "error", "stop"}

// String returns the wire name of the event.
func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Track says whose audio a media frame carries.
type Track uint8

// Media tracks.
const (
	TrackInbound Track = iota // the caller, the default
	TrackOutbound
)

// Media is the body of a media frame. Payload holds the decoded codec bytes
// (RTP payload, no header) and aliases the parser's buffer: it is valid only
// until the next Parse.
type Media struct {
	Track     Track
	Chunk     int64
	Timestamp int64
	Payload   []byte
}

// MediaFormat is the audio format Telnyx declares in the start frame.
type MediaFormat struct {
	Encoding   string `json:"encoding"`
	SampleRate int    `json:"sample_rate"`
	Channels   int    `json:"channels"`
}

// Format converts the declared format to a media.Format, rejecting what IACE
// cannot decode (G722, OPUS, AMR-WB, stereo).
func (f MediaFormat) Format() (media.Format, error) {
	enc, err := media.ParseEncoding(f.Encoding)
	if err != nil {
		return media.Format{}, err
	}
	if enc == media.EncodingPCM16 {
		return media.Format{}, fmt.Errorf("%w: %s is not a wire encoding", media.ErrUnsupportedEncoding, f.Encoding)
	}
	if f.Channels > 1 {
		return media.Format{}, fmt.Errorf("%w: %d channels", media.ErrUnsupportedEncoding, f.Channels)
	}
	rate := f.SampleRate
	if rate == 0 {
		rate = 8000
		if enc == media.EncodingL16 {
			rate = 16000
		}
	}
	mf := media.Format{Encoding: enc, SampleRate: rate}
	return mf, mf.Validate()
}

// Start is the body of the start frame: who is calling and in what format.
type Start struct {
	StreamID         string            `json:"-"`
	UserID           string            `json:"user_id"`
	CallControlID    string            `json:"call_control_id"`
	CallSessionID    string            `json:"call_session_id"`
	From             string            `json:"from"`
	To               string            `json:"to"`
	Tags             []string          `json:"tags"`
	ClientState      string            `json:"client_state"`
	CustomParameters map[string]string `json:"custom_parameters"`
	MediaFormat      MediaFormat       `json:"media_format"`
	// Claims are the verified claims of the stream token the stream was
	// admitted with; nil for a stream admitted without one. Never parsed from
	// the frame: the Handler sets it.
	Claims *StreamClaims `json:"-"`
}

// ErrorPayload is the body of an error frame (docs/protocols/telnyx.md 1.6: the key is "payload").
type ErrorPayload struct {
	Code   int    `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

// Event is one parsed frame. A reader reuses one Event for every frame; only the
// fields of Kind are meaningful after Parse.
type Event struct {
	Kind EventKind
	// Seq is sequence_number, or -1 when absent.
	Seq        int64
	Media      Media
	Start      *Start
	Digit      byte
	OccurredAt time.Time
	Mark       string
	Error      ErrorPayload
}

// Parser parses Telnyx frames. The zero value is ready; it is not safe for
// concurrent use (one per connection). Media frames parse without
// allocating, and without the general JSON parser, whose value cache a
// connection would otherwise keep for its whole life.
type Parser struct {
	payload []byte
	// MaxPayload caps a media payload's decoded size (0: 16 KiB).
	MaxPayload int
}

// DefaultMaxPayload caps a decoded media payload: 16 KiB is half a second of
// L16 at 16 kHz, far above Telnyx's 20 ms frames.
const DefaultMaxPayload = 16 << 10

// Parse reads one frame into ev. Unknown events parse to EventUnknown without
// error, as the protocol keeps growing (docs/protocols/telnyx.md 7.3). Errors are *ProtocolError.
func (p *Parser) Parse(msg []byte, ev *Event) error {
	if handled, err := p.parseMediaFrame(msg, ev); handled {
		return err
	}
	return p.parseGeneral(msg, ev)
}

// parseGeneral is Parse for every frame, with the general JSON parser.
func (p *Parser) parseGeneral(msg []byte, ev *Event) error {
	jp := jsonParsers.Get().(*fastjson.Parser) // New makes nothing else
	defer jsonParsers.Put(jp)
	v, err := jp.ParseBytes(msg)
	if err != nil {
		return &ProtocolError{Kind: KindMalformedJSON, Err: err}
	}
	if v.Type() != fastjson.TypeObject {
		return &ProtocolError{Kind: KindMalformedJSON, Err: errors.New("frame is not a JSON object")}
	}
	ev.Kind = kindOf(v.GetStringBytes("event"))
	ev.Seq = -1
	if s := v.Get("sequence_number"); s != nil {
		n, ok := intValue(s)
		if !ok {
			return &ProtocolError{Kind: KindBadField, Err: errors.New("sequence_number is not an integer")}
		}
		ev.Seq = n
	}
	switch ev.Kind {
	case EventMedia:
		return p.parseMedia(v.Get("media"), ev)
	case EventStart:
		return parseStart(msg, ev)
	case EventDTMF:
		d := v.GetStringBytes("dtmf", "digit")
		if len(d) != 1 || !validDigit(d[0]) {
			return &ProtocolError{Kind: KindBadField, Err: fmt.Errorf("dtmf digit %q", d)}
		}
		ev.Digit = d[0]
		ev.OccurredAt = time.Time{}
		if at := v.GetStringBytes("occurred_at"); len(at) > 0 {
			if t, err := time.Parse(time.RFC3339Nano, string(at)); err == nil {
				ev.OccurredAt = t
			}
		}
	case EventMark:
		name := v.GetStringBytes("mark", "name")
		if len(name) == 0 || len(name) > maxMarkName {
			return &ProtocolError{Kind: KindBadField, Err: errors.New("mark without a valid name")}
		}
		ev.Mark = string(name)
	case EventError:
		e := v.Get("payload")
		if e == nil {
			e = v.Get("error")
		}
		ev.Error = ErrorPayload{}
		if e != nil {
			ev.Error.Code = e.GetInt("code")
			ev.Error.Title = truncate(string(e.GetStringBytes("title")), 200)
			ev.Error.Detail = truncate(string(e.GetStringBytes("detail")), 500)
		}
	}
	return nil
}

func (p *Parser) parseMedia(m *fastjson.Value, ev *Event) error {
	if m == nil || m.Type() != fastjson.TypeObject {
		return &ProtocolError{Kind: KindBadField, Err: errors.New("media frame without a media object")}
	}
	md := &ev.Media
	md.Track = TrackInbound
	if t := m.GetStringBytes("track"); len(t) > 0 && t[0] == 'o' {
		md.Track = TrackOutbound
	}
	md.Chunk, md.Timestamp = -1, -1
	if c := m.Get("chunk"); c != nil {
		n, ok := intValue(c)
		if !ok {
			return &ProtocolError{Kind: KindBadField, Err: errors.New("media.chunk is not an integer")}
		}
		md.Chunk = n
	}
	if ts := m.Get("timestamp"); ts != nil {
		if n, ok := intValue(ts); ok {
			md.Timestamp = n
		}
	}
	pv := m.Get("payload")
	if pv == nil {
		return &ProtocolError{Kind: KindBadField, Err: errors.New("media without payload")}
	}
	b64, err := pv.StringBytes()
	if err != nil {
		return &ProtocolError{Kind: KindBadField, Err: errors.New("media.payload is not a string")}
	}
	return p.decodePayload(b64, md)
}

// jsonParsers lend Parse the general JSON parser for the frames that are
// not plain media frames: a few a call, so no connection keeps one, with
// the cache of values it grows to the largest frame it read.
var jsonParsers = sync.Pool{New: func() any { return new(fastjson.Parser) }}

// decodePayload decodes a media payload into the Parser's buffer.
func (p *Parser) decodePayload(b64 []byte, md *Media) error {
	limit := p.MaxPayload
	if limit <= 0 {
		limit = DefaultMaxPayload
	}
	n := base64.StdEncoding.DecodedLen(len(b64))
	if n > limit {
		return &ProtocolError{Kind: KindOversize, Err: fmt.Errorf("media payload of %d bytes, limit %d", n, limit)}
	}
	if cap(p.payload) < n {
		// The frame's own size: a call's frames keep one size, and every
		// call keeps this buffer for its whole life.
		p.payload = make([]byte, n)
	}
	n, err := base64.StdEncoding.Decode(p.payload[:n], b64)
	if err != nil {
		return &ProtocolError{Kind: KindBadBase64, Err: err}
	}
	md.Payload = p.payload[:n]
	return nil
}

type startFrame struct {
	StreamID string `json:"stream_id"`
	Start    *Start `json:"start"`
}

func parseStart(msg []byte, ev *Event) error {
	var f startFrame
	if err := json.Unmarshal(msg, &f); err != nil {
		return &ProtocolError{Kind: KindBadField, Err: fmt.Errorf("start: %w", err)}
	}
	if f.Start == nil {
		return &ProtocolError{Kind: KindBadField, Err: errors.New("start frame without a start object")}
	}
	if f.StreamID == "" || f.Start.CallControlID == "" {
		return &ProtocolError{Kind: KindBadField, Err: errors.New("start frame without stream_id or call_control_id")}
	}
	if len(f.StreamID) > maxIDLen || len(f.Start.CallControlID) > maxIDLen || len(f.Start.CustomParameters) > maxCustomParams {
		return &ProtocolError{Kind: KindOversize, Err: errors.New("start frame fields too large")}
	}
	f.Start.StreamID = f.StreamID
	ev.Start = f.Start
	return nil
}

const (
	maxMarkName     = 256
	maxIDLen        = 512
	maxCustomParams = 64
)

func kindOf(b []byte) EventKind {
	switch string(b) { // no allocation: the compiler switches on the bytes
	case "media":
		return EventMedia
	case "connected":
		return EventConnected
	case "start":
		return EventStart
	case "dtmf":
		return EventDTMF
	case "mark":
		return EventMark
	case "error":
		return EventError
	case "stop":
		return EventStop
	}
	return EventUnknown
}

// intValue reads an integer sent as a JSON string (Telnyx's way) or a number.
func intValue(v *fastjson.Value) (int64, bool) {
	switch v.Type() {
	case fastjson.TypeNumber:
		n, err := v.Int64()
		return n, err == nil
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return atoi(b)
	}
	return 0, false
}

func atoi(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func validDigit(c byte) bool {
	return (c >= '0' && c <= '9') || c == '*' || c == '#' || (c >= 'A' && c <= 'D')
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
