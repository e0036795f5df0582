package rtc

import (
	"errors"
	"strings"
	"testing"
)

// browserOffer is an offer as a browser makes it for one recvonly audio
// transceiver (Chromium's codec list; addresses and keys made up).
const browserOffer = `v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=extmap-allow-mixed
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0 network-id 1
a=ice-ufrag:ZmVr
a=ice-pwd:bm90LWEtcmVhbC1wYXNzd29yZC0w
a=ice-options:trickle
a=fingerprint:sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04:BB:05:2F:70:9F:04:A9:0E:05:E9:26:33:E8:70:88:A2
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=recvonly
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
`

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestCheckOffer(t *testing.T) {
	_, section, _ := strings.Cut(browserOffer, "m=audio")
	two := browserOffer + "m=audio" + strings.Replace(section, "a=mid:0", "a=mid:1", 1)
	for _, tc := range []struct {
		name  string
		offer string
		sides bool
		ok    bool
	}{
		{"a browser's recvonly audio offer", browserOffer, false, true},
		{"the same with CRLF line ends", crlf(browserOffer), false, true},
		{"sendrecv is fine too", strings.Replace(browserOffer, "a=recvonly", "a=sendrecv", 1), false, true},
		{"PCMU under a dynamic payload type", strings.Replace(strings.Replace(browserOffer, " 0 8 13", " 96 8 13", 1), "a=rtpmap:0 PCMU", "a=rtpmap:96 PCMU", 1), false, true},
		{"two audio sections give two tracks", two, true, true},
		{"empty", "", false, false},
		{"not SDP", "hello, I would like to listen", false, false},
		{"JSON", `{"type":"offer","sdp":"v=0"}`, false, false},
		{"no PCMU", strings.Replace(strings.Replace(browserOffer, " 0 8 13", " 8 13", 1), "a=rtpmap:0 PCMU/8000\n", "", 1), false, false},
		{"sendonly audio cannot receive", strings.Replace(browserOffer, "a=recvonly", "a=sendonly", 1), false, false},
		{"inactive audio", strings.Replace(browserOffer, "a=recvonly", "a=inactive", 1), false, false},
		{"a rejected section", strings.Replace(browserOffer, "m=audio 9 ", "m=audio 0 ", 1), false, false},
		{"video only", strings.Replace(browserOffer, "m=audio", "m=video", 1), false, false},
		{"sides with one audio section", browserOffer, true, false},
		{"too large", browserOffer + "a=x:" + strings.Repeat("y", MaxOfferBytes) + "\n", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckOffer(tc.offer, tc.sides)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckOffer: %v, want ok %v", err, tc.ok)
			}
			var oe *OfferError
			if err != nil && (!errors.As(err, &oe) || !errors.Is(err, ErrBadOffer) || oe.Reason == "") {
				t.Errorf("error %v: want an *OfferError with a reason", err)
			}
		})
	}
}

// FuzzCheckOffer: whatever a player posts, checking it neither panics nor
// passes an offer with no audio section.
func FuzzCheckOffer(f *testing.F) {
	f.Add(browserOffer, false)
	f.Add(crlf(browserOffer), true)
	f.Add("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n", false)
	f.Add("", false)
	f.Fuzz(func(t *testing.T, offer string, sides bool) {
		if err := CheckOffer(offer, sides); err == nil && !strings.Contains(offer, "m=audio") {
			t.Errorf("an offer without an audio section passed")
		}
	})
}
