package callcontrol

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Actions, as they appear in the path /calls/{call_control_id}/actions/{action}
// and in the operation metric label.
const (
	ActionAnswer         = "answer"
	ActionStreamingStart = "streaming_start"
	ActionStreamingStop  = "streaming_stop"
	ActionTransfer       = "transfer"
	ActionHangup         = "hangup"
)

// Stream parameter values (docs/protocols/telnyx.md section 2).
const (
	TrackInbound  = "inbound_track"
	TrackOutbound = "outbound_track"
	TrackBoth     = "both_tracks"

	ModeRTP = "rtp"
	ModeMP3 = "mp3"

	CodecPCMU  = "PCMU"
	CodecPCMA  = "PCMA"
	CodecG722  = "G722"
	CodecOPUS  = "OPUS"
	CodecAMRWB = "AMR-WB"
	CodecL16   = "L16"
	// CodecDefault is stream_codec only: Telnyx sends the call's own codec.
	CodecDefault = "default"

	LegsSelf     = "self"
	LegsOpposite = "opposite"
	LegsBoth     = "both"
)

// Limits on what the client sends.
const (
	// MaxCallControlIDLen caps the id put in the path. Telnyx ids are about 70
	// bytes ("v3:..."); the cap only guards against garbage.
	MaxCallControlIDLen = 256
	// MaxCommandIDLen caps a caller-supplied command_id.
	MaxCommandIDLen = 256
	// maxClientStateLen caps client_state before encoding: it rides in every
	// later webhook, so it should stay small.
	maxClientStateLen = 4096
)

var (
	tracks      = []string{TrackInbound, TrackOutbound, TrackBoth}
	modes       = []string{ModeRTP, ModeMP3}
	bidiCodecs  = []string{CodecPCMU, CodecPCMA, CodecG722, CodecOPUS, CodecAMRWB, CodecL16}
	inCodecs    = []string{CodecPCMU, CodecPCMA, CodecG722, CodecOPUS, CodecAMRWB, CodecL16, CodecDefault}
	legs        = []string{LegsSelf, LegsOpposite, LegsBoth}
	sampleRates = []int{8000, 16000, 22050, 24000, 48000}
	e164        = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
)

// StreamParams are the media-stream fields shared by answer and
// streaming_start (docs/protocols/telnyx.md section 2). Zero values take the defaults named
// on each field.
type StreamParams struct {
	// StreamURL is the ws:// or wss:// URL Telnyx opens the media WebSocket to.
	StreamURL string
	// StreamTrack is which audio Telnyx sends: inbound_track (default),
	// outbound_track or both_tracks.
	StreamTrack string
	// StreamCodec is the codec Telnyx sends; empty leaves Telnyx's "default"
	// (the call's codec).
	StreamCodec string
	// BidirectionalMode is rtp (default: raw frames we can stream) or mp3.
	BidirectionalMode string
	// BidirectionalCodec is the codec we send in rtp mode; PCMU by default.
	BidirectionalCodec string
	// BidirectionalTargetLegs is which leg hears what we send: self (default),
	// opposite or both. It is always sent, because the documented default
	// (opposite, from the CLI) differs from what voice agents need on an
	// unbridged inbound leg (docs/protocols/telnyx.md section 2, "Target legs").
	BidirectionalTargetLegs string
	// SendSilenceWhenIdle asks Telnyx to generate silence when we send nothing.
	SendSilenceWhenIdle bool
}

// AnswerParams are the fields of the answer command. With StreamURL empty the
// call is answered without a media stream and no stream field is sent.
type AnswerParams struct {
	StreamParams
	// ClientState is opaque data Telnyx echoes in later webhooks; sent base64.
	ClientState []byte
	// CommandID overrides the default "answer-<call_control_id>".
	CommandID string
	// WebhookURL and WebhookURLMethod (POST or GET) redirect this call's
	// webhooks.
	WebhookURL       string
	WebhookURLMethod string
}

// CustomParameter is one name/value pair Telnyx passes to the media WebSocket
// in the start frame.
type CustomParameter struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// StreamingStartParams are the fields of streaming_start.
type StreamingStartParams struct {
	StreamParams
	// BidirectionalSamplingRate is 8000, 16000, 22050, 24000 or 48000; zero
	// leaves Telnyx's default (8000).
	BidirectionalSamplingRate int
	// StreamAuthToken is sent to the WebSocket so it can authenticate Telnyx.
	StreamAuthToken string
	// CustomParameters are passed to the WebSocket's start frame.
	CustomParameters []CustomParameter
	// ClientState is opaque data Telnyx echoes in later webhooks; sent base64.
	ClientState []byte
	// CommandID overrides the default "streaming_start-<call_control_id>".
	CommandID string
}

