package deepgram

import "testing"

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name, in string
		want     serverMessage
		bad      bool
	}{
		{"a final result", `{"type":"Results","channel_index":[0,1],"start":3.12,"duration":1.58,"is_final":true,"speech_final":true,"from_finalize":true,
			"channel":{"alternatives":[{"transcript":"I need to reschedule.","confidence":0.97,"words":[]}]},"metadata":{"request_id":"r1"}}`,
			serverMessage{Type: msgResults, Transcript: "I need to reschedule.", IsFinal: true, SpeechFinal: true, FromFinalize: true, Start: 3.12, Duration: 1.58, RequestID: "r1"}, false},
		{"an utterance end with an array channel", `{"type":"UtteranceEnd","channel":[0,1],"last_word_end":4.4}`,
			serverMessage{Type: msgUtteranceEnd, LastWordEnd: 4.4}, false},
		{"an error", `{"type":"Error","variant":"Closing","code":"NET-0001","description":"idle"}`,
			serverMessage{Type: msgError, Code: "NET-0001", Description: "idle"}, false},
		{"an unknown type is kept", `{"type":"Surprise"}`, serverMessage{Type: "Surprise"}, false},
		{"results without a channel", `{"type":"Results"}`, serverMessage{}, true},
		{"not JSON", `nope`, serverMessage{}, true},
		{"no type", `{}`, serverMessage{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMessage([]byte(tt.in))
			if (err != nil) != tt.bad {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"Results","channel":{"alternatives":[{"transcript":"hi"}]},"is_final":true}`,
		`{"type":"UtteranceEnd","channel":[0,1],"last_word_end":1}`,
		`{"type":"Metadata","request_id":"x","duration":1.5,"channels":1}`,
		`{"type":"SpeechStarted","channel":[0,1],"timestamp":9.54}`,
		`{"type":"Results","channel":[0,1]}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMessage(data)
		if err == nil && m.Type == "" {
			t.Error("parsed a message without a type")
		}
		_ = typeLabel(m.Type)
	})
}
