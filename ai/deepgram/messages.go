package deepgram

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Server message types of /v1/listen (docs/protocols/deepgram.md §1.3).
const (
	msgResults       = "Results"
	msgUtteranceEnd  = "UtteranceEnd"
	msgSpeechStarted = "SpeechStarted"
	msgMetadata      = "Metadata"
	msgError         = "Error"
	msgOther         = "other" // metric label for types we do not know
)

// Client control messages (docs/protocols/deepgram.md §1.2). Each goes as one text frame.
var (
	ctrlKeepAlive   = []byte(`{"type":"KeepAlive"}`)
	ctrlFinalize    = []byte(`{"type":"Finalize"}`)
	ctrlCloseStream = []byte(`{"type":"CloseStream"}`)
)

// errBadMessage is returned by parseMessage for a frame that is not a
// Deepgram message.
var errBadMessage = errors.New("deepgram: malformed server message")

// serverMessage is one parsed server frame, reduced to what the stream uses.
type serverMessage struct {
	Type string
	// Results
	Transcript   string
	IsFinal      bool
	SpeechFinal  bool
	FromFinalize bool
	Start        float64
	Duration     float64
	// UtteranceEnd
	LastWordEnd float64
	// Metadata and Results
	RequestID string
	// Error
	Code        string
	Description string
}

// wireMessage is the union of the server messages' fields. "channel" is an
// object in Results and an array ([index,total]) in UtteranceEnd and
// SpeechStarted, so it is decoded only once the type is known.
type wireMessage struct {
	Type         string          `json:"type"`
	Channel      json.RawMessage `json:"channel"`
	IsFinal      bool            `json:"is_final"`
	SpeechFinal  bool            `json:"speech_final"`
	FromFinalize bool            `json:"from_finalize"`
	Start        float64         `json:"start"`
	Duration     float64         `json:"duration"`
	LastWordEnd  float64         `json:"last_word_end"`
	RequestID    string          `json:"request_id"`
	Metadata     *struct {
		RequestID string `json:"request_id"`
	} `json:"metadata"`
	Code        string `json:"code"`
	Description string `json:"description"`
	Message     string `json:"message"`
}

type wireChannel struct {
	Alternatives []struct {
		Transcript string  `json:"transcript"`
		Confidence float64 `json:"confidence"`
	} `json:"alternatives"`
}

// parseMessage decodes one text frame from /v1/listen. Unknown types parse
// without error; the caller ignores them (docs/protocols/deepgram.md §1.3).
func parseMessage(data []byte) (serverMessage, error) {
	var w wireMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return serverMessage{}, fmt.Errorf("%w: %w", errBadMessage, err)
	}
	if w.Type == "" {
		return serverMessage{}, fmt.Errorf("%w: no type", errBadMessage)
	}
	m := serverMessage{Type: w.Type, RequestID: w.RequestID}
	switch w.Type {
	case msgResults:
		var ch wireChannel
		if len(w.Channel) == 0 {
			return serverMessage{}, fmt.Errorf("%w: Results without channel", errBadMessage)
		}
		if err := json.Unmarshal(w.Channel, &ch); err != nil {
			return serverMessage{}, fmt.Errorf("%w: Results channel: %w", errBadMessage, err)
		}
		if len(ch.Alternatives) > 0 {
			m.Transcript = ch.Alternatives[0].Transcript
		}
		m.IsFinal, m.SpeechFinal, m.FromFinalize = w.IsFinal, w.SpeechFinal, w.FromFinalize
		m.Start, m.Duration = w.Start, w.Duration
		if w.Metadata != nil {
			m.RequestID = w.Metadata.RequestID
		}
	case msgUtteranceEnd:
		m.LastWordEnd = w.LastWordEnd
	case msgError:
		m.Code = w.Code
		m.Description = firstNonEmpty(w.Description, w.Message)
	}
	return m, nil
}

// typeLabel bounds the metric label to the known types.
func typeLabel(t string) string {
	switch t {
	case msgResults, msgUtteranceEnd, msgSpeechStarted, msgMetadata, msgError:
		return t
	}
	return msgOther
}
