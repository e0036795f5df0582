package telnyx

import (
	"bytes"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// parsedBoth parses msg with Parse (the media frame path when it takes
// the frame) and with the general parser alone.
func parsedBoth(msg []byte) (handled bool, fast, general Event, fastErr, generalErr error) {
	var p1, p2 Parser
	handled, _ = new(Parser).parseMediaFrame(msg, new(Event))
	fastErr = p1.Parse(msg, &fast)
	generalErr = p2.parseGeneral(msg, &general)
	return handled, fast, general, fastErr, generalErr
}

func sameParse(t *testing.T, msg []byte, fast, general Event, fastErr, generalErr error) {
	t.Helper()
	var fe, ge *ProtocolError
	if errors.As(fastErr, &fe) != errors.As(generalErr, &ge) || (fe != nil && fe.Kind != ge.Kind) {
		t.Fatalf("%q: error %v, the general parser's %v", msg, fastErr, generalErr)
	}
	if !reflect.DeepEqual(fast, general) {
		t.Fatalf("%q:\nparsed  %+v\ngeneral %+v", msg, fast, general)
	}
}

// The media frame path takes the frames Telnyx sends, in any key order
// and spacing, and reads them as the general parser does; it leaves
// anything it does not know to the general parser.
func TestParseMediaFramePathAgreesWithTheGeneralOne(t *testing.T) {
	payload := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xFF, 0x7F, 0x00, 0x11}, 40))
	for _, tc := range []struct {
		name  string
		frame string
		taken bool
	}{
		{"as Telnyx sends it", mediaFrame("12", "11", bytes.Repeat([]byte{0x55}, 160)), true},
		{"keys in another order, spaces", ` { "media" : { "payload" : "` + payload + `" , "chunk":"3","track":"outbound" } ,` +
			"\n\t" + `"stream_id":"s","event":"media","sequence_number":"4" } `, true},
		{"integers as numbers", `{"event":"media","sequence_number":4,"media":{"chunk":-3,"timestamp":0,"payload":"` + payload + `"}}`, true},
		{"no sequence number, chunk or timestamp", `{"event":"media","media":{"payload":"` + payload + `"}}`, true},
		{"a timestamp that is not one", `{"event":"media","media":{"timestamp":"soon","payload":"` + payload + `"}}`, true},
		{"bad base64", `{"event":"media","media":{"payload":"!!!!"}}`, true},
		{"an empty payload", `{"event":"media","media":{"payload":""}}`, true},
		{"a payload over the cap", `{"event":"media","media":{"payload":"` + strings.Repeat("A", 4*(DefaultMaxPayload/3+1)) + `"}}`, true},
		{"a fraction", `{"event":"media","sequence_number":4.5,"media":{"payload":"` + payload + `"}}`, false},
		{"a sequence number that is not one", `{"event":"media","sequence_number":"x4","media":{"payload":"` + payload + `"}}`, false},
		{"an escaped payload", `{"event":"media","media":{"payload":"\/\/8="}}`, false},
		{"an escaped key", `{"ev\u0065nt":"media","media":{"payload":"` + payload + `"}}`, false},
		{"a nested field", `{"event":"media","extra":{"a":1},"media":{"payload":"` + payload + `"}}`, false},
		{"a literal", `{"event":"media","final":true,"media":{"payload":"` + payload + `"}}`, false},
		{"two payloads", `{"event":"media","media":{"payload":"` + payload + `","payload":"AAAA"}}`, false},
		{"two events", `{"event":"mark","event":"media","media":{"payload":"` + payload + `"}}`, false},
		{"no payload", `{"event":"media","media":{"chunk":"1"}}`, false},
		{"media not an object", `{"event":"media","media":"x"}`, false},
		{"a mark", markFrame, false},
		{"trailing garbage", mediaFrame("1", "1", nil) + `x`, false},
		{"cut short", mediaFrame("1", "1", nil)[:40], false},
		{"a leading zero", `{"event":"media","sequence_number":04,"media":{"payload":"` + payload + `"}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte(tc.frame)
			handled, fast, general, fastErr, generalErr := parsedBoth(msg)
			if handled != tc.taken {
				t.Errorf("taken by the media frame path: %v, want %v", handled, tc.taken)
			}
			sameParse(t, msg, fast, general, fastErr, generalErr)
		})
	}
}

// FuzzParseMediaFrame: whatever the media frame path takes, the general
// parser reads the same way, errors included.
func FuzzParseMediaFrame(f *testing.F) {
	for _, s := range []string{mediaFrame("1", "1", make([]byte, 160)), markFrame, startJSON,
		`{"event":"media","sequence_number":-0,"media":{"payload":"AAAA","track":"o"}}`, `{}`, ` {"media":{}} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		handled, fast, general, fastErr, generalErr := parsedBoth(data)
		if handled {
			sameParse(t, data, fast, general, fastErr, generalErr)
		}
	})
}