// StreamingStopParams are the fields of streaming_stop.
type StreamingStopParams struct {
	// StreamID stops one stream; empty stops every stream of the call.
	StreamID    string
	ClientState []byte
	// CommandID overrides the default "streaming_stop-<call_control_id>".
	CommandID string
}

// TransferParams are the fields of transfer.
type TransferParams struct {
	// To is required: an E.164 number (+15551234567) or a SIP URI (sip:...).
	To string
	// From is the caller id shown to the transfer target (E.164 or SIP URI);
	// empty keeps Telnyx's default.
	From            string
	FromDisplayName string
	// TimeoutSecs is how long the target rings, 5 to 600; zero leaves Telnyx's
	// default.
	TimeoutSecs int
	// TimeLimitSecs caps the transferred call's length; zero leaves the default.
	TimeLimitSecs int
	// AudioURL is played to the caller while the target rings.
	AudioURL string
	// TargetLegClientState is the client_state of the new leg; sent base64.
	TargetLegClientState []byte
	WebhookURL           string
	ClientState          []byte
	// CommandID overrides the default "transfer-<call_control_id>". A second,
	// deliberate transfer of the same call within 60 s needs its own id, or
	// Telnyx ignores it as a repeat.
	CommandID string
}

// CustomHeader is one SIP header sent with a hangup.
type CustomHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HangupParams are the fields of hangup.
type HangupParams struct {
	ClientState   []byte
	CustomHeaders []CustomHeader
	// CommandID overrides the default "hangup-<call_control_id>".
	CommandID string
}

// Wire bodies. Every field but command_id and the stream target legs is
// omitted when empty, so Telnyx applies its own default.

type streamBody struct {
	StreamURL               string `json:"stream_url,omitempty"`
	StreamTrack             string `json:"stream_track,omitempty"`
	StreamCodec             string `json:"stream_codec,omitempty"`
	BidirectionalMode       string `json:"stream_bidirectional_mode,omitempty"`
	BidirectionalCodec      string `json:"stream_bidirectional_codec,omitempty"`
	BidirectionalTargetLegs string `json:"stream_bidirectional_target_legs,omitempty"`
	SendSilenceWhenIdle     bool   `json:"send_silence_when_idle,omitempty"`
}

type answerBody struct {
	streamBody
	ClientState      string `json:"client_state,omitempty"`
	CommandID        string `json:"command_id"`
	WebhookURL       string `json:"webhook_url,omitempty"`
	WebhookURLMethod string `json:"webhook_url_method,omitempty"`
}

type streamingStartBody struct {
	streamBody
	BidirectionalSamplingRate int               `json:"stream_bidirectional_sampling_rate,omitempty"`
	StreamAuthToken           string            `json:"stream_auth_token,omitempty"`
	CustomParameters          []CustomParameter `json:"custom_parameters,omitempty"`
	ClientState               string            `json:"client_state,omitempty"`
	CommandID                 string            `json:"command_id"`
}

type streamingStopBody struct {
	StreamID    string `json:"stream_id,omitempty"`
	ClientState string `json:"client_state,omitempty"`
	CommandID   string `json:"command_id"`
}

type transferBody struct {
	To                   string `json:"to"`
	From                 string `json:"from,omitempty"`
	FromDisplayName      string `json:"from_display_name,omitempty"`
	TimeoutSecs          int    `json:"timeout_secs,omitempty"`
	TimeLimitSecs        int    `json:"time_limit_secs,omitempty"`
	AudioURL             string `json:"audio_url,omitempty"`
	TargetLegClientState string `json:"target_leg_client_state,omitempty"`
	WebhookURL           string `json:"webhook_url,omitempty"`
	ClientState          string `json:"client_state,omitempty"`
	CommandID            string `json:"command_id"`
}

type hangupBody struct {
	ClientState   string         `json:"client_state,omitempty"`
	CustomHeaders []CustomHeader `json:"custom_headers,omitempty"`
	CommandID     string         `json:"command_id"`
}

