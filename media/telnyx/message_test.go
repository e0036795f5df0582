package telnyx

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/iace/iace/media"
)

// Frames as docs/protocols/telnyx.md 1 shows them (IDs made up).
const (
	startJSON = `{"event":"start","sequence_number":"1","stream_id":"9B1F7C2E-4D0A-4E55-8C11-2F6A0D7B3E90",` +
		`"start":{"user_id":"5c0d8e1a-0000-4000-8000-000000000001","call_control_id":"v3:exampleCCID_abc123",` +
		`"call_session_id":"a1b2c3d4-1111-2222-3333-444455556666","from":"+15551230001","to":"+15559870002",` +
		`"tags":["support"],"client_state":"eyJjYWxsIjoiNDIifQ==","custom_parameters":{"tenant":"acme"},` +
		`"media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}}}`
	dtmfFrame  = `{"event":"dtmf","stream_id":"9B1F","sequence_number":"31","occurred_at":"2026-01-05T10:00:03.120Z","dtmf":{"digit":"5"}}`
	markFrame  = `{"event":"mark","stream_id":"9B1F","sequence_number":"40","mark":{"name":"utt-12"}}`
	errorFrame = `{"event":"error","payload":{"code":100003,"title":"malformed_frame","detail":"frame not well formed"},"stream_id":"9B1F"}`
	stopFrame  = `{"event":"stop","sequence_number":"912","stream_id":"9B1F","stop":{"user_id":"u","call_control_id":"v3:x"}}`
)

func mediaFrame(seq, chunk string, payload []byte) string {
	return `{"event":"media","sequence_number":"` + seq + `","stream_id":"9B1F7C2E",` +
		`"media":{"track":"inbound","chunk":"` + chunk + `","timestamp":"120","payload":"` +
		base64.StdEncoding.EncodeToString(payload) + `"}}`
}

