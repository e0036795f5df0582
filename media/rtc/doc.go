// Package rtc lets supervisors listen to live calls over WebRTC: one shared
// pion/webrtc API answering PCMU only on one UDP port, a Monitor per
// listened call that turns the call's audio into RTP tracks written once
// for all its listeners, and a Listener per browser (a PeerConnection).
// It speaks no HTTP and knows no users: control/monitor maps WHEP onto it.
// docs/protocols/webrtc.md sets out the standards it follows.
package rtc
