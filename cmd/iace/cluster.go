package main

import (
	"context"
	"crypto/rand"
	"net/url"

	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/media/telnyx/callcontrol"
)

// telnyxStreams opens and stops calls' media streams through Call Control:
// how a draining node moves its calls to the others (session/cluster).
type telnyxStreams struct {
	cc   *callcontrol.Client
	base *url.URL // the deployment's public media stream URL
}

// StartStream asks Telnyx for a new stream of the call, as the answer asked
// for the first: inbound audio in, PCMU back to the caller's leg.
func (t telnyxStreams) StartStream(ctx context.Context, callControlID, token string) error {
	u := *t.base
	u.RawQuery = url.Values{telnyx.TokenParam: {token}}.Encode()
	return t.cc.StreamingStart(ctx, callControlID, callcontrol.StreamingStartParams{
		StreamParams: callcontrol.StreamParams{
			StreamURL:               u.String(),
			StreamTrack:             callcontrol.TrackInbound,
			BidirectionalMode:       callcontrol.ModeRTP,
			BidirectionalCodec:      callcontrol.CodecPCMU,
			BidirectionalTargetLegs: callcontrol.LegsSelf,
		},
		// Telnyx drops a command id it has seen on the call: each move is
		// a new command.
		CommandID: "move-" + rand.Text()[:16],
	})
}

// StopStream stops one stream of the call.
func (t telnyxStreams) StopStream(ctx context.Context, callControlID, streamID string) error {
	return t.cc.StreamingStop(ctx, callControlID, callcontrol.StreamingStopParams{StreamID: streamID, CommandID: "release-" + rand.Text()[:16]})
}
