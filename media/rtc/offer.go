package rtc

import (
	"strings"

	"github.com/pion/sdp/v3"
)

// MaxOfferBytes bounds an offer: a browser's audio-only offer is a few
// KiB; this leaves room for many candidates and extensions.
const MaxOfferBytes = 32 << 10

// CheckOffer reports whether offer (untrusted SDP from a WHEP player) is one
// this server can answer: SDP that pion parses, with an audio section, not
// rejected (port 0), that may receive (recvonly or sendrecv, RFC 8866
// section 6.7) and offers PCMU (static payload type 0 or an rtpmap naming
// PCMU/8000); two such sections when sides asks for two tracks, since an
// answer cannot add sections (RFC 3264 section 6). Otherwise it returns an
// *OfferError saying what is missing.
func CheckOffer(offer string, sides bool) error {
	usable, err := pcmuSections(offer, "sendonly")
	switch {
	case err != nil:
		return err
	case usable == 0:
		return &OfferError{Reason: "the offer has no audio section that receives PCMU"}
	case sides && usable < 2:
		return &OfferError{Reason: "two tracks (tracks=sides) need an offer with two audio sections that receive PCMU"}
	}
	return nil
}

// CheckTalkOffer reports whether offer (untrusted SDP from a WHIP client)
// is a microphone this server can receive: one audio section, not
// rejected, that sends (sendonly or sendrecv) and offers PCMU. Otherwise
// it returns an *OfferError saying what is wrong.
func CheckTalkOffer(offer string) error {
	usable, err := pcmuSections(offer, "recvonly")
	switch {
	case err != nil:
		return err
	case usable == 0:
		return &OfferError{Reason: "the offer has no audio section that sends PCMU"}
	case usable > 1:
		return &OfferError{Reason: "the offer must send one audio track, the microphone"}
	}
	return nil
}

// pcmuSections parses offer and counts its audio sections that offer
// PCMU, are not rejected (port 0) and whose direction (RFC 8866 section
// 6.7) is neither inactive nor wrong.
func pcmuSections(offer, wrong string) (int, error) {
	if strings.TrimSpace(offer) == "" {
		return 0, &OfferError{Reason: "the offer is empty"}
	}
	if len(offer) > MaxOfferBytes {
		return 0, &OfferError{Reason: "the offer is too large"}
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return 0, &OfferError{Reason: "the offer is not valid SDP", Err: err}
	}
	sessionDir := direction(d.Attributes)
	usable := 0
	for _, m := range d.MediaDescriptions {
		if m == nil || m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue
		}
		dir := direction(m.Attributes)
		if dir == "" {
			dir = sessionDir
		}
		if dir == wrong || dir == "inactive" {
			continue
		}
		if offersPCMU(m) {
			usable++
		}
	}
	return usable, nil
}

// direction is the direction attribute among attrs, "" when none.
func direction(attrs []sdp.Attribute) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "recvonly", "sendonly", "inactive":
			return a.Key
		}
	}
	return ""
}

// offersPCMU: payload type 0 is PCMU by static assignment (RFC 3551 table
// 4); a dynamic one may name it in an rtpmap.
func offersPCMU(m *sdp.MediaDescription) bool {
	pcmu := make(map[string]bool)
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, ok := strings.Cut(a.Value, " ")
		if ok && strings.HasPrefix(strings.ToUpper(enc), "PCMU/8000") {
			pcmu[pt] = true
		}
	}
	for _, f := range m.MediaName.Formats {
		if f == "0" || pcmu[f] {
			return true
		}
	}
	return false
}