// problems collects every invalid argument of one command, so the caller sees
// them all at once.
type problems []error

func (p *problems) addf(format string, args ...any) {
	*p = append(*p, fmt.Errorf("%w: "+format, append([]any{ErrInvalidParams}, args...)...))
}

func (p problems) err() error { return errors.Join(p...) }

func oneOf[T comparable](p *problems, field string, v T, allowed []T) {
	if !slices.Contains(allowed, v) {
		p.addf("%s: %v is not one of %v", field, v, allowed)
	}
}

// checkCallControlID validates the id that goes in the path.
func checkCallControlID(p *problems, ccid string) {
	switch {
	case ccid == "":
		p.addf("call_control_id is empty")
	case len(ccid) > MaxCallControlIDLen:
		p.addf("call_control_id is longer than %d bytes", MaxCallControlIDLen)
	case strings.ContainsFunc(ccid, isControlOrSpace):
		p.addf("call_control_id has spaces or control characters")
	}
}

// commandID returns the caller's id or the deterministic default, so that a
// redelivered webhook replays the same command and Telnyx drops the repeat
// (it dedupes command_id per call for 60 s: docs/protocols/telnyx.md section 3).
func commandID(p *problems, given, action, ccid string) string {
	if given == "" {
		return action + "-" + ccid
	}
	if len(given) > MaxCommandIDLen || strings.ContainsFunc(given, isControlOrSpace) {
		p.addf("command_id is longer than %d bytes or has spaces or control characters", MaxCommandIDLen)
	}
	return given
}