func TestParseMedia(t *testing.T) {
	payload := bytes.Repeat([]byte{0xFF, 0x7F, 0x00, 0x11}, 40)
	var p Parser
	var ev Event
	if err := p.Parse([]byte(mediaFrame("7", "6", payload)), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != EventMedia || ev.Seq != 7 || ev.Media.Chunk != 6 || ev.Media.Timestamp != 120 || ev.Media.Track != TrackInbound {
		t.Errorf("got kind %v seq %d chunk %d ts %d track %v", ev.Kind, ev.Seq, ev.Media.Chunk, ev.Media.Timestamp, ev.Media.Track)
	}
	if !bytes.Equal(ev.Media.Payload, payload) {
		t.Errorf("payload differs")
	}
}

func TestParseToleratesVariants(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		check func(*testing.T, *Event)
	}{
		{"numbers instead of strings", `{"event":"media","sequence_number":3,"media":{"chunk":2,"payload":"/w=="}}`, func(t *testing.T, ev *Event) {
			if ev.Seq != 3 || ev.Media.Chunk != 2 || len(ev.Media.Payload) != 1 {
				t.Errorf("seq %d chunk %d payload %d", ev.Seq, ev.Media.Chunk, len(ev.Media.Payload))
			}
		}},
		{"escaped slash in base64", `{"event":"media","media":{"payload":"\/\/8="}}`, func(t *testing.T, ev *Event) {
			if !bytes.Equal(ev.Media.Payload, []byte{0xFF, 0xFF}) {
				t.Errorf("payload %x", ev.Media.Payload)
			}
		}},
		{"outbound track", `{"event":"media","media":{"track":"outbound","payload":""}}`, func(t *testing.T, ev *Event) {
			if ev.Media.Track != TrackOutbound || ev.Media.Chunk != -1 || ev.Seq != -1 {
				t.Errorf("track %v chunk %d seq %d", ev.Media.Track, ev.Media.Chunk, ev.Seq)
			}
		}},
		{"unknown event", `{"event":"transcription","text":"hi"}`, func(t *testing.T, ev *Event) {
			if ev.Kind != EventUnknown {
				t.Errorf("kind %v", ev.Kind)
			}
		}},
		{"unknown fields", `{"event":"mark","extra":{"a":[1,2]},"mark":{"name":"x","more":true}}`, func(t *testing.T, ev *Event) {
			if ev.Mark != "x" {
				t.Errorf("mark %q", ev.Mark)
			}
		}},
		{"connected with token", `{"event":"connected","version":"1.0.0","x-telnyx-streaming-auth-token":"abc"}`, func(t *testing.T, ev *Event) {
			if ev.Kind != EventConnected {
				t.Errorf("kind %v", ev.Kind)
			}
		}},
		{"start", startJSON, func(t *testing.T, ev *Event) {
			s := ev.Start
			if s.StreamID != "9B1F7C2E-4D0A-4E55-8C11-2F6A0D7B3E90" || s.CallControlID != "v3:exampleCCID_abc123" ||
				s.From != "+15551230001" || s.CustomParameters["tenant"] != "acme" || s.MediaFormat.Encoding != "PCMU" {
				t.Errorf("start %+v", s)
			}
			f, err := s.MediaFormat.Format()
			if err != nil || f != media.PCMU8k {
				t.Errorf("format %v, %v", f, err)
			}
		}},
		{"dtmf", dtmfFrame, func(t *testing.T, ev *Event) {
			if ev.Digit != '5' || ev.OccurredAt.IsZero() || ev.Seq != 31 {
				t.Errorf("digit %q at %v seq %d", ev.Digit, ev.OccurredAt, ev.Seq)
			}
		}},
		{"mark", markFrame, func(t *testing.T, ev *Event) {
			if ev.Mark != "utt-12" {
				t.Errorf("mark %q", ev.Mark)
			}
		}},
		{"error", errorFrame, func(t *testing.T, ev *Event) {
			if ev.Error.Code != 100003 || ev.Error.Title != "malformed_frame" {
				t.Errorf("error %+v", ev.Error)
			}
		}},
		{"stop", stopFrame, func(t *testing.T, ev *Event) {
			if ev.Kind != EventStop || ev.Seq != 912 {
				t.Errorf("kind %v seq %d", ev.Kind, ev.Seq)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			var ev Event
			if err := p.Parse([]byte(tt.frame), &ev); err != nil {
				t.Fatal(err)
			}
			tt.check(t, &ev)
		})
	}
}

func TestParseRejectsBadFrames(t *testing.T) {
	tests := []struct {
		name, frame, kind string
	}{
		{"not JSON", `{"event":"media",`, KindMalformedJSON},
		{"not an object", `["media"]`, KindMalformedJSON},
		{"bad base64", `{"event":"media","media":{"payload":"!!!!"}}`, KindBadBase64},
		{"payload not a string", `{"event":"media","media":{"payload":12}}`, KindBadField},
		{"no payload", `{"event":"media","media":{"chunk":"1"}}`, KindBadField},
		{"no media object", `{"event":"media"}`, KindBadField},
		{"chunk not a number", `{"event":"media","media":{"chunk":"x1","payload":""}}`, KindBadField},
		{"negative sequence", `{"event":"stop","sequence_number":"-4"}`, KindBadField},
		{"oversize payload", `{"event":"media","media":{"payload":"` + strings.Repeat("A", 30000) + `"}}`, KindOversize},
		{"bad digit", `{"event":"dtmf","dtmf":{"digit":"x"}}`, KindBadField},
		{"two digits", `{"event":"dtmf","dtmf":{"digit":"12"}}`, KindBadField},
		{"mark without name", `{"event":"mark","mark":{}}`, KindBadField},
		{"start without ids", `{"event":"start","start":{"media_format":{"encoding":"PCMU"}}}`, KindBadField},
		{"start not an object", `{"event":"start","stream_id":"a","start":"x"}`, KindBadField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			var ev Event
			err := p.Parse([]byte(tt.frame), &ev)
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Kind != tt.kind {
				t.Fatalf("err %v: want a %s ProtocolError", err, tt.kind)
			}
		})
	}
}

