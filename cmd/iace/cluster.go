package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/media/telnyx/callcontrol"
	"github.com/iace/iace/session/cluster"
)

// telnyxStreams opens and stops calls' media streams through Call Control:
// how a draining node moves its calls to the others (session/cluster).
type telnyxStreams struct {
	cc   *callcontrol.Client
	base *url.URL // the deployment's public media stream URL
}

// StartStream asks Telnyx for a new stream of the call, as the answer asked
// for the first: inbound audio in, PCMU back to the caller's leg.
// Telnyx's refusal of a second stream (a 422 that is not "call ended"; the
// guide documents the limit, not its error code) is reported as
// cluster.ErrStreamRefused, so the move stops the old stream first.
func (t telnyxStreams) StartStream(ctx context.Context, callControlID, token string) error {
	u := *t.base
	u.RawQuery = url.Values{telnyx.TokenParam: {token}}.Encode()
	err := t.cc.StreamingStart(ctx, callControlID, callcontrol.StreamingStartParams{
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
	if ae, ok := errors.AsType[*callcontrol.APIError](err); ok && ae.Status == http.StatusUnprocessableEntity && !ae.CallEnded() {
		return fmt.Errorf("%w: %w", cluster.ErrStreamRefused, err)
	}
	return err
}

// StopStream stops one stream of the call.
func (t telnyxStreams) StopStream(ctx context.Context, callControlID, streamID string) error {
	return t.cc.StreamingStop(ctx, callControlID, callcontrol.StreamingStopParams{StreamID: streamID, CommandID: "release-" + rand.Text()[:16]})
}