func clientState(p *problems, field string, b []byte) string {
	if len(b) > maxClientStateLen {
		p.addf("%s is longer than %d bytes", field, maxClientStateLen)
	}
	if len(b) == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

func isControlOrSpace(r rune) bool { return r <= 0x20 || r == 0x7f }

// checkURL accepts an absolute URL with one of the schemes and a host.
func checkURL(p *problems, field, raw string, schemes ...string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || !slices.Contains(schemes, u.Scheme) {
		p.addf("%s is not an absolute %s URL", field, strings.Join(schemes, " or "))
	}
}

// checkAddress accepts an E.164 number or a SIP URI. The value is a phone
// number or a SIP identity: it is never echoed into the error.
func checkAddress(p *problems, field, v string) {
	if e164.MatchString(v) {
		return
	}
	lower := strings.ToLower(v)
	rest, ok := strings.CutPrefix(lower, "sip:")
	if !ok {
		rest, ok = strings.CutPrefix(lower, "sips:")
	}
	if !ok || rest == "" || len(v) > 256 || strings.ContainsFunc(v, isControlOrSpace) {
		p.addf("%s is neither an E.164 number (+15551234567) nor a SIP URI (sip:user@host)", field)
	}
}

// stream fills the stream fields with defaults and validates them.
func (s StreamParams) body(p *problems) streamBody {
	b := streamBody{
		StreamURL:               s.StreamURL,
		StreamTrack:             orDefault(s.StreamTrack, TrackInbound),
		StreamCodec:             s.StreamCodec,
		BidirectionalMode:       orDefault(s.BidirectionalMode, ModeRTP),
		BidirectionalCodec:      s.BidirectionalCodec,
		BidirectionalTargetLegs: orDefault(s.BidirectionalTargetLegs, LegsSelf),
		SendSilenceWhenIdle:     s.SendSilenceWhenIdle,
	}
	checkURL(p, "stream_url", s.StreamURL, "wss", "ws")
	oneOf(p, "stream_track", b.StreamTrack, tracks)
	if b.StreamCodec != "" {
		oneOf(p, "stream_codec", b.StreamCodec, inCodecs)
	}
	oneOf(p, "stream_bidirectional_mode", b.BidirectionalMode, modes)
	oneOf(p, "stream_bidirectional_target_legs", b.BidirectionalTargetLegs, legs)
	switch {
	case b.BidirectionalMode == ModeRTP:
		// The codec is case-sensitive and meaningful in rtp mode only.
		b.BidirectionalCodec = orDefault(b.BidirectionalCodec, CodecPCMU)
		oneOf(p, "stream_bidirectional_codec", b.BidirectionalCodec, bidiCodecs)
	case b.BidirectionalCodec != "":
		p.addf("stream_bidirectional_codec applies to rtp mode only")
	}
	return b
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (a AnswerParams) body(ccid string) (answerBody, error) {
	var p problems
	checkCallControlID(&p, ccid)
	b := answerBody{
		ClientState:      clientState(&p, "client_state", a.ClientState),
		CommandID:        commandID(&p, a.CommandID, ActionAnswer, ccid),
		WebhookURL:       a.WebhookURL,
		WebhookURLMethod: a.WebhookURLMethod,
	}
	if a.StreamURL != "" {
		b.streamBody = a.StreamParams.body(&p)
	} else if a.StreamParams != (StreamParams{}) {
		p.addf("stream parameters given without stream_url")
	}
	if a.WebhookURL != "" {
		checkURL(&p, "webhook_url", a.WebhookURL, "https", "http")
	}
	if a.WebhookURLMethod != "" {
		oneOf(&p, "webhook_url_method", a.WebhookURLMethod, []string{"POST", "GET"})
	}
	return b, p.err()
}

func (s StreamingStartParams) body(ccid string) (streamingStartBody, error) {
	var p problems
	checkCallControlID(&p, ccid)
	b := streamingStartBody{
		streamBody:                s.StreamParams.body(&p),
		BidirectionalSamplingRate: s.BidirectionalSamplingRate,
		StreamAuthToken:           s.StreamAuthToken,
		CustomParameters:          s.CustomParameters,
		ClientState:               clientState(&p, "client_state", s.ClientState),
		CommandID:                 commandID(&p, s.CommandID, ActionStreamingStart, ccid),
	}
	if b.BidirectionalSamplingRate != 0 {
		oneOf(&p, "stream_bidirectional_sampling_rate", b.BidirectionalSamplingRate, sampleRates)
	}
	for i, c := range s.CustomParameters {
		if c.Name == "" {
			p.addf("custom_parameters[%d]: name is empty", i)
		}
	}
	return b, p.err()
}

func (s StreamingStopParams) body(ccid string) (streamingStopBody, error) {
	var p problems
	checkCallControlID(&p, ccid)
	b := streamingStopBody{
		StreamID:    s.StreamID,
		ClientState: clientState(&p, "client_state", s.ClientState),
		CommandID:   commandID(&p, s.CommandID, ActionStreamingStop, ccid),
	}
	return b, p.err()
}

func (t TransferParams) body(ccid string) (transferBody, error) {
	var p problems
	checkCallControlID(&p, ccid)
	b := transferBody{
		To:                   t.To,
		From:                 t.From,
		FromDisplayName:      t.FromDisplayName,
		TimeoutSecs:          t.TimeoutSecs,
		TimeLimitSecs:        t.TimeLimitSecs,
		AudioURL:             t.AudioURL,
		TargetLegClientState: clientState(&p, "target_leg_client_state", t.TargetLegClientState),
		WebhookURL:           t.WebhookURL,
		ClientState:          clientState(&p, "client_state", t.ClientState),
		CommandID:            commandID(&p, t.CommandID, ActionTransfer, ccid),
	}
	if t.To == "" {
		p.addf("to is required")
	} else {
		checkAddress(&p, "to", t.To)
	}
	if t.From != "" {
		checkAddress(&p, "from", t.From)
	}
	if t.TimeoutSecs != 0 && (t.TimeoutSecs < 5 || t.TimeoutSecs > 600) {
		p.addf("timeout_secs %d is outside 5-600", t.TimeoutSecs)
	}
	if t.TimeLimitSecs < 0 || t.TimeLimitSecs > 14400 {
		p.addf("time_limit_secs %d is outside 1-14400", t.TimeLimitSecs)
	}
	if t.AudioURL != "" {
		checkURL(&p, "audio_url", t.AudioURL, "https", "http")
	}
	if t.WebhookURL != "" {
		checkURL(&p, "webhook_url", t.WebhookURL, "https", "http")
	}
	return b, p.err()
}

func (h HangupParams) body(ccid string) (hangupBody, error) {
	var p problems
	checkCallControlID(&p, ccid)
	b := hangupBody{
		ClientState:   clientState(&p, "client_state", h.ClientState),
		CustomHeaders: h.CustomHeaders,
		CommandID:     commandID(&p, h.CommandID, ActionHangup, ccid),
	}
	for i, c := range h.CustomHeaders {
		if c.Name == "" {
			p.addf("custom_headers[%d]: name is empty", i)
		}
	}
	return b, p.err()
}
