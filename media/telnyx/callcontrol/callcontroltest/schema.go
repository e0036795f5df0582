package callcontroltest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// kind is what a body field must hold.
type kind int

const (
	kindString kind = iota
	kindBool
	kindInt
	kindWSURL
	kindHTTPURL
	kindBase64
	kindEnum
	kindNameValues
	kindAddress
)

type field struct {
	kind     kind
	enum     []string
	min, max int
	required bool
}

var (
	streamFields = map[string]field{
		"stream_url":                       {kind: kindWSURL},
		"stream_track":                     {kind: kindEnum, enum: []string{"inbound_track", "outbound_track", "both_tracks"}},
		"stream_codec":                     {kind: kindEnum, enum: []string{"PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16", "default"}},
		"stream_bidirectional_mode":        {kind: kindEnum, enum: []string{"mp3", "rtp"}},
		"stream_bidirectional_codec":       {kind: kindEnum, enum: []string{"PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16"}},
		"stream_bidirectional_target_legs": {kind: kindEnum, enum: []string{"both", "self", "opposite"}},
		"send_silence_when_idle":           {kind: kindBool},
	}
	commonFields = map[string]field{
		"client_state": {kind: kindBase64},
		"command_id":   {kind: kindString},
	}
	// schemas lists, per action, the body fields of docs/protocols/telnyx.md section 3.
	schemas = map[string]map[string]field{
		"answer": merge(streamFields, map[string]field{
			"webhook_url":        {kind: kindHTTPURL},
			"webhook_url_method": {kind: kindEnum, enum: []string{"POST", "GET"}},
			"preferred_codecs":   {kind: kindString},
		}),
		"streaming_start": merge(streamFields, map[string]field{
			"stream_bidirectional_sampling_rate": {kind: kindEnum, enum: []string{"8000", "16000", "22050", "24000", "48000"}},
			"stream_auth_token":                  {kind: kindString},
			"custom_parameters":                  {kind: kindNameValues},
		}),
		"streaming_stop": {
			"stream_id": {kind: kindString},
		},
		"transfer": {
			"to":                          {kind: kindAddress, required: true},
			"from":                        {kind: kindAddress},
			"from_display_name":           {kind: kindString},
			"timeout_secs":                {kind: kindInt, min: 5, max: 600},
			"time_limit_secs":             {kind: kindInt, min: 1, max: 14400},
			"audio_url":                   {kind: kindHTTPURL},
			"media_name":                  {kind: kindString},
			"early_media":                 {kind: kindBool},
			"target_leg_client_state":     {kind: kindBase64},
			"webhook_url":                 {kind: kindHTTPURL},
			"answering_machine_detection": {kind: kindString},
		},
		"hangup": {
			"custom_headers": {kind: kindNameValues},
		},
	}
	e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
)

func merge(ms ...map[string]field) map[string]field {
	out := map[string]field{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// problem is one invalid field: its JSON pointer and what is wrong.
type problem struct {
	pointer, detail string
}

// check validates body against the action's schema and returns every problem.
func check(action string, body map[string]json.RawMessage) []problem {
	schema := merge(commonFields, schemas[action])
	var out []problem
	for name, raw := range body {
		f, ok := schema[name]
		if !ok {
			out = append(out, problem{"/" + name, "unknown field"})
			continue
		}
		if d := f.check(raw); d != "" {
			out = append(out, problem{"/" + name, d})
		}
	}
	for name, f := range schema {
		if _, ok := body[name]; f.required && !ok {
			out = append(out, problem{"/" + name, "is required"})
		}
	}
	slices.SortFunc(out, func(a, b problem) int { return strings.Compare(a.pointer, b.pointer) })
	return out
}

func (f field) check(raw json.RawMessage) string {
	switch f.kind {
	case kindBool:
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return "must be a boolean"
		}
		return ""
	case kindInt:
		var n int
		if json.Unmarshal(raw, &n) != nil {
			return "must be an integer"
		}
		if n < f.min || n > f.max {
			return fmt.Sprintf("must be between %d and %d", f.min, f.max)
		}
		return ""
	case kindNameValues:
		var nv []struct {
			Name  *string `json:"name"`
			Value *string `json:"value"`
		}
		if json.Unmarshal(raw, &nv) != nil {
			return "must be an array of {name, value} strings"
		}
		for _, p := range nv {
			if p.Name == nil || *p.Name == "" || p.Value == nil {
				return "every entry needs a name and a value"
			}
		}
		return ""
	case kindEnum:
		// Numbers in an enum (sampling rate) are compared as their text.
		var n json.Number
		if json.Unmarshal(raw, &n) == nil && slices.Contains(f.enum, n.String()) {
			return ""
		}
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "must be a string"
	}
	switch f.kind {
	case kindEnum:
		if !slices.Contains(f.enum, s) {
			return "must be one of " + strings.Join(f.enum, ", ")
		}
	case kindWSURL:
		return checkURL(s, "ws", "wss")
	case kindHTTPURL:
		return checkURL(s, "http", "https")
	case kindBase64:
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return "must be base64"
		}
	case kindAddress:
		l := strings.ToLower(s)
		if !e164.MatchString(s) && !strings.HasPrefix(l, "sip:") && !strings.HasPrefix(l, "sips:") {
			return "must be an E.164 number or a SIP URI"
		}
	}
	return ""
}

func checkURL(s string, schemes ...string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || !slices.Contains(schemes, u.Scheme) {
		return "must be an absolute " + strings.Join(schemes, " or ") + " URL"
	}
	return ""
}