func TestMediaFormat(t *testing.T) {
	tests := []struct {
		in   MediaFormat
		want media.Format
		ok   bool
	}{
		{MediaFormat{Encoding: "PCMU", SampleRate: 8000, Channels: 1}, media.PCMU8k, true},
		{MediaFormat{Encoding: "PCMA", SampleRate: 8000}, media.Format{Encoding: media.EncodingPCMA, SampleRate: 8000}, true},
		{MediaFormat{Encoding: "L16", SampleRate: 16000}, media.Format{Encoding: media.EncodingL16, SampleRate: 16000}, true},
		{MediaFormat{Encoding: "L16"}, media.Format{Encoding: media.EncodingL16, SampleRate: 16000}, true},
		{MediaFormat{Encoding: "pcmu"}, media.PCMU8k, true},
		{MediaFormat{Encoding: "OPUS", SampleRate: 16000}, media.Format{}, false},
		{MediaFormat{Encoding: "G722", SampleRate: 8000}, media.Format{}, false},
		{MediaFormat{Encoding: "PCMU", SampleRate: 11025}, media.Format{}, false},
		{MediaFormat{Encoding: "PCMU", SampleRate: 8000, Channels: 2}, media.Format{}, false},
		{MediaFormat{Encoding: "PCM16", SampleRate: 8000}, media.Format{}, false},
	}
	for _, tt := range tests {
		got, err := tt.in.Format()
		if (err == nil) != tt.ok || tt.ok && got != tt.want {
			t.Errorf("%+v: got %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestOutboundFrames(t *testing.T) {
	if got := string(AppendMedia(nil, []byte{0xFF, 0xFE})); got != `{"event":"media","media":{"payload":"//4="}}` {
		t.Errorf("media: %s", got)
	}
	if got := string(AppendMark(nil, `t1-"end"`+"\n")); got != `{"event":"mark","mark":{"name":"t1-\"end\"\u000a"}}` {
		t.Errorf("mark: %s", got)
	}
	if got := string(AppendClear(nil)); got != `{"event":"clear"}` {
		t.Errorf("clear: %s", got)
	}
	// Our own frames parse back as the protocol says.
	var p Parser
	var ev Event
	if err := p.Parse(AppendMark(nil, "t7-start"), &ev); err != nil || ev.Kind != EventMark || ev.Mark != "t7-start" {
		t.Errorf("mark round trip: %v %v %q", err, ev.Kind, ev.Mark)
	}
}

func TestParseMediaDoesNotAllocate(t *testing.T) {
	msg := []byte(mediaFrame("7", "6", make([]byte, 160)))
	var p Parser
	var ev Event
	allocs := testing.AllocsPerRun(100, func() {
		if err := p.Parse(msg, &ev); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per media frame, want 0", allocs)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{startJSON, dtmfFrame, markFrame, errorFrame, stopFrame, mediaFrame("1", "1", make([]byte, 160)),
		`{"event":"connected","version":"1.0.0"}`, `{"event":"media","media":{"payload":"\/\/8="}}`, `{}`, `[]`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Parser
		var ev Event
		err := p.Parse(data, &ev)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ProtocolError", err)
			}
			return
		}
		switch ev.Kind {
		case EventMedia:
			if len(ev.Media.Payload) > DefaultMaxPayload {
				t.Fatalf("payload of %d bytes passed the cap", len(ev.Media.Payload))
			}
		case EventStart:
			if ev.Start == nil || ev.Start.StreamID == "" || ev.Start.CallControlID == "" {
				t.Fatalf("start without ids parsed: %+v", ev.Start)
			}
		case EventDTMF:
			if !validDigit(ev.Digit) {
				t.Fatalf("invalid digit %q parsed", ev.Digit)
			}
		}
	})
}

// BenchmarkParseMedia is one inbound 20 ms PCMU frame: JSON, base64.
func BenchmarkParseMedia(b *testing.B) {
	msg := []byte(mediaFrame("1234", "1233", bytes.Repeat([]byte{0x7E, 0xFF}, 80)))
	var p Parser
	var ev Event
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := p.Parse(msg, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseDecodeMedia is a media frame's whole parsing work: JSON,
// base64 and G.711 to PCM16.
func BenchmarkParseDecodeMedia(b *testing.B) {
	msg := []byte(mediaFrame("1234", "1233", bytes.Repeat([]byte{0x7E, 0xFF}, 80)))
	var p Parser
	var ev Event
	pcm := make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Parse(msg, &ev); err != nil {
			b.Fatal(err)
		}
		media.DecodeTo(pcm, ev.Media.Payload, media.EncodingPCMU)
	}
}

func BenchmarkAppendMedia100ms(b *testing.B) {
	audio := bytes.Repeat([]byte{0x7E}, 800)
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMedia(buf[:0], audio)
	}
}
