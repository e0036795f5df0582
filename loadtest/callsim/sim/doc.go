// Package sim places simulated phone calls against an IACE media server, speaking
// the Telnyx media-stream protocol as Telnyx does, and measures how the server
// answers: reply and barge-in latency, outbound jitter and underruns, failures.
//
// Each call sends connected and start, then a 20 ms PCMU frame every 20 ms for
// its whole length (silence, or a recorded line of its script while the caller
// speaks), keeps a virtual playout queue of the audio it receives, echoes the
// server's marks when the audio before them has played, honours clear, and
// ends with stop. A few sender goroutines (shards) tick on a drift-free 20 ms
// schedule for all calls; each connection has one reader goroutine.
//
// Run is the entry point, for the callsim command and for end-to-end tests
// that drive a server in-process:
//
//	srv := httptest.NewServer(handler) // serves /media/telnyx
//	defer srv.Close()
//	rep, err := sim.Run(ctx, sim.Config{
//		URL:     "ws" + strings.TrimPrefix(srv.URL, "http") + "/media/telnyx",
//		Calls:   3,
//		BargeIn: 1, // every call speaks over one reply
//	})
//	if err != nil || rep.Failed() { ... }
//	for _, c := range rep.Calls {
//		// c.Greeting, c.Turns[i].Answered, c.Turns[i].ReplyLatency,
//		// c.Turns[i].Cleared (barge-in lines), c.Outcome, c.EndedBy
//	}
//
// The server learns what the caller "said" from start.custom_parameters
// ["sim_script"]: the lines of the call, in order, joined with "|".
package sim
